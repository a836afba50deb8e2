#!/bin/sh
# The image an overlay runs, by digest, in its kustomization.yaml `images:` field (kustomize's own
# field, as `kustomize edit set image` writes it; no kustomize binary needed).
#
#   k8s/set-image.sh k8s/overlays/<env> <name>@sha256:<64 hex>   set it (the promotion PRs run this)
#   k8s/set-image.sh --show k8s/overlays/<env>                    print <name>@sha256:<digest>
#
# `name:` stays the image name of k8s/base/deployment.yaml (what kustomize matches); `newName:` is
# written only when the reference names another image. Only the `images:` block is rewritten:
# everything else in the file, comments included, is kept. Exit codes: 2 bad input (nothing
# written), 3 (--show) nothing promoted to that environment yet.
set -eu

usage() {
  echo "usage: $0 k8s/overlays/<env> <image>@sha256:<64 hex digits>" >&2
  echo "       $0 --show k8s/overlays/<env>" >&2
  exit 2
}

fail() {
  code=$1
  shift
  echo "error: $*" >&2
  exit "$code"
}

show=false
if [ "${1:-}" = "--show" ]; then
  show=true
  shift
  [ $# -eq 1 ] || usage
else
  [ $# -eq 2 ] || usage
fi
overlay=${1%/}
file=$overlay/kustomization.yaml
env=$(basename "$overlay")
zeros=sha256:0000000000000000000000000000000000000000000000000000000000000000

if ! $show; then
  ref=$2
  if ! printf '%s\n' "$ref" | grep -Eq '^[a-z0-9][a-z0-9./_:-]*@sha256:[0-9a-f]{64}$'; then
    fail 2 "'$ref' is not an image by digest (<registry>/<name>@sha256:<64 hex digits>)"
  fi
fi
if [ ! -f "$file" ]; then
  fail 2 "$overlay has no kustomization.yaml: give an overlay folder such as k8s/overlays/staging"
fi

# The value of one key of the `images:` block (empty when absent); `-count` gives its entries.
images_value() {
  awk -v key="$1" -v quote="'" '
    /^images:/ { inblock = 1; next }
    inblock && /^[^ \t-]/ { inblock = 0 }
    inblock {
      line = $0
      if (line ~ /^[ \t]*-/) { entries++; sub(/^[ \t]*-[ \t]*/, "", line) } else sub(/^[ \t]*/, "", line)
      if (key != "-count" && index(line, key ":") == 1) {
        value = substr(line, length(key) + 2)
        sub(/^[ \t]+/, "", value); sub(/[ \t]+#.*$/, "", value); sub(/[ \t]+$/, "", value)
        gsub("^[\"" quote "]|[\"" quote "]$", "", value)
        print value
        exit
      }
    }
    END { if (key == "-count") print entries + 0 }
  ' "$file"
}

if grep -Eq '^images:[[:blank:]]*[^[:blank:]#]' "$file"; then
  fail 2 "$file: the images: field is written inline; write it as a block list (- name: ...) or remove it"
fi
entries=$(images_value -count)
if [ "$entries" -gt 1 ]; then
  fail 2 "$file: images: has $entries entries; this script manages one (edit the file by hand)"
fi
name=$(images_value name)
new_name=$(images_value newName)
digest=$(images_value digest)

if $show; then
  if [ "$entries" -eq 0 ] || [ -z "$name" ]; then
    fail 2 "$file has no images: entry: set one with $0 $overlay <image>@sha256:<digest>"
  fi
  if [ -z "$digest" ]; then
    fail 2 "$file: the images: entry has no digest: set one with $0 $overlay <image>@sha256:<digest>"
  fi
  if [ "$digest" = "$zeros" ]; then
    fail 3 "nothing promoted to $env yet: $file holds the all-zero placeholder digest (merge a promotion pull request first)"
  fi
  if ! printf '%s\n' "$digest" | grep -Eq '^sha256:[0-9a-f]{64}$'; then
    fail 2 "$file: digest '$digest' is not sha256:<64 hex digits>"
  fi
  echo "${new_name:-$name}@$digest"
  exit 0
fi

ref_name=${ref%@*}
ref_digest=${ref##*@}
last=${ref_name##*/}
case $last in
  *:*) ref_name=${ref_name%:*} ;; # a tag next to a digest is ignored by the runtime: drop it
esac
[ -n "$name" ] || name=$ref_name
block="images:\n- name: $name\n"
if [ "$ref_name" != "$name" ]; then
  block="$block  newName: $ref_name\n"
fi
block="$block  digest: $ref_digest"

tmp=$(mktemp "$overlay/.kustomization.yaml.XXXXXX")
trap 'rm -f "$tmp"' EXIT
awk -v block="$block" '
  /^images:/ { print block; inblock = 1; done = 1; next }
  inblock && /^[^ \t-]/ { inblock = 0 }
  !inblock { print }
  END { if (!done) print block }
' "$file" > "$tmp"
cat "$tmp" > "$file"
echo "$file: images: $name -> $ref_name@$ref_digest"
