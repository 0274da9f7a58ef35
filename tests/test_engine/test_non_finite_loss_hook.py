"""A non-finite loss stops training with an error naming the iteration and the loss term, and
``last_checkpoint`` keeps naming a complete checkpoint."""
import math

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import s3pt_mm  # noqa: F401
from s3pt_mm.engine import NonFiniteLossError, checkpoint_problem
from s3pt_mm.engine.hooks.non_finite_loss_hook import non_finite_terms


class _BlowsUp(BaseModel):
    """A linear model whose ``loss_depth`` term becomes ``value`` from iteration ``at`` on."""

    def __init__(self, at: int, value: float) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)
        self.at, self.value, self.calls = at, value, 0

    def forward(self, inputs, mode='tensor'):
        out = self.linear(inputs).mean()
        self.calls += 1
        bad = self.calls > self.at
        depth = (out.abs() + 1) * (self.value if bad else 0.5)
        return dict(loss_global=out ** 2, loss_depth=depth, kappa_mean=out.detach() * math.inf)


class _Data(Dataset):

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=torch.tensor([float(index), 1.0]))


def _runner(tmp_path, at: int, value: float) -> Runner:
    return Runner(
        model=_BlowsUp(at, value), work_dir=str(tmp_path),
        train_dataloader=dict(dataset=_Data(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=4),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='NonFiniteLossHook')],
        experiment_name=f'non_finite_{at}_{value}')


@pytest.mark.parametrize('value', [math.nan, math.inf])
def test_training_stops_at_the_first_non_finite_loss(tmp_path, value):
    runner = _runner(tmp_path, at=5, value=value)
    with pytest.raises(NonFiniteLossError) as err:
        runner.train()
    message = str(err.value)
    # Iteration 6 (1-based) is the 2nd batch of epoch 3; only the bad term is named, the
    # infinite statistic `kappa_mean` is not a loss.
    assert 'iteration 6 (epoch 3, batch 2)' in message
    assert f'loss_depth={value}' in message and 'loss_global' not in message
    assert 'kappa_mean' not in message and 'iter_5.pth' in message
    # Checkpoints after every iteration: iterations 1-5 written, nothing after the bad one.
    assert not (tmp_path / 'iter_6.pth').exists()
    last = (tmp_path / 'last_checkpoint').read_text().strip()
    assert last.endswith('iter_5.pth') and checkpoint_problem(last) is None
    state = torch.load(last, map_location='cpu')['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values())


def test_non_finite_terms_reads_tensors_and_numbers():
    outputs = dict(loss=torch.tensor(math.nan), loss_a=torch.tensor([1.0, math.inf]),
                   loss_b=2.0, loss_c=-math.inf, entropy=math.nan)
    bad = non_finite_terms(outputs)
    assert list(bad) == ['loss', 'loss_a', 'loss_c']
    assert math.isinf(bad['loss_a']) and bad['loss_c'] == -math.inf
    assert non_finite_terms(None) == {} and non_finite_terms(dict(loss=1.0)) == {}
