"""Save -> load round trip of mmengine Runner checkpoints under torch >= 2.6."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import s3pt_mm  # noqa: F401  (registers the checkpoint allow-list)
from s3pt_mm.utils import load_trusted_checkpoint


class _ToyModel(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 1)

    def forward(self, inputs, targets, mode='tensor'):
        if mode == 'loss':
            return dict(loss=((self.linear(inputs) - targets) ** 2).mean())
        return self.linear(inputs)


class _ToyData(Dataset):

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict:
        x = torch.tensor([i, 2.0 * i, 1.0]) / 8
        return dict(inputs=x, targets=x.sum(0, keepdim=True))


def _runner(work_dir, max_iters, resume=False, load_from=None) -> Runner:
    torch.manual_seed(0)  # the same initial weights in every run
    return Runner(
        model=_ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(dataset=_ToyData(), sampler=dict(type='DefaultSampler', shuffle=True),
                              batch_size=2, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=7),
        resume=resume,
        load_from=load_from,
        experiment_name=f'toy_{max_iters}_{resume}',
    )


def _numpy_values(obj) -> list:
    """Every numpy scalar/array nested anywhere in ``obj`` (dicts, lists, objects)."""
    if isinstance(obj, (np.generic, np.ndarray)):
        return [obj]
    if isinstance(obj, dict):
        return [v for x in obj.values() for v in _numpy_values(x)]
    if isinstance(obj, (list, tuple)):
        return [v for x in obj for v in _numpy_values(x)]
    if hasattr(obj, '__dict__'):
        return _numpy_values(vars(obj))
    return []


def test_runner_checkpoint_round_trip(tmp_path):
    straight = _runner(tmp_path / 'straight', max_iters=4)
    straight.train()

    first = _runner(tmp_path / 'resumed', max_iters=2)
    first.train()
    ckpt_path = tmp_path / 'resumed' / 'iter_2.pth'
    # The meta of a Runner checkpoint holds numpy values: exactly what broke under torch >= 2.6.
    raw = load_trusted_checkpoint(ckpt_path)
    # mmengine keeps its logged history as numpy arrays in HistoryBuffers.
    assert _numpy_values(raw['message_hub']), 'expected numpy values in the message hub'

    # Safe loading (weights_only=True, torch's default) reads it back...
    safe = torch.load(ckpt_path, map_location='cpu')
    assert safe['meta']['iter'] == 2
    # ...and resuming continues to the same weights as an uninterrupted run.
    resumed = _runner(tmp_path / 'resumed', max_iters=4, resume=True, load_from=str(ckpt_path))
    resumed.train()
    assert resumed.iter == 4
    assert resumed.message_hub.get_scalar('train/loss').data[0].shape == (4,)
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)


def test_untrusted_globals_still_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'payload': pickle.PicklingError('not allowed')}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    assert isinstance(load_trusted_checkpoint(path)['payload'], pickle.PicklingError)


def test_trusted_loader_names_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        load_trusted_checkpoint(tmp_path / 'missing.pth')


def test_numpy_values_in_meta_load_safely(tmp_path):
    runner = _runner(tmp_path, max_iters=1)
    runner.train()
    runner.save_checkpoint(str(tmp_path), 'extra.pth',
                           meta=dict(best_miou=np.float64(0.425), step=np.int64(3),
                                     hist=np.arange(4, dtype=np.float32)))
    meta = torch.load(tmp_path / 'extra.pth', map_location='cpu')['meta']
    assert meta['best_miou'] == np.float64(0.425) and meta['step'] == 3
    np.testing.assert_array_equal(meta['hist'], [0, 1, 2, 3])
    # mmengine's own loader (what Runner.resume/load_checkpoint call) reads it too.
    from mmengine.runner.checkpoint import _load_checkpoint
    assert _load_checkpoint(str(tmp_path / 'extra.pth'))['meta']['step'] == 3
