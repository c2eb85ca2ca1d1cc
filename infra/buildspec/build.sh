#!/usr/bin/env bash
# Build, push and deploy one service's Lambda image, or skip it when this commit cannot have
# changed it. Called by infra/buildspec/<service>.yml on an ARM CodeBuild container.
#
#   usage: build.sh SERVICE        (command | query | read-model-updater)
#
# 1. Base commit = the commit the service's deployed image was built from: the tag of its image
#    parameter in the SAM stack (images are tagged with the full commit SHA). Not HEAD~1: when a
#    pipeline run fails or is superseded, HEAD~1 would silently drop that run's changes, while
#    "what is deployed" vs "what is at HEAD" is exactly the question. No stack yet, or a tag
#    that is no commit of this repository: there is no base, and the service is built.
#    CHANGE_BASE overrides it (e.g. start a build with CHANGE_BASE=HEAD~1 by hand).
# 2. tools/changed_services.py decides from the workspace dependency graph and uv.lock. When
#    the service is unaffected the build succeeds and reports BUILD_SKIPPED=true.
# 3. docker buildx (BuildKit, arm64, registry cache in the same repository under the tag
#    `cache`, mode=max) builds services/<svc>/Dockerfile with the repository root as context,
#    tags the image with the commit SHA and pushes it. A retry of the same commit reuses the
#    already pushed image (tags are immutable).
# 4. deploy.sh updates only this service's function in the SAM stack.
#
# Writes `export BUILD_SKIPPED=… IMAGE_URI=…` to $BUILD_RESULT_FILE (default .build-result.env)
# for the build spec to source into CodeBuild's exported variables.
set -euo pipefail

SERVICE=${1:?usage: build.sh SERVICE}
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=infra/buildspec/lib.sh
source infra/buildspec/lib.sh

image_parameter "$SERVICE" >/dev/null || die "unknown service '$SERVICE' (one of: ${SERVICES[*]})"
: "${STACK_NAME:?STACK_NAME is not set}"
PYTHON=${PYTHON:-python3}
RESULT_FILE=${BUILD_RESULT_FILE:-.build-result.env}
HEAD_SHA=${CODEBUILD_RESOLVED_SOURCE_VERSION:-$(git rev-parse HEAD)}
REPOSITORY=$(repository_uri "$SERVICE")
IMAGE_URI="$REPOSITORY:$HEAD_SHA"

write_result() {
  printf 'export BUILD_SKIPPED=%s\nexport IMAGE_URI=%s\n' "$1" "$2" >"$RESULT_FILE"
}

[[ $HEAD_SHA =~ ^[0-9a-f]{40}$ ]] || die "source version '$HEAD_SHA' is not a full commit SHA"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  die "$PYTHON is older than 3.11 (change detection needs tomllib)"

# --- 1. base: the commit currently deployed ------------------------------------------------
if [[ $(git rev-parse --is-shallow-repository) == true ]]; then
  # The pipeline's CODEBUILD_CLONE_REF source is a full clone; a shallow one cannot see the
  # deployed commit.
  git fetch --quiet --unshallow || log "could not deepen the shallow clone"
fi

base=""
if [[ -n ${CHANGE_BASE:-} ]]; then
  base=$CHANGE_BASE
  log "base $base (CHANGE_BASE override)"
else
  deployed=$(stack_parameter "$(image_parameter "$SERVICE")")
  tag=${deployed##*:}
  if [[ -z $deployed ]]; then
    log "no deployed image recorded in stack $STACK_NAME: building"
  elif [[ $deployed == *@* || ! $tag =~ ^[0-9a-f]{40}$ ]]; then
    log "deployed image $deployed is not tagged with a commit: building"
  elif ! git cat-file -e "$tag^{commit}" 2>/dev/null; then
    log "deployed commit $tag is not in this clone (history rewritten?): building"
  else
    base=$tag
    log "deployed commit $base, head $HEAD_SHA"
  fi
fi

# --- 2. change detection ----------------------------------------------------------------------
affected=$("$PYTHON" tools/changed_services.py --base "$base" --head "$HEAD_SHA" --explain)
log "affected deployables: ${affected//$'\n'/ }"
if ! grep -qx -- "$SERVICE" <<<"$affected"; then
  log "SKIPPED: $SERVICE is not affected by ${base:-<none>}..$HEAD_SHA; nothing built or deployed"
  write_result true ""
  exit 0
fi

# --- 3. build and push --------------------------------------------------------------------------
registry=${REPOSITORY%%/*}
aws ecr get-login-password | docker login --username AWS --password-stdin "$registry" >/dev/null

if image_exists "$SERVICE" "$HEAD_SHA"; then
  log "image $IMAGE_URI already pushed (a retry of this commit): not rebuilding"
else
  # The docker-container driver is what can export a registry cache; one builder per build host.
  docker buildx inspect cqrs-es >/dev/null 2>&1 ||
    docker buildx create --name cqrs-es --driver docker-container \
      --driver-opt "image=${BUILDKIT_IMAGE:-moby/buildkit:buildx-stable-1}" >/dev/null
  cache="$REPOSITORY:cache"
  # --provenance/--sbom off: attestations turn the push into a multi-manifest image index,
  # which Lambda does not accept as a function image. ECR stores BuildKit caches only as an OCI image
  # manifest (image-manifest=true, oci-mediatypes=true).
  docker buildx build \
    --builder cqrs-es \
    --platform linux/arm64 \
    --file "services/$SERVICE/Dockerfile" \
    --tag "$IMAGE_URI" \
    --label "org.opencontainers.image.revision=$HEAD_SHA" \
    --cache-from "type=registry,ref=$cache" \
    --cache-to "type=registry,ref=$cache,mode=max,image-manifest=true,oci-mediatypes=true" \
    --provenance=false \
    --sbom=false \
    --push \
    .
  log "pushed $IMAGE_URI"
fi

# --- 4. deploy this function only ---------------------------------------------------------------
bash infra/buildspec/deploy.sh "$SERVICE" "$IMAGE_URI"
write_result false "$IMAGE_URI"
log "DEPLOYED: $SERVICE at $HEAD_SHA"
