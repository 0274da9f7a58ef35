#!/usr/bin/env bash
# Install the OpenMMLab stack and s3pt_mm into a virtual environment, idempotently.
#
#   tools/install.sh [VENV]        (default: .venv; what `make install` runs)
#
# Each step is skipped when what it installs is already there, so a second run takes seconds.
# mmcv 2.1.0 exists only as a source distribution: it is built once (9-12 min on 2 cores)
# and pip keeps the wheel in its cache, so later environments install it in seconds.
# The CUDA kernels of mmcv and s3pt_mm are built when a GPU is visible or FORCE_CUDA=1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3.11}"
REQ="$ROOT/requirements"
STAMP="$VENV/.s3pt_mm_installed"

say() { printf '\033[1m[s3pt_mm install]\033[0m %s\n' "$*"; }

# The stamp holds a hash of everything that decides what gets installed.
want_hash() {
    cat "$REQ"/*.txt "$ROOT/setup.py" "$ROOT/tools/install.sh" | sha256sum | cut -d' ' -f1
}

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(want_hash)" ]]; then
    say "environment $VENV is up to date (delete $STAMP to force a reinstall)"
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    command -v "$PYTHON_BIN" >/dev/null || { echo "error: $PYTHON_BIN not found; set PYTHON=/path/to/python3.11" >&2; exit 1; }
    say "creating virtual environment $VENV with $($PYTHON_BIN --version)"
    "$PYTHON_BIN" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check -c "$REQ/constraints.txt")

has() {  # has DIST VERSION -> true when that exact version is installed
    [[ "$("$PY" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null)" == "$2"* ]]
}

say "build tools (setuptools<70 keeps pkg_resources for mmcv and mmengine)"
"${PIP[@]}" -q -r "$REQ/build.txt"

if has torch 2.11.0 && has torchvision 0.26.0; then
    say "torch 2.11.0 / torchvision 0.26.0 already installed"
else
    say "installing torch 2.11.0 / torchvision 0.26.0 (about 2.6 GB, a minute or two)"
    "${PIP[@]}" -r "$REQ/torch.txt"
fi

GPU=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))")
if [[ "${FORCE_CUDA:-0}" == "1" || "$GPU" == "1" ]]; then
    export FORCE_CUDA=1
    say "a GPU is visible (or FORCE_CUDA=1): CUDA kernels will be built"
fi

if has mmcv 2.1.0 && "$PY" -c "import mmcv.ops" 2>/dev/null; then
    say "mmcv 2.1.0 with ops already installed"
else
    say "installing mmcv 2.1.0 with its ops: built from source unless pip's wheel cache has it"
    say "  (a first build takes 9-12 minutes on 2 cores; started $(date +%H:%M:%S))"
    start=$SECONDS
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" "${PIP[@]}" --no-build-isolation mmcv==2.1.0
    say "  mmcv took $((SECONDS - start)) s"
fi

say "installing mmpretrain, mmsegmentation, mmdet, mmdet3d, nuscenes-devkit and test tools"
"${PIP[@]}" -r "$REQ/mminstall.txt" -r "$REQ/runtime.txt" -r "$REQ/tests.txt"

say "installing s3pt_mm in editable mode"
"${PIP[@]}" --no-build-isolation --no-deps -e "$ROOT"

say "checking imports and registries"
"$PY" -c "import s3pt_mm, mmcv.ops, mmpretrain, mmseg, mmdet, mmdet3d, nuscenes; print('  s3pt_mm', s3pt_mm.__version__, '| torch', __import__('torch').__version__, '| mmcv', mmcv.__version__)"

want_hash > "$STAMP"
say "done: activate with 'source $VENV/bin/activate'"
