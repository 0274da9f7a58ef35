"""tools/gpu_check.py: carried size, the wheels' requirements, the dry run and its results files."""
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_tool():
    spec = importlib.util.spec_from_file_location('gpu_check', REPO / 'tools' / 'gpu_check.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_wheel(folder: Path, name: str, requires=()) -> Path:
    """A wheel file holding only its METADATA (all the deps step reads)."""
    path = folder / f'{name}-1.0-py3-none-any.whl'
    meta = ['Metadata-Version: 2.1', f'Name: {name}', 'Version: 1.0']
    meta += [f'Requires-Dist: {r}' for r in requires]
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr(f'{name}-1.0.dist-info/METADATA', '\n'.join(meta) + '\n')
    return path


def make_check(tmp_path, wheels: Path, steps='env,size'):
    tool = load_tool()
    args = tool.parse_args(['--dry-run', '--out', str(tmp_path / 'out'), '--wheels',
                            str(wheels), '--steps', steps])
    return tool, tool.Check(args)


def test_deps_are_met_by_carried_wheels_or_the_gpu_image_and_a_gap_is_named(tmp_path):
    wheels = tmp_path / 'wheels'
    wheels.mkdir()
    fake_wheel(wheels, 'alpha', ['beta>=1', 'numpy', 'opencv-python>=3',
                                 'tomli; python_version < "3.11"', 'sphinx; extra == "docs"'])
    fake_wheel(wheels, 'beta')
    _, check = make_check(tmp_path, wheels)
    check.step_deps()
    assert check.steps[-1]['status'] == 'passed', check.steps[-1]
    out = check.steps[-1]['output']
    # beta is carried, numpy in the image, OpenCV as its headless build; markers evaluated for
    # Python 3.12 (no tomli) and extras ignored.
    assert 'beta>=1 -> beta' in out and 'numpy -> numpy' in out
    assert 'opencv-python>=3 -> opencv-python-headless' in out
    assert 'tomli' not in out and 'sphinx' not in out

    fake_wheel(wheels, 'gamma', ['no-such-package-here'])
    check.step_deps()
    assert check.steps[-1]['status'].startswith('failed')
    assert 'gamma-1.0-py3-none-any.whl needs no-such-package-here' in check.steps[-1]['status']


def test_carried_size_is_the_tracked_tree_plus_the_wheels(tmp_path):
    wheels = tmp_path / 'wheels'
    wheels.mkdir()
    (wheels / 'blob.whl').write_bytes(b'\0' * (3 << 20))
    (wheels / 'nuscenes_sample').mkdir()
    (wheels / 'nuscenes_sample' / 'x.bin').write_bytes(b'\0' * 1000)
    _, check = make_check(tmp_path, wheels)
    check.step_size()
    size = check.size
    listed = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split('\0')
    tree = sum((REPO / p).stat().st_size for p in listed if p and (REPO / p).is_file())
    assert size['wheels_bytes'] == (3 << 20) + 1000
    assert size['tree_bytes'] == tree
    assert size['total_bytes'] == tree + (3 << 20) + 1000
    assert check.steps[-1]['status'] == 'passed'  # far below 64 MiB

    (wheels / 'huge.whl').write_bytes(b'\0' * (65 << 20))
    check.step_size()
    assert check.steps[-1]['status'] == 'failed (over 64 MiB)'


@pytest.mark.slow  # ~30 s on 2 idle cores: two interpreters import mmpretrain
def test_dry_run_writes_results_and_passes(tmp_path):
    """``tools/gpu_check.sh --dry-run``: every step but the CUDA ones (the GPU test files are
    collected, the benchmarks parse --help, all under the light-import hook); the light-import
    check itself is tests/test_architecture's, so it is left out here."""
    out = tmp_path / 'out'
    cmd = ['bash', str(REPO / 'tools' / 'gpu_check.sh'), '--dry-run', '--out', str(out),
           '--steps', 'wheels,deps,cuda', '--budget', '800']
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=880,
                            env={**os.environ, 'PYTHON': sys.executable})
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / 'gpu_check.json').read_text())
    assert report['dry_run'] and report['passed']
    steps = {s['name']: s for s in report['steps']}
    assert list(steps) == ['env', 'size', 'wheels', 'deps', 'build', 'cuda-tests', 'benchmarks']
    assert steps['build']['status'] == 'skipped (dry run: CUDA)'
    assert steps['benchmarks']['status'] == 'passed'
    for script in ('kernels.py', 'depth.py', 'train_step.py'):
        assert f'{script} [' in steps['benchmarks']['output']  # its usage line
    collected = steps['cuda-tests']['output']
    assert 'test_cuda_kernels_depth.py' in collected and 'error' not in collected.lower()
    assert report['size']['total_bytes'] <= 64 << 20
    md = (out / 'gpu_check.md').read_text()
    assert '| benchmarks | passed |' in md and f'{report["size"]["total_mib"]} MiB of 64' in md
