"""tools/train.py switches (mmpretrain's convention): --amp, --auto-scale-lr, --no-pin-memory,
--no-persistent-workers, checked on the resolved config; the pre-training schedule is fp32."""
import importlib.util
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
SCHEDULE = REPO / 'configs/_base_/schedules/adamw_500e.py'


def _train_module():
    spec = importlib.util.spec_from_file_location('train_tool', REPO / 'tools/train.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train = _train_module()


@pytest.fixture
def config(tmp_path) -> Path:
    """The pre-training schedule with three dataloaders (pinned, persistent workers)."""
    path = tmp_path / 'cfg.py'
    loader = "dict(batch_size=4, num_workers=2, pin_memory=True, persistent_workers=True)"
    path.write_text(f"_base_ = [{str(SCHEDULE)!r}]\n"
                    f"train_dataloader = {loader}\nval_dataloader = {loader}\n"
                    f"test_dataloader = {loader}\n")
    return path


def _resolve(config, tmp_path, *flags):
    args = train.parse_args([str(config), '--work-dir', str(tmp_path / 'work'), *flags])
    return train.build_config(args)


def test_schedule_base_is_fp32_without_loss_scale():
    optim = Config.fromfile(str(SCHEDULE)).optim_wrapper
    assert optim.type == 'OptimWrapper' and 'loss_scale' not in optim


def test_no_flags_keep_the_config(config, tmp_path):
    cfg = _resolve(config, tmp_path)
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert cfg.auto_scale_lr.get('enable', False) is False
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].pin_memory is True and cfg[loader].persistent_workers is True


def test_amp(config, tmp_path):
    optim = _resolve(config, tmp_path, '--amp').optim_wrapper
    assert optim.type == 'AmpOptimWrapper' and optim.loss_scale == 'dynamic'
    assert optim.optimizer.type == 'AdamW'  # the rest unchanged
    # An explicit loss scale from the command line is kept.
    optim = _resolve(config, tmp_path, '--amp', '--cfg-options',
                     'optim_wrapper.loss_scale=512.0').optim_wrapper
    assert optim.loss_scale == 512.0


def test_amp_refuses_another_wrapper(config, tmp_path):
    with pytest.raises(ValueError, match="optim_wrapper.type='MyWrapper'"):
        _resolve(config, tmp_path, '--amp', '--cfg-options', 'optim_wrapper.type=MyWrapper')


def test_auto_scale_lr(config, tmp_path):
    cfg = _resolve(config, tmp_path, '--auto-scale-lr')
    assert cfg.auto_scale_lr == dict(base_batch_size=256, enable=True)
    path = tmp_path / 'no_base.py'
    path.write_text("optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1))\n")
    with pytest.raises(ValueError, match='no_base.py has no auto_scale_lr.base_batch_size'):
        _resolve(path, tmp_path, '--auto-scale-lr')


def test_no_pin_memory_and_no_persistent_workers(config, tmp_path):
    cfg = _resolve(config, tmp_path, '--no-pin-memory')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].pin_memory is False and cfg[loader].persistent_workers is True
    cfg = _resolve(config, tmp_path, '--no-persistent-workers')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].pin_memory is True and cfg[loader].persistent_workers is False
