#!/bin/sh
# Stop before `kubectl diff` / `kubectl apply` when the cluster does not serve a kind the rendered
# manifests use, with a message naming the fix, instead of apply's "no matches for kind".
#
#   k8s/check-kinds.sh manifests.yaml     (the output of `kubectl kustomize k8s/overlays/<env>`)
#
# The deploy workflow runs it. Each distinct apiVersion and kind is looked up with
# `kubectl explain KIND --api-version=APIVERSION`, which fails for a kind the API server does not
# know. Exit codes: 1 a kind is missing, 2 bad input.
set -eu

[ $# -eq 1 ] && [ -f "$1" ] || { echo "usage: $0 <rendered manifests.yaml>" >&2; exit 2; }

# Top-level `apiVersion:` and `kind:` lines, as kustomize writes each document.
kinds=$(awk '/^apiVersion:/ { version = $2 } /^kind:/ { print version, $2 }' "$1" | sort -u)
missing=""
for pair in $(echo "$kinds" | tr ' ' '/'); do
  kind=${pair##*/}
  version=${pair%/*}
  if ! kubectl explain "$kind" --api-version="$version" >/dev/null 2>&1; then
    missing="$missing $version $kind,"
  fi
done
if [ -n "$missing" ]; then
  echo "error: the cluster does not serve${missing%,}." >&2
  case "$missing" in
    *monitoring.coreos.com*)
      echo "ServiceMonitor and PrometheusRule come with the Prometheus Operator: install it (e.g. the" >&2
      echo "kube-prometheus-stack Helm chart) in this cluster, or drop the monitoring objects: delete the" >&2
      echo "components: block of each k8s/overlays/<env>/kustomization.yaml (docs/monitoring.md)." >&2
      ;;
  esac
  exit 1
fi
echo "every kind of $1 is served by the cluster"
