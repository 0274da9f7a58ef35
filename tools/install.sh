#!/usr/bin/env bash
# Install the OpenMMLab stack and s3pt_mm into a virtual environment, idempotently.
#
#   tools/install.sh [VENV]        (default: .venv; what `make install` runs)
#
# Each step is skipped when what it installs is already there, so a second run takes seconds.
# mmcv 2.1.0 exists only as a source distribution: it is built once (9-12 min on 2 cores)
# and pip keeps the wheel in its cache, so later environments install it in seconds.
# s3pt_mm's CUDA kernels (s3pt_mm/ops/csrc -> s3pt_mm._ext) are built when a GPU is visible or
# FORCE_CUDA=1 (CI: nvcc but no GPU, so that the sources keep compiling); mmcv's CUDA ops when a
# GPU is visible or MMCV_FORCE_CUDA=1 (a 30+ minute build, useless without a GPU).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3.11}"
REQ="$ROOT/requirements"
STAMP="$VENV/.s3pt_mm_installed"

say() { printf '\033[1m[s3pt_mm install]\033[0m %s\n' "$*"; }

# The stamp holds a hash of everything that decides what gets installed: requirements, this
# script, setup.py, the kernel sources, and whether they are to be compiled.
want_hash() {
    {
        cat "$REQ"/*.txt "$ROOT/setup.py" "$ROOT/tools/install.sh"
        find "$ROOT/s3pt_mm/ops/csrc" -type f \( -name '*.cpp' -o -name '*.cu' -o -name '*.h' \
            -o -name '*.cuh' \) 2>/dev/null | LC_ALL=C sort | xargs -r cat
        echo "FORCE_CUDA=${FORCE_CUDA:-0} gpu=$(nvidia-smi -L 2>/dev/null | head -n 1)"
    } | sha256sum | cut -d' ' -f1
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
BUILD_EXT=0
if [[ "${FORCE_CUDA:-0}" == "1" || "$GPU" == "1" ]]; then
    BUILD_EXT=1
    say "a GPU is visible (or FORCE_CUDA=1): s3pt_mm's CUDA kernels will be built"
fi
MMCV_CUDA=0
if [[ "${MMCV_FORCE_CUDA:-0}" == "1" || "$GPU" == "1" ]]; then
    MMCV_CUDA=1
fi

if has mmcv 2.1.0 && "$PY" -c "import mmcv.ops" 2>/dev/null; then
    say "mmcv 2.1.0 with ops already installed"
else
    say "installing mmcv 2.1.0 with its ops (CUDA ops: $([[ $MMCV_CUDA == 1 ]] && echo yes || echo no)): built from source unless pip's wheel cache has it"
    say "  (a first build takes 9-12 minutes on 2 cores; started $(date +%H:%M:%S))"
    start=$SECONDS
    FORCE_CUDA=$MMCV_CUDA MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "${PIP[@]}" --no-build-isolation mmcv==2.1.0
    say "  mmcv took $((SECONDS - start)) s"
fi

say "installing mmpretrain, mmsegmentation, mmdet, mmdet3d, nuscenes-devkit and test tools"
"${PIP[@]}" -r "$REQ/mminstall.txt" -r "$REQ/runtime.txt" -r "$REQ/tests.txt"

if [[ "$BUILD_EXT" == "1" ]]; then
    # setup.py finds the CUDA toolkit behind a wrapper nvcc and defaults TORCH_CUDA_ARCH_LIST
    # to 9.0 without a GPU; both can be set. The editable install builds s3pt_mm/_ext*.so in
    # place (git-ignored), where `import s3pt_mm._ext` finds it.
    say "installing s3pt_mm in editable mode with its CUDA extension (started $(date +%H:%M:%S))"
    start=$SECONDS
    # The venv's bin on the PATH: torch's build runs `ninja` from there (parallel, MAX_JOBS).
    PATH="$VENV/bin:$PATH" FORCE_CUDA=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "${PIP[@]}" --no-build-isolation --no-deps -e "$ROOT"
    say "  s3pt_mm with its CUDA extension took $((SECONDS - start)) s"
    "$PY" -c "from s3pt_mm.ops import ext_loader as e
ops = e.registered_ops()
assert e.load_ext() is not None and ops, e.unavailable_reason('depth_projection_forward')
print('  s3pt_mm._ext operators:', ', '.join(ops))"
else
    # A kernel library left from an earlier FORCE_CUDA=1 install would not match the sources.
    rm -f "$ROOT"/s3pt_mm/_ext*.so
    say "installing s3pt_mm in editable mode (no GPU, FORCE_CUDA unset: no CUDA extension)"
    FORCE_CUDA=0 "${PIP[@]}" --no-build-isolation --no-deps -e "$ROOT"
fi

say "checking imports and registries"
"$PY" -c "import s3pt_mm, mmcv.ops, mmpretrain, mmseg, mmdet, mmdet3d, nuscenes; print('  s3pt_mm', s3pt_mm.__version__, '| torch', __import__('torch').__version__, '| mmcv', mmcv.__version__)"

want_hash > "$STAMP"
say "done: activate with 'source $VENV/bin/activate'"
