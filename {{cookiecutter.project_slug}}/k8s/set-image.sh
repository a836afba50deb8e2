#!/bin/sh
# Point an overlay at an image by digest: k8s/set-image.sh k8s/overlays/<env> <name>@sha256:<digest>
# The release workflow runs it before `kubectl apply -k` and commits the result (GitOps), so the
# repository always says which image runs where. To roll back by hand: run it with an older
# digest (see `git log -p k8s/overlays/<env>/image.yaml`), apply, and commit.
set -eu
if [ $# -ne 2 ]; then
  echo "usage: $0 k8s/overlays/<env> <image>@sha256:<64 hex digits>" >&2
  exit 2
fi
overlay=${1%/}
ref=$2
if ! printf '%s\n' "$ref" | grep -Eq '^[a-z0-9][a-z0-9./_:-]*@sha256:[0-9a-f]{64}$'; then
  echo "error: '$ref' is not an image by digest (<registry>/<name>@sha256:<64 hex digits>)" >&2
  exit 2
fi
if [ ! -f "$overlay/kustomization.yaml" ]; then
  echo "error: $overlay has no kustomization.yaml: give an overlay folder such as k8s/overlays/staging" >&2
  exit 2
fi
env=$(basename "$overlay")
cat > "$overlay/image.yaml" <<YAML
# The image deployed to $env, by digest. Written by k8s/set-image.sh (the release workflow runs it
# and commits the result: GitOps). Roll back by setting an older digest from this file's history.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: model-server
spec:
  template:
    spec:
      containers:
        - name: server
          image: $ref
YAML
echo "$overlay/image.yaml: $ref"
