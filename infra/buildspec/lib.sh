# shellcheck shell=bash
# Functions shared by build.sh and deploy.sh (sourced, not executed).
#
# Everything reads its settings from the CodeBuild project's environment, set by infra/tofu:
#   STACK_NAME                      the SAM stack holding all three functions
#   <SERVICE>_REPOSITORY_URI        ECR repository of each service, e.g. QUERY_REPOSITORY_URI,
#                                   READ_MODEL_UPDATER_REPOSITORY_URI
#   SAM_ARTIFACT_BUCKET, SAM_ARTIFACT_KMS_KEY_ID, CFN_EXECUTION_ROLE_ARN   (deploy.sh)

# shellcheck disable=SC2034  # used by the scripts that source this file
SERVICES=(command query read-model-updater)
STACK_POLL_SECONDS=${STACK_POLL_SECONDS:-15}

log() { printf '[%s] %s\n' "${SERVICE:-build}" "$*" >&2; }

die() {
  log "ERROR: $*"
  exit 1
}

# The CloudFormation parameter that carries a service's image URI in infra/sam/template.yaml.
image_parameter() {
  case "$1" in
    command) echo CommandImageUri ;;
    query) echo QueryImageUri ;;
    read-model-updater) echo ReadModelUpdaterImageUri ;;
    *) return 1 ;;
  esac
}

# The ECR repository URI of a service: $<SERVICE>_REPOSITORY_URI.
repository_uri() {
  local var
  var="$(printf '%s' "$1" | tr 'a-z-' 'A-Z_')_REPOSITORY_URI"
  [[ -n ${!var:-} ]] || die "environment variable $var is not set"
  printf '%s\n' "${!var}"
}

# Prints the stack's status, or NONE when it does not exist. Any other failure (throttling,
# missing permission) stops the build: guessing "no stack" there would redeploy blindly.
stack_status() {
  local out
  if out=$(aws cloudformation describe-stacks --stack-name "$STACK_NAME" \
    --query 'Stacks[0].StackStatus' --output text 2>&1); then
    printf '%s\n' "$out"
  elif [[ $out == *"does not exist"* ]]; then
    echo NONE
  else
    die "cannot describe stack $STACK_NAME: $out"
  fi
}

# Prints the current value of one stack parameter (empty when unset or no stack).
stack_parameter() {
  local out
  out=$(aws cloudformation describe-stacks --stack-name "$STACK_NAME" \
    --query "Stacks[0].Parameters[?ParameterKey=='$1'].ParameterValue | [0]" \
    --output text 2>/dev/null) || out=""
  [[ $out == None ]] && out=""
  printf '%s\n' "$out"
}

# Waits while another deployment (another service's pipeline) holds the stack, then prints the
# settled status. REVIEW_IN_PROGRESS is a stack whose first change set was never executed: it
# counts as settled, sam deploy creates it again.
wait_for_stable_stack() {
  local status waited=0 limit=${STACK_WAIT_SECONDS:-1800}
  while :; do
    status=$(stack_status)
    if [[ $status != *_IN_PROGRESS || $status == REVIEW_IN_PROGRESS ]]; then
      printf '%s\n' "$status"
      return 0
    fi
    ((waited < limit)) || die "stack $STACK_NAME still $status after ${limit}s"
    log "stack $STACK_NAME is $status (another deployment); waiting"
    sleep "$STACK_POLL_SECONDS"
    waited=$((waited + STACK_POLL_SECONDS))
  done
}

# Whether an image tag exists in a service's repository. Errors other than "not found" stop
# the build rather than trigger a rebuild that an immutable tag would reject anyway.
image_exists() {
  local uri out
  uri=$(repository_uri "$1")
  if out=$(aws ecr describe-images --repository-name "${uri#*/}" \
    --image-ids "imageTag=$2" --output text 2>&1); then
    return 0
  elif [[ $out == *ImageNotFoundException* ]]; then
    return 1
  fi
  die "cannot look up image $uri:$2: $out"
}
