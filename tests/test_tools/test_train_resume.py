"""tools/train.py never loses a checkpoint: what --resume / a fresh start do in a work dir."""
import hashlib
import importlib.util
import os
from pathlib import Path

import pytest
import torch

import s3pt_mm  # noqa: F401
from s3pt_mm.engine.resume import checkpoint_problem, find_checkpoints, plan_resume

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / 'configs/s3pt/demo_vit-tiny_synthetic-cpu.py')


def _train_module():
    spec = importlib.util.spec_from_file_location('train_tool', REPO / 'tools/train.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train = _train_module()


def _checkpoint(path: Path, epoch: int, mtime: float = None) -> Path:
    """A small Runner-style checkpoint (meta + state_dict, 40 kB of weights)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(meta=dict(epoch=epoch, iter=3 * epoch),
                    state_dict=dict(w=torch.full((10000,), float(epoch)))), path)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _run_dir(work_dir: Path, epochs=(1, 2), last=True) -> Path:
    for epoch in epochs:
        _checkpoint(work_dir / f'epoch_{epoch}.pth', epoch, mtime=1e9 + epoch)
    if last:
        (work_dir / 'last_checkpoint').write_text(str(work_dir / f'epoch_{max(epochs)}.pth'))
    return work_dir


def _md5s(work_dir: Path) -> dict:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(work_dir.iterdir())}


def _build(*argv):
    return train.build_config(train.parse_args([CONFIG, *argv]))


def test_resume_with_nothing_to_resume_is_an_error_naming_the_work_dir(tmp_path):
    _run_dir(tmp_path / 'run')
    for work_dir in (tmp_path / 'typo', tmp_path / 'empty'):  # mistyped / no checkpoint
        (tmp_path / 'empty').mkdir(exist_ok=True)
        with pytest.raises(SystemExit) as err:
            train.main([CONFIG, '--work-dir', str(work_dir), '--resume'])
        message = str(err.value)
        assert f'nothing to resume from in work dir {work_dir}' in message
        assert '--resume auto-or-fresh' in message
    # auto-or-fresh may start fresh where there is nothing at all
    cfg = _build('--work-dir', str(tmp_path / 'typo'), '--resume', 'auto-or-fresh')
    assert cfg.resume is False and cfg.load_from is None


def test_a_fresh_run_never_overwrites_an_earlier_runs_checkpoints(tmp_path):
    work_dir = _run_dir(tmp_path / 'run')
    before = _md5s(work_dir)
    with pytest.raises(SystemExit) as err:
        train.main([CONFIG, '--work-dir', str(work_dir)])
    assert f'work dir {work_dir} already holds checkpoints' in str(err.value)
    assert 'epoch_2.pth, epoch_1.pth' in str(err.value)
    assert _md5s(work_dir) == before
    # only last_checkpoint left (checkpoints kept elsewhere): still an earlier run
    (tmp_path / 'only_marker').mkdir()
    (tmp_path / 'only_marker' / 'last_checkpoint').write_text(str(work_dir / 'epoch_2.pth'))
    with pytest.raises(SystemExit):
        train.main([CONFIG, '--work-dir', str(tmp_path / 'only_marker')])


def test_resume_picks_the_newest_checkpoint(tmp_path):
    work_dir = _run_dir(tmp_path / 'run', epochs=(1, 2, 10), last=False)  # marker lost
    cfg = _build('--work-dir', str(work_dir), '--resume')
    assert cfg.resume is True and cfg.load_from == str(work_dir / 'epoch_10.pth')
    cfg = _build('--work-dir', str(work_dir), '--resume', 'auto-or-fresh')
    assert cfg.load_from == str(work_dir / 'epoch_10.pth')


def test_fall_back_to_the_newest_loadable_checkpoint(tmp_path):
    work_dir = _run_dir(tmp_path / 'run', epochs=(1, 2, 3))
    data = (work_dir / 'epoch_3.pth').read_bytes()
    (work_dir / 'epoch_3.pth').write_bytes(data[:len(data) // 2])  # cut short by a kill
    data = bytearray((work_dir / 'epoch_2.pth').read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the weights
    (work_dir / 'epoch_2.pth').write_bytes(bytes(data))
    assert 'truncated' in checkpoint_problem(str(work_dir / 'epoch_3.pth'))
    assert 'fails its CRC check' in checkpoint_problem(str(work_dir / 'epoch_2.pth'))

    plan = plan_resume(str(work_dir), 'auto')
    assert plan.checkpoint == str(work_dir / 'epoch_1.pth')
    assert [p for p, _ in plan.skipped] == [str(work_dir / f'epoch_{e}.pth') for e in (3, 2)]
    assert plan.messages[-1].startswith(f'resuming from {work_dir / "epoch_1.pth"} instead')

    cfg = _build('--work-dir', str(work_dir), '--resume')
    assert cfg.load_from == str(work_dir / 'epoch_1.pth')
    # The damaged files are kept aside, not deleted, and are no longer candidates.
    names = sorted(p.name for p in work_dir.iterdir())
    assert names == ['epoch_1.pth', 'epoch_2.pth.unreadable', 'epoch_3.pth.unreadable',
                     'last_checkpoint']
    assert find_checkpoints(str(work_dir)) == [str(work_dir / 'epoch_1.pth')]


def test_all_checkpoints_unreadable_is_an_error(tmp_path):
    work_dir = _run_dir(tmp_path / 'run', epochs=(1,))
    (work_dir / 'epoch_1.pth').write_bytes(b'')
    with pytest.raises(SystemExit) as err:
        train.main([CONFIG, '--work-dir', str(work_dir), '--resume', 'auto-or-fresh'])
    assert 'none of the 1 checkpoints' in str(err.value) and 'the file is empty' in str(err.value)
    assert (work_dir / 'epoch_1.pth').exists()


def test_explicit_resume_refuses_to_overwrite_newer_checkpoints(tmp_path):
    work_dir = _run_dir(tmp_path / 'run', epochs=(1, 2, 3))
    with pytest.raises(SystemExit) as err:
        train.main([CONFIG, '--work-dir', str(work_dir), '--resume',
                    str(work_dir / 'epoch_1.pth')])
    assert 'would overwrite its newer checkpoints (epoch_3.pth, epoch_2.pth)' in str(err.value)
    # The newest one, or the old one into another work dir, are fine.
    cfg = _build('--work-dir', str(work_dir), '--resume', str(work_dir / 'epoch_3.pth'))
    assert cfg.resume and cfg.load_from == str(work_dir / 'epoch_3.pth')
    cfg = _build('--work-dir', str(tmp_path / 'branch'), '--resume', str(work_dir / 'epoch_1.pth'))
    assert cfg.resume and cfg.load_from == str(work_dir / 'epoch_1.pth')
    (work_dir / 'bad.pth').write_bytes(b'not a zip')
    with pytest.raises(SystemExit, match='cannot resume from it: truncated or not a torch'):
        train.main([CONFIG, '--work-dir', str(tmp_path / 'x'), '--resume',
                    str(work_dir / 'bad.pth')])


def test_every_run_gets_the_safety_hooks(tmp_path):
    seg = str(REPO / 'configs/segmenter/linear_vit-tiny_synthetic-224x224.py')
    cfg = train.build_config(train.parse_args([seg, '--work-dir', str(tmp_path / 'seg')]))
    types = [h['type'] for h in cfg.custom_hooks]
    assert set(train.SAFETY_HOOKS) <= set(types)
    cfg = _build('--work-dir', str(tmp_path / 'demo'))  # in default_runtime already: not twice
    assert not set(train.SAFETY_HOOKS) & {h['type'] for h in cfg.custom_hooks}
