"""A run killed with SIGKILL mid-epoch resumes from its last checkpoint and ends exactly where
the uninterrupted run ends (tools/train.py in subprocesses, the real configs' loader:
2 persistent workers, augmentation on, drop path on; the uninterrupted run in-process)."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import s3pt_mm  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
TRAIN = str(REPO / 'tools/train.py')


def _command(config: Path, work_dir: Path, *args: str) -> list:
    return [sys.executable, TRAIN, str(config), '--work-dir', str(work_dir), *args]


def _env(config: Path, **extra) -> dict:
    path = os.pathsep.join([str(config.parent), str(REPO), os.environ.get('PYTHONPATH', '')])
    # One torch thread: a tiny model on a busy machine runs 8x faster (conftest.py).
    return dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS='1', **extra)


@pytest.mark.slow  # two tools/train.py processes: ~25 s of CPU, most of it importing
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tiny_s3pt_config, tmp_path,
                                                            monkeypatch):
    config = tiny_s3pt_config(num_workers=2, persistent=True, kill_hook=True)
    killed_dir = tmp_path / 'killed'
    # Killed before iteration 4 of 9 (epoch 2, batch 2 of 3), its epoch-1 checkpoint written.
    killed = subprocess.Popen(_command(config, killed_dir), env=_env(config, KILL_AT_ITER='4'),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Meanwhile the uninterrupted run, in this process (one torch thread, like the others).
    monkeypatch.syspath_prepend(str(config.parent))
    cfg = Config.fromfile(str(config))
    cfg.work_dir, cfg.experiment_name = str(tmp_path / 'straight'), 'sigkill_straight'
    straight = Runner.from_cfg(cfg)
    straight.train()

    out, _ = killed.communicate(timeout=600)
    assert killed.returncode == -signal.SIGKILL, out[-3000:]
    assert (killed_dir / 'last_checkpoint').read_text().strip().endswith('epoch_1.pth')
    assert not (killed_dir / 'epoch_2.pth').exists()

    resumed = subprocess.run(_command(config, killed_dir, '--resume'), env=_env(config),
                             timeout=600, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert 'resumed epoch: 1, iter: 3' in resumed.stdout

    got = torch.load(killed_dir / 'epoch_3.pth', map_location='cpu')
    assert got['meta']['iter'] == straight.iter == 9
    expected = straight.model.state_dict()
    assert got['state_dict'].keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(got['state_dict'][key], value), key
    expected_optim = straight.optim_wrapper.state_dict()['state']
    for param_id, state in expected_optim.items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(got['optimizer']['state'][param_id][name]),
                               torch.as_tensor(value)), (param_id, name)
