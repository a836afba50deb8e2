#!/bin/sh
# The image an overlay runs, as kustomize renders it:
#
#   k8s/show-image.sh k8s/overlays/<env>     prints <name>@sha256:<digest>
#
# `kubectl kustomize` renders the overlay; kubectl's JSONPath reads the server container's image
# (`patch --local` with an empty patch changes nothing and contacts no cluster). The promotion pull
# requests set that image with `kustomize edit set image <name>@sha256:<digest>` in the overlay
# folder (docs/kubernetes.md). Exit codes: 2 bad input or an image not by digest, 3 nothing
# promoted to that environment yet (the all-zero placeholder digest).
set -eu

fail() {
  code=$1
  shift
  echo "error: $*" >&2
  exit "$code"
}

[ $# -eq 1 ] || { echo "usage: $0 k8s/overlays/<env>" >&2; exit 2; }
overlay=${1%/}
env=$(basename "$overlay")
if [ ! -f "$overlay/kustomization.yaml" ]; then
  fail 2 "$overlay has no kustomization.yaml: give an overlay folder such as k8s/overlays/staging"
fi
manifests=$(kubectl kustomize "$overlay")
image=$(printf '%s\n' "$manifests" | kubectl patch --local -f - --type merge -p '{}' \
  -o jsonpath='{.spec.template.spec.containers[?(@.name=="server")].image}')
case $image in
  *@sha256:0000000000000000000000000000000000000000000000000000000000000000)
    fail 3 "nothing promoted to $env yet: $overlay/kustomization.yaml holds the all-zero placeholder digest (merge a promotion pull request first)" ;;
esac
if ! printf '%s\n' "$image" | grep -Eqx '[a-z0-9][a-z0-9./_:-]*@sha256:[0-9a-f]{64}'; then
  fail 2 "$overlay renders the server image '$image', not <name>@sha256:<64 hex digits>: set it with kustomize edit set image <name>@sha256:<digest> in $overlay"
fi
echo "$image"
