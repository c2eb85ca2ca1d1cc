#!/usr/bin/env bash
# Deploy one service's image to the shared SAM stack, leaving the other two functions alone.
#
#   usage: deploy.sh SERVICE IMAGE_URI
#
# The stack (infra/sam/template.yaml) takes one image URI parameter per function:
# CommandImageUri, QueryImageUri, ReadModelUpdaterImageUri. This script overrides only the one
# of SERVICE. The other two are *not* passed back as values read earlier: `sam deploy` sends
# every parameter it is not given as UsePreviousValue=true, which CloudFormation resolves when
# it creates the change set. Re-sending values read a moment before would race with another
# service's pipeline finishing its own deployment in between and silently roll that function
# back. The current values are still read and logged, so the build log shows the whole stack.
#
# Concurrency: the three pipelines share one stack. A deployment that finds the stack busy
# waits until it settles; one that loses the race to start (CloudFormation: "…_IN_PROGRESS
# state and can not be updated") retries from the top.
#
# First deployment (no stack yet): all three image parameters are required, so it waits for
# the other services' images of the same commit to appear in ECR (their pipelines run on the
# same push) and creates the stack with all three. A stack left in ROLLBACK_COMPLETE by a
# failed creation must be deleted by an operator (this role has no DeleteStack on purpose).
#
# Environment: STACK_NAME, SAM_ARTIFACT_BUCKET, SAM_ARTIFACT_KMS_KEY_ID (optional),
# CFN_EXECUTION_ROLE_ARN, <SERVICE>_REPOSITORY_URI for all services, SAM_PARAMETER_OVERRIDES
# (optional, space-separated Key=Value for the template's other parameters),
# SAM_TEMPLATE (default infra/sam/template.yaml).
set -euo pipefail

SERVICE=${1:?usage: deploy.sh SERVICE IMAGE_URI}
IMAGE_URI=${2:?usage: deploy.sh SERVICE IMAGE_URI}
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=infra/buildspec/lib.sh
source infra/buildspec/lib.sh

: "${STACK_NAME:?STACK_NAME is not set}"
: "${SAM_ARTIFACT_BUCKET:?SAM_ARTIFACT_BUCKET is not set}"
: "${CFN_EXECUTION_ROLE_ARN:?CFN_EXECUTION_ROLE_ARN is not set}"
TEMPLATE=${SAM_TEMPLATE:-infra/sam/template.yaml}
ATTEMPTS=${DEPLOY_ATTEMPTS:-5}
OWN_PARAMETER=$(image_parameter "$SERVICE") || die "unknown service '$SERVICE'"
[[ -f $TEMPLATE ]] || die "SAM template $TEMPLATE not found"

# Waits until every other service has an image for this commit, then prints their overrides.
bootstrap_overrides() {
  local tag=${IMAGE_URI##*:} other waited=0 limit=${BOOTSTRAP_WAIT_SECONDS:-1800}
  for other in "${SERVICES[@]}"; do
    [[ $other == "$SERVICE" ]] && continue
    until image_exists "$other" "$tag"; do
      ((waited < limit)) || die "stack $STACK_NAME does not exist and $other has no image" \
        "for $tag after ${limit}s: release the $other pipeline for this commit, then retry"
      log "first deployment: waiting for $other's image of $tag"
      sleep "$STACK_POLL_SECONDS"
      waited=$((waited + STACK_POLL_SECONDS))
    done
    printf '%s=%s:%s\n' "$(image_parameter "$other")" "$(repository_uri "$other")" "$tag"
  done
}

sam_deploy() {
  local args=(
    deploy
    --template-file "$TEMPLATE"
    --stack-name "$STACK_NAME"
    --parameter-overrides "$@"
    # Required by sam for image functions; nothing is pushed since every ImageUri is a
    # parameter that already names an ECR image.
    --image-repository "$(repository_uri "$SERVICE")"
    --s3-bucket "$SAM_ARTIFACT_BUCKET"
    --s3-prefix "sam/$SERVICE"
    --role-arn "$CFN_EXECUTION_ROLE_ARN"
    --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND
    # A samconfig.toml next to the template (for people deploying by hand) applies only
    # through its [pipeline] section, so local defaults cannot leak into CI deployments.
    --config-env pipeline
    --no-confirm-changeset
    --no-fail-on-empty-changeset
    --no-progressbar
  )
  [[ -n ${SAM_ARTIFACT_KMS_KEY_ID:-} ]] && args+=(--kms-key-id "$SAM_ARTIFACT_KMS_KEY_ID")
  sam "${args[@]}"
}

read -r -a extra_overrides <<<"${SAM_PARAMETER_OVERRIDES:-}"
output=$(mktemp)
trap 'rm -f "$output"' EXIT

for ((attempt = 1; attempt <= ATTEMPTS; attempt++)); do
  overrides=("$OWN_PARAMETER=$IMAGE_URI" "${extra_overrides[@]}")
  status=$(wait_for_stable_stack)
  case $status in
    NONE | REVIEW_IN_PROGRESS)
      log "stack $STACK_NAME does not exist yet: first deployment"
      # (A command substitution, not a process substitution: a failed wait must stop here.)
      others_text=$(bootstrap_overrides)
      mapfile -t others <<<"$others_text"
      # Another pipeline may have created the stack while this one waited; then only this
      # service's parameter is ours to set.
      status=$(wait_for_stable_stack)
      if [[ $status == NONE || $status == REVIEW_IN_PROGRESS ]]; then
        overrides+=("${others[@]}")
      fi
      ;;
    ROLLBACK_COMPLETE)
      die "stack $STACK_NAME is ROLLBACK_COMPLETE (its creation failed): inspect its events," \
        "delete it (aws cloudformation delete-stack --stack-name $STACK_NAME), then retry"
      ;;
  esac
  for service in "${SERVICES[@]}"; do
    parameter=$(image_parameter "$service")
    [[ $service == "$SERVICE" ]] && continue
    log "keeping $parameter=$(stack_parameter "$parameter")"
  done
  log "deploying $OWN_PARAMETER=$IMAGE_URI to $STACK_NAME (attempt $attempt/$ATTEMPTS)"
  if sam_deploy "${overrides[@]}" 2>&1 | tee "$output"; then
    exit 0
  fi
  if grep -q "_IN_PROGRESS state and can not be updated" "$output"; then
    log "another deployment started first; retrying"
    sleep "$STACK_POLL_SECONDS"
    continue
  fi
  die "sam deploy failed (see above)"
done
die "gave up after $ATTEMPTS attempts: the stack stayed busy"
