#!/usr/bin/env bash
# Debian packages the full test suite needs (container builds, local registry, kustomize, node,
# Prometheus tools).
# Idempotent; run as root (CI) or with sudo. Skips quietly when everything is present.
set -euo pipefail
APT_PACKAGES=(
  git
  make
  podman
  runc
  debootstrap
  docker-registry
  kubectl
  wrk  # load generator of benchmarks/bench_serve.py
  prometheus  # promtool, and the server of the alerting chain test (tests/test_monitoring.py)
  prometheus-alertmanager  # amtool, and the Alertmanager of that chain
)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# node and npm install the Argo CD schema validators (tests/argocd); any install of them will do
# (GitHub's runners have one), else Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
