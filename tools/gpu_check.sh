#!/usr/bin/env bash
# GPU acceptance in one short run (see tools/gpu_check.py for the steps and the results files).
#   tools/gpu_check.sh [--dry-run] [--out DIR] [--wheels DIR] [--budget SECONDS]
# Prepare the carried wheels here first: `make gpu-wheels` (fills gpu_wheels/, git-ignored).
# The interpreter is $PYTHON, else .venv/bin/python when it exists, else python3.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${PYTHON:-}" ]]; then
    PY="$PYTHON"
elif [[ -x .venv/bin/python ]]; then
    PY=.venv/bin/python
else
    PY=python3
fi
exec "$PY" tools/gpu_check.py --python "$PY" "$@"
