"""Seed torch's generators per training iteration, so that the model's random ops (drop path,
dropout) depend on (seed, iteration, rank) only."""
import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


def iteration_seed(seed: int, iteration: int, rank: int) -> int:
    """A 63-bit torch seed derived from ``(seed, iteration, rank)`` (``SeedSequence`` mixing).

    Args:
        seed (int): the run's seed (``runner.seed``).
        iteration (int): the 0-based training iteration.
        rank (int): the process rank.

    Returns:
        int: a seed for :func:`torch.manual_seed`.
    """
    words = [int(seed) % 2**63, int(iteration), int(rank)]
    return int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0] >> np.uint64(1))


@HOOKS.register_module()
class IterationSeedHook(Hook):
    """Before every training iteration, ``torch.manual_seed(iteration_seed(seed, iter, rank))``.

    mmengine seeds torch once at start-up and does not checkpoint the generator's state; the
    state then also moves with things unrelated to the model (a ``DataLoader`` draws its
    workers' base seed from it at every non-persistent epoch start). A resumed run, or one with
    other loader settings, would draw other drop-path masks. Seeding per iteration makes the
    model's randomness a function of ``(seed, iteration, rank)``, like the augmentation is of
    ``(seed, epoch, sample)`` (``EpochSeededSampler``): a resume from any checkpoint, epoch-end
    or mid-epoch, continues with exactly the draws of the uninterrupted run.
    ``torch.manual_seed`` seeds the CPU and every CUDA generator.

    NumPy and ``random`` are left alone (the model does not use them; the data pipeline seeds
    its own draws).
    """

    priority = 'VERY_HIGH'

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        torch.manual_seed(iteration_seed(runner.seed, runner.iter, get_dist_info()[0]))
