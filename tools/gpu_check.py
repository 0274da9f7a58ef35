"""GPU acceptance in one short run: carried wheels, the CUDA build, the CUDA tests, the benchmarks.

    tools/gpu_check.sh [--dry-run] [--out DIR] [--wheels DIR] [--budget SECONDS]

Made for a fresh GPU machine with Python 3.12 and torch (CUDA) preinstalled, no package
registry, and at most 64 MiB of carried files (this working tree plus ``gpu_wheels/``, which
``make gpu-wheels`` fills here). Steps, in order, each with its own time limit inside
``--budget`` (default 450 s, so that the whole run stays under 8 minutes):

1. ``env``: Python, torch, the GPU, nvcc.
2. ``size``: the carried size (working tree + wheels folder), against the 64 MiB limit.
3. ``wheels``: ``pip install --no-index --no-deps --target`` of the carried wheels into a
   temporary folder put first on ``PYTHONPATH`` for every later step.
4. ``deps``: every ``Requires-Dist`` of the carried wheels is met by a carried wheel or by a
   package of the GPU machine's image (:data:`GPU_IMAGE_PACKAGES`).
5. ``imports``: tools/check_light_imports.py (the core and the S3PT model without mmcv's
   compiled ops, mmseg, mmdet or mmdet3d; on the GPU on a CUDA machine).
6. ``build`` (CUDA): ``FORCE_CUDA=1 python setup.py build_ext --inplace`` -> ``s3pt_mm._ext``.
7. ``cuda-tests`` (CUDA): ``pytest -m gpu`` over the test files that have GPU tests.
8. ``kernels`` (CUDA): benchmarks/kernels.py.
9. ``depth`` (CUDA): benchmarks/depth.py's GPU section (``--skip-cpu``).
10. ``train-step`` (CUDA): benchmarks/train_step.py ``--amp`` at Tab. 3 sizes (ViT-S/16,
    32 images per GPU, 65536 prototypes).

``--dry-run`` (for a CPU machine) runs steps 1-5 for real and replaces the CUDA steps by checks
that need no GPU: the tests are only collected, and one step ``benchmarks`` runs the three
benchmark scripts with ``--help`` (so their imports are checked in the carried environment). Results go to ``DIR/gpu_check.json``
and ``DIR/gpu_check.md`` (each step's command, exit status, seconds and output); ``DIR`` is
``--out``, else ``$OUT`` (the GPU machine's return folder), else ``work_dirs/gpu_check``. Exit
status 0 when every step passed (or was skipped in a dry run).
"""
import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
# Test folders whose modules import only the light layers (docs/architecture.md).
LIGHT_TEST_DIRS = ('tests/test_models', 'tests/test_ops')
LIMIT_BYTES = 64 * 1024 * 1024

#: Python packages of the GPU machine's image (the device notes' list as read on 2026-11-17),
#: normalised names. A carried wheel's requirement is met when it is here or carried.
GPU_IMAGE_PACKAGES = frozenset(re.sub(r'[-_.]+', '-', n).lower() for n in '''
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch
build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage
cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn
einops equinox etils execnet filelock flatbuffers flax fonttools formulaic frozenlist fsspec
gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna imageio
iniconfig interface-meta jax jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning
lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch
mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-ml-py
onnx onnx-ir onnxruntime onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx
optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker
prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing
pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout
pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors
scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers
setuptools shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch
torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt
xarray xxhash yarl zipp'''.split())
#: Requirements that another installed distribution provides under a different name.
PROVIDED_BY = {'opencv-python': ('opencv-python-headless', 'opencv-contrib-python',
                                 'opencv-contrib-python-headless')}
#: Tab. 3: ViT-S/16, 256 images over 8 GPUs = 32 per GPU, 65536 prototypes.
STEPS = ('env', 'size', 'wheels', 'deps', 'imports', 'cuda')
TRAIN_STEP_ARGS = ['--amp', '--batch', '32', '--arch', 'deit-small', '--prototypes', '65536',
                   '--steps', '5']


def normalise(name: str) -> str:
    return re.sub(r'[-_.]+', '-', name).lower()


class Check:
    """Runs the steps, keeps their records and writes the results files."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.start = time.monotonic()
        self.steps: List[Dict] = []
        self.site = Path(tempfile.mkdtemp(prefix='s3pt_gpu_site_'))
        self.env = dict(os.environ, PYTHONUNBUFFERED='1')
        self.env['PYTHONPATH'] = os.pathsep.join(
            [str(REPO), str(self.site)] +
            [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p])

    def remaining(self) -> float:
        return self.args.budget - (time.monotonic() - self.start)

    def record(self, name: str, status: str, seconds: float, command: str = '',
               output: str = '', **extra) -> Dict:
        step = dict(name=name, status=status, seconds=round(seconds, 1), command=command,
                    output=output[-self.args.keep_output:], **extra)
        self.steps.append(step)
        print(f'[gpu_check] {name}: {status} ({seconds:.1f} s)', flush=True)
        if output and status != 'passed':
            print(output[-4000:], flush=True)
        return step

    def run(self, name: str, cmd: List[str], limit: float, env: Optional[Dict] = None,
            cuda: bool = False, **extra) -> Dict:
        """Run one command with a time limit (also bounded by the remaining budget)."""
        command = ' '.join(cmd)
        limit = min(limit, self.remaining())
        if limit < 5:
            return self.record(name, 'failed', 0.0, command, 'no time left in --budget')
        print(f'[gpu_check] {name}: {command} (limit {limit:.0f} s)', flush=True)
        t0 = time.monotonic()
        try:
            proc = subprocess.run(cmd, cwd=REPO, env=env or self.env, capture_output=True,
                                  text=True, timeout=limit)
            status = 'passed' if proc.returncode == 0 else f'failed (exit {proc.returncode})'
            output = proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as err:
            status = f'failed (over its {limit:.0f} s limit)'
            output = ((err.stdout or b'').decode(errors='replace') if isinstance(
                err.stdout, bytes) else (err.stdout or '')) + ((err.stderr or b'').decode(
                    errors='replace') if isinstance(err.stderr, bytes) else (err.stderr or ''))
        return self.record(name, status, time.monotonic() - t0, command, output, cuda=cuda,
                           **extra)

    # ----------------------------------------------------------------------------- steps
    def step_env(self) -> None:
        code = ('import json, platform, torch; print(json.dumps(dict('
                'python=platform.python_version(), torch=torch.__version__, '
                'cuda=torch.version.cuda, cuda_available=torch.cuda.is_available(), '
                'gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)))')
        t0 = time.monotonic()
        proc = subprocess.run([self.args.python, '-c', code], capture_output=True, text=True,
                              timeout=120)
        info = dict(machine=platform.machine(), executable=self.args.python)
        if proc.returncode == 0:
            info.update(json.loads(proc.stdout.strip().splitlines()[-1]))
        nvcc = shutil.which('nvcc')
        if nvcc:
            out = subprocess.run([nvcc, '--version'], capture_output=True, text=True).stdout
            match = re.search(r'release (\S+),', out)
            info['nvcc'] = match.group(1) if match else out.strip()[-80:]
        self.info = info
        status = 'passed' if proc.returncode == 0 else 'failed'
        self.record('env', status, time.monotonic() - t0, output=json.dumps(info) + '\n' +
                    proc.stderr, info=info)

    def carried_files(self) -> List[Path]:
        """The working tree that travels: tracked and untracked-not-ignored files."""
        if (REPO / '.git').exists() and shutil.which('git'):
            out = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'],
                                 cwd=REPO, capture_output=True, text=True, check=True).stdout
            return [REPO / p for p in out.split('\0') if p]
        skip = {'.git', '.venv', 'work_dirs', 'data', 'build', '__pycache__', '.pytest_cache'}
        wheels = self.args.wheels.resolve()
        return [p for p in REPO.rglob('*') if p.is_file()
                and not skip.intersection(p.relative_to(REPO).parts)
                and wheels not in p.resolve().parents]

    def step_size(self) -> None:
        t0 = time.monotonic()
        tree = sum(p.stat().st_size for p in self.carried_files() if p.is_file())
        wheels = sum(p.stat().st_size for p in self.args.wheels.rglob('*')
                     if p.is_file()) if self.args.wheels.is_dir() else 0
        total = tree + wheels
        size = dict(tree_bytes=tree, wheels_bytes=wheels, total_bytes=total,
                    total_mib=round(total / 2**20, 2), limit_mib=LIMIT_BYTES // 2**20)
        self.size = size
        status = 'passed' if total <= LIMIT_BYTES else 'failed (over 64 MiB)'
        self.record('size', status, time.monotonic() - t0,
                    output=(f'working tree {tree / 2**20:.2f} MiB + {self.args.wheels.name}/ '
                            f'{wheels / 2**20:.2f} MiB = {total / 2**20:.2f} MiB '
                            f'(limit 64 MiB)\n'), size=size)

    def wheels(self) -> List[Path]:
        return sorted(self.args.wheels.glob('*.whl')) if self.args.wheels.is_dir() else []

    def step_wheels(self) -> None:
        wheels = self.wheels()
        if not wheels:
            self.record('wheels', 'skipped (no wheels: run `make gpu-wheels` first)', 0.0)
            return
        self.run('wheels', [self.args.python, '-m', 'pip', 'install', '-q', '--no-index',
                            '--no-deps', '--no-compile', '--no-cache-dir', '--upgrade',
                            '--target', str(self.site)] + [str(w) for w in wheels], 180)

    def step_deps(self) -> None:
        from packaging.markers import default_environment
        from packaging.requirements import Requirement
        t0 = time.monotonic()
        wheels = self.wheels()
        if not wheels:
            self.record('deps', 'skipped (no wheels)', 0.0)
            return
        carried = {normalise(w.name.split('-')[0]) for w in wheels}
        env = default_environment()
        env.update(python_version='3.12', python_full_version='3.12.3', extra='')
        missing, lines = [], []
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as zf:
                meta = next(n for n in zf.namelist() if n.endswith('.dist-info/METADATA'))
                text = zf.read(meta).decode()
            for line in text.splitlines():
                if not line.startswith('Requires-Dist:'):
                    continue
                req = Requirement(line.split(':', 1)[1].strip())
                if req.marker is not None and not req.marker.evaluate(env):
                    continue
                name = normalise(req.name)
                met = [n for n in (name, ) + PROVIDED_BY.get(name, ())
                       if n in carried or n in GPU_IMAGE_PACKAGES]
                lines.append(f'{wheel.name}: {req} -> {met[0] if met else "MISSING"}')
                if not met:
                    missing.append(f'{wheel.name} needs {req}')
        status = 'passed' if not missing else 'failed (missing: ' + '; '.join(missing) + ')'
        self.record('deps', status, time.monotonic() - t0, output='\n'.join(lines) + '\n')

    def step_imports(self) -> None:
        device = 'cuda' if self.info.get('cuda_available') and not self.args.dry_run else 'cpu'
        self.run('imports', [self.args.python, 'tools/check_light_imports.py', '--device',
                             device], 180)

    def gpu_test_files(self) -> List[str]:
        # Only the core's and the pre-training model's tests: task-level GPU tests (e.g.
        # tools/dist_test.sh under tests/test_segmentation) need mmseg/mmdet3d, which the GPU
        # machine does not have and the import hook blocks.
        files = []
        for folder in LIGHT_TEST_DIRS:
            for path in sorted((REPO / folder).rglob('test_*.py')):
                if 'pytest.mark.gpu' in path.read_text(errors='ignore'):
                    files.append(str(path.relative_to(REPO)))
        return files

    def step_cuda(self) -> None:
        py, dry = self.args.python, self.args.dry_run
        nuscenes = self.args.wheels / 'nuscenes_sample'
        data = ['--nuscenes-dir', str(nuscenes)] if nuscenes.is_dir() else []
        # Everything below runs under tools/check_light_imports.py's hook (no mmcv ops, mmseg,
        # mmdet, mmdet3d), as on the GPU machine, also where those packages are installed.
        hooked = [py, 'tools/check_light_imports.py', '--run']
        # -p no:platformdirs: where a newer platformdirs is installed (a dry run in a full
        # environment), its pytest plugin entry point would load the carried, older package.
        tests = hooked + ['-m', 'pytest', '-q', '-m', 'gpu', '-p', 'no:cacheprovider', '-p',
                          'no:platformdirs', '-o', 'addopts=--import-mode=importlib -ra'
                          ] + self.gpu_test_files()
        if dry:
            self.record('build', 'skipped (dry run: CUDA)', 0.0,
                        'FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=9.0 python setup.py build_ext '
                        '--inplace', cuda=True)
            self.run('cuda-tests', tests + ['--collect-only'], 120, cuda=True,
                     note='dry run: collected only')
            scripts = ['benchmarks/kernels.py', 'benchmarks/depth.py',
                       'benchmarks/train_step.py']
            self.run('benchmarks', [py, 'tools/check_light_imports.py', '--help-of'] + scripts,
                     120, cuda=True, note='dry run: --help of kernels.py, depth.py and '
                     'train_step.py in one interpreter (imports and arguments)')
            return
        if not self.info.get('cuda_available'):
            for name in ('build', 'cuda-tests', 'kernels', 'depth', 'train-step'):
                self.record(name, 'failed (CUDA not available; use --dry-run on a CPU machine)',
                            0.0, cuda=True)
            return
        env = dict(self.env, FORCE_CUDA='1', TORCH_CUDA_ARCH_LIST=self.args.arch,
                   MAX_JOBS=str(os.cpu_count() or 4))
        self.run('build', [py, 'setup.py', 'build_ext', '--inplace'], 200, env=env, cuda=True)
        self.run('cuda-tests', tests + ['-x', '--timeout', '100'], 120, cuda=True)
        self.run('kernels', hooked + ['benchmarks/kernels.py', '--iters', '20'] + data, 90,
                 cuda=True)
        self.run('depth', hooked + ['benchmarks/depth.py', '--skip-cpu', '--gpu-iters', '10'] +
                 data, 90, cuda=True)
        self.run('train-step', hooked + ['benchmarks/train_step.py'] + TRAIN_STEP_ARGS, 150,
                 cuda=True)

    # --------------------------------------------------------------------------- results
    def write(self) -> Path:
        out = self.args.out
        out.mkdir(parents=True, exist_ok=True)
        ok = all(s['status'] == 'passed' or s['status'].startswith('skipped')
                 for s in self.steps)
        result = dict(dry_run=self.args.dry_run, passed=ok,
                      seconds=round(time.monotonic() - self.start, 1),
                      env=getattr(self, 'info', {}), size=getattr(self, 'size', {}),
                      steps=self.steps)
        (out / 'gpu_check.json').write_text(json.dumps(result, indent=1) + '\n')
        lines = [f'# tools/gpu_check.sh{" --dry-run" if self.args.dry_run else ""}', '',
                 f'- result: {"passed" if ok else "FAILED"} in {result["seconds"]} s',
                 f'- machine: {json.dumps(result["env"])}',
                 f'- carried: {result["size"].get("total_mib")} MiB of 64 '
                 f'(tree {result["size"].get("tree_bytes", 0) / 2**20:.2f} MiB, wheels '
                 f'{result["size"].get("wheels_bytes", 0) / 2**20:.2f} MiB)', '',
                 '| step | status | seconds |', '| --- | --- | --- |']
        lines += [f'| {s["name"]} | {s["status"]} | {s["seconds"]} |' for s in self.steps]
        for s in self.steps:
            lines += ['', f'## {s["name"]}: {s["status"]}', '']
            if s['command']:
                lines += [f'`{s["command"]}`', '']
            if s['output']:
                lines += ['```', s['output'].rstrip(), '```']
        (out / 'gpu_check.md').write_text('\n'.join(lines) + '\n')
        print(f'[gpu_check] {"passed" if ok else "FAILED"} in {result["seconds"]} s; results: '
              f'{out / "gpu_check.json"}, {out / "gpu_check.md"}', flush=True)
        return out


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--dry-run', action='store_true',
                        help='every step but the CUDA ones (for a machine without a GPU)')
    default_out = os.environ.get('OUT') or str(REPO / 'work_dirs' / 'gpu_check')
    parser.add_argument('--out', type=Path, default=Path(default_out),
                        help='results folder (default: $OUT, else work_dirs/gpu_check)')
    parser.add_argument('--wheels', type=Path, default=REPO / 'gpu_wheels',
                        help='carried wheels (and nuscenes_sample/), from `make gpu-wheels`')
    parser.add_argument('--python', default=sys.executable, help='interpreter for the steps')
    parser.add_argument('--budget', type=float, default=450.0,
                        help='seconds for all steps together')
    parser.add_argument('--arch', default='9.0', help='TORCH_CUDA_ARCH_LIST of the build')
    parser.add_argument('--steps', default=','.join(STEPS),
                        help=f'comma-separated subset of {",".join(STEPS)} (env and size always '
                        'run; cuda = build, cuda-tests, kernels, depth, train-step)')
    parser.add_argument('--keep-output', type=int, default=20000,
                        help='characters of each step\'s output kept in the results')
    args = parser.parse_args(argv)
    args.wheels = args.wheels.resolve()
    args.steps = [s for s in args.steps.split(',') if s]
    unknown = set(args.steps) - set(STEPS)
    if unknown:
        parser.error(f'unknown steps {sorted(unknown)}; choose from {STEPS}')
    return args


def main(argv=None) -> int:
    check = Check(parse_args(argv))
    try:
        check.step_env()
        check.step_size()
        for name in STEPS[2:]:
            if name in check.args.steps:
                getattr(check, f'step_{name}')()
    finally:
        check.write()
        shutil.rmtree(check.site, ignore_errors=True)
    return 0 if all(s['status'] == 'passed' or s['status'].startswith('skipped')
                    for s in check.steps) else 1


if __name__ == '__main__':
    sys.exit(main())
