#!/usr/bin/env bash
# What deploy.yml applied, recorded in GitHub's Deployments API
# (https://docs.github.com/en/rest/deployments/deployments and
#  https://docs.github.com/en/rest/deployments/statuses).
#
# Each apply of an overlay is one deployment: task "deploy:apply", ref = the commit applied,
# payload {"image": "<image>@sha256:<digest>"}; its statuses go in_progress, then success or
# failure. The `environment:` key of a job records deployments of its own (task "deploy"), which
# succeed even when the job only skipped (no cluster credentials): those are not counted here.
#
#   .github/deployments.sh create ENV IMAGE          print the id of a new in_progress deployment
#   .github/deployments.sh status ID STATE [TEXT]    add a status (success, failure, ...)
#   .github/deployments.sh last-applied ENV          print the commit of ENV's newest successful
#                                                    apply; nothing when there is none
#   .github/deployments.sh ran ENV IMAGE             exit 0 when an apply of IMAGE to ENV
#                                                    succeeded, 1 when none did
#   .github/deployments.sh outcome ENV COMMIT        print the state of the newest apply of
#                                                    COMMIT to ENV (success, failure, ...);
#                                                    "none" when it was not applied
#
# Needs GITHUB_API_URL, GITHUB_REPOSITORY and GH_TOKEN (a token with `deployments: read`, or
# `write` for create and status). Other exit codes: 2 bad usage, 3 the API refused or is
# unreachable (its answer is printed).
set -euo pipefail

TASK="deploy:apply"
# The newest 100 applies of an environment are looked at. The docs promise no order for either
# list, so both are sorted here by id (ids only grow).
PER_PAGE=100

usage() {
  sed -n '/^#   \.github/,/^#$/p' "$0" >&2
  exit 2
}

api() {
  local method=$1 path=$2
  shift 2
  local answer
  if ! answer=$(curl --silent --show-error --fail-with-body --request "$method" \
    --header "Authorization: Bearer $GH_TOKEN" \
    --header "Accept: application/vnd.github+json" \
    --header "X-GitHub-Api-Version: 2022-11-28" \
    "$@" "$GITHUB_API_URL/repos/$GITHUB_REPOSITORY/$path"); then
    echo "error: GitHub's Deployments API refused $method $path: $answer" >&2
    echo "(does the job have the 'deployments' permission?)" >&2
    exit 3
  fi
  printf '%s\n' "$answer"
}

# The state of a deployment: its newest status; "none" without one.
state_of() {
  api GET "deployments/$1/statuses?per_page=$PER_PAGE" | jq -r 'max_by(.id).state // "none"'
}

# The environment's applies, newest first.
applies_of() {
  api GET "deployments?environment=$1&task=$TASK&per_page=$PER_PAGE" | jq 'sort_by(-.id)'
}

[ $# -ge 1 ] || usage
: "${GITHUB_API_URL:?}" "${GITHUB_REPOSITORY:?}" "${GH_TOKEN:?}"
command=$1
shift
case "$command" in
  create)
    [ $# -eq 2 ] || usage
    body=$(jq -n --arg env "$1" --arg image "$2" --arg sha "${GITHUB_SHA:?}" --arg task "$TASK" '{
      ref: $sha, environment: $env, task: $task, payload: {image: $image},
      auto_merge: false, required_contexts: [],
      description: ("kubectl apply of k8s/overlays/" + $env + ": " + $image)
    }')
    id=$(api POST deployments --data "$body" | jq -r .id)
    api POST "deployments/$id/statuses" --data '{"state": "in_progress"}' > /dev/null
    echo "$id"
    ;;
  status)
    [ $# -ge 2 ] || usage
    log_url="${GITHUB_SERVER_URL:-https://github.com}/$GITHUB_REPOSITORY/actions/runs/${GITHUB_RUN_ID:-0}"
    body=$(jq -n --arg state "$2" --arg text "${3:-}" --arg log "$log_url" \
      '{state: $state, description: $text[0:140], log_url: $log}')
    api POST "deployments/$1/statuses" --data "$body" > /dev/null
    ;;
  last-applied)
    [ $# -eq 1 ] || usage
    applies=$(applies_of "$1" | jq -r '.[] | "\(.id)=\(.sha)"')
    for apply in $applies; do
      # A newer successful apply marks the older ones "inactive" (auto_inactive, outside
      # production): the first "success" from the newest is the one running.
      if [ "$(state_of "${apply%%=*}")" = success ]; then
        echo "${apply#*=}"
        exit 0
      fi
    done
    ;;
  ran)
    [ $# -eq 2 ] || usage
    ids=$(applies_of "$1" | jq -r --arg image "$2" '.[] | select(.payload.image == $image) | .id')
    for id in $ids; do
      # "inactive" is only ever added to a deployment that had succeeded (GitHub's docs).
      case "$(state_of "$id")" in success | inactive) exit 0 ;; esac
    done
    exit 1
    ;;
  outcome)
    [ $# -eq 2 ] || usage
    id=$(applies_of "$1" | jq -r --arg sha "$2" '[.[] | select(.sha == $sha)][0].id // empty')
    if [ -z "$id" ]; then echo none; else state_of "$id"; fi
    ;;
  *) usage ;;
esac
