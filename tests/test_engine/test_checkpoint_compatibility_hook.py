"""Resuming from a checkpoint of another model or optimizer is refused before anything loads."""
import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import s3pt_mm  # noqa: F401
from s3pt_mm.engine import CheckpointMismatchError
from s3pt_mm.engine.schedule_fit import drop_schedulers_after_the_run
from s3pt_mm.engine.hooks.checkpoint_compatibility_hook import (model_mismatches,
                                                                optimizer_mismatches)


class _Toy(BaseModel):

    def __init__(self, width: int = 2) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(width, 1)

    def forward(self, inputs, mode='tensor'):
        return dict(loss=self.linear(inputs[..., :self.linear.in_features]).pow(2).mean())


class _Data(Dataset):

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=torch.tensor([float(index), 1.0, 2.0]))


def _runner(work_dir, width=2, optimizer='SGD', resume_from=None, name='') -> Runner:
    return Runner(
        model=_Toy(width), work_dir=str(work_dir),
        train_dataloader=dict(dataset=_Data(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type=optimizer, lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        custom_hooks=[dict(type='CheckpointCompatibilityHook')],
        resume=resume_from is not None, load_from=resume_from,
        experiment_name=f'compat_{width}_{optimizer}_{resume_from is not None}_{name}')


@pytest.fixture
def toy_checkpoint(tmp_path):
    first = _runner(tmp_path / 'first', name='first')
    first.train()
    path = tmp_path / 'first' / 'epoch_1.pth'
    meta = torch.load(path, map_location='cpu')['meta']
    assert (meta['model_type'], meta['optimizer_type']) == ('_Toy', 'SGD')
    return path


def test_resume_with_another_model_is_refused(toy_checkpoint, tmp_path):
    runner = _runner(tmp_path / 'wide', width=3, resume_from=str(toy_checkpoint), name='wide')
    before = runner.model.linear.weight.detach().clone()
    with pytest.raises(CheckpointMismatchError) as err:
        runner.train()
    message = str(err.value)
    assert str(toy_checkpoint) in message
    assert 'linear.weight: checkpoint (1, 2) vs model (1, 3)' in message
    assert torch.equal(runner.model.linear.weight, before)  # nothing was loaded


def test_resume_with_another_optimizer_is_refused(toy_checkpoint, tmp_path):
    runner = _runner(tmp_path / 'adam', optimizer='Adam', resume_from=str(toy_checkpoint),
                     name='adam')
    with pytest.raises(CheckpointMismatchError, match="its optimizer is SGD, the config's Adam"):
        runner.train()


def test_resume_with_the_same_config_passes(toy_checkpoint, tmp_path):
    runner = _runner(tmp_path / 'same', resume_from=str(toy_checkpoint), name='same')
    runner.train()
    assert runner.iter == 4


def test_optimizer_and_model_mismatches():
    a, b = torch.nn.Linear(2, 3), torch.nn.Linear(4, 3)
    opt_a = torch.optim.Adam(a.parameters())
    a(torch.ones(1, 2)).sum().backward()
    opt_a.step()
    state = opt_a.state_dict()
    assert optimizer_mismatches(torch.optim.Adam(torch.nn.Linear(2, 3).parameters()), state) == []
    problems = optimizer_mismatches(torch.optim.Adam(b.parameters()), state)
    assert problems == ["group 0 parameter 0: optimizer state 'exp_avg' has shape (3, 2), "
                        'the parameter (3, 4)']
    two_groups = torch.optim.Adam([{'params': [b.weight]}, {'params': [b.bias]}])
    assert optimizer_mismatches(two_groups, state) == [
        "the checkpoint has 1 parameter groups, the config's optimizer 2"]
    wrapped = {'module.' + k: v for k, v in a.state_dict().items()}
    assert model_mismatches(a.state_dict(), wrapped) == []
    problems = model_mismatches(b.state_dict(), dict(a.state_dict(), extra=torch.zeros(1)))
    assert problems == ['1 checkpoint entries are not in the model (extra)',
                        '1 entries differ in shape (weight: checkpoint (3, 2) vs model (3, 4))']


def test_dino_config_refuses_an_s3pt_checkpoint(tiny_s3pt_config, tmp_path):
    """The issue's case: resuming an S3PT run under a DINO config (same model class)."""
    cfg = Config.fromfile(str(tiny_s3pt_config(max_epochs=1)))
    cfg.work_dir, cfg.experiment_name = str(tmp_path / 's3pt'), 'compat_s3pt'
    drop_schedulers_after_the_run(cfg)  # the cosine from epoch 2 (as tools/train.py does)
    Runner.from_cfg(cfg).train()
    checkpoint = tmp_path / 's3pt' / 'epoch_1.pth'

    dino = Config.fromfile(str(tiny_s3pt_config(max_epochs=2, name='tiny_dino.py')))
    # configs/_base_/models/dino_vit-s16.py's difference from S3PT, on the tiny model.
    dino.merge_from_dict({'model.head.use_vmf': False, 'model.head.centering': 'logit',
                          'model.head.with_object_head': False, 'model.assigner': None,
                          'model.queue': None})
    dino.work_dir, dino.experiment_name = str(tmp_path / 'dino'), 'compat_dino'
    drop_schedulers_after_the_run(dino)
    dino.resume, dino.load_from = True, str(checkpoint)
    with pytest.raises(CheckpointMismatchError) as err:
        Runner.from_cfg(dino).train()
    message = str(err.value)
    assert f'cannot resume from {checkpoint}' in message
    assert 'checkpoint entries are not in the model' in message and 'queue.' in message
