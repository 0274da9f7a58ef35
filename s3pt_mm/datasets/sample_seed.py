"""Per-sample augmentation randomness, seeded by (seed, epoch, sample index).

Why: mmengine seeds every dataloader worker once (``seed + worker_id``) and never saves the
workers' random state. Augmentations drawn from that state therefore depend on how many
workers there are, on whether they persist across epochs, and on where a run was resumed:
a resumed run sees different crops than the uninterrupted one would have.

Here every sample's random draws come from a generator seeded by ``(seed, epoch, index)``:
:class:`SampleIndex` carries the three numbers from the sampler (which knows the seed and the
epoch, :class:`~s3pt_mm.datasets.samplers.EpochSeededSampler`) through the dataset into
``results['sample_idx']``, and :func:`sample_random_state` makes the global ``numpy.random``
and ``random`` states a pure function of them while a transform draws, restoring the caller's
state afterwards. The data of a given (epoch, index) is then the same whatever the worker count,
persistence or resume point (docs/resuming.md).
"""
import random
from contextlib import contextmanager
from typing import Iterator, Mapping, Optional, Tuple

import numpy as np

__all__ = ['SampleIndex', 'augmentation_key', 'sample_random_state']


class SampleIndex(int):
    """A dataset index that also carries the seed and epoch of the draw that produced it.

    It *is* the index (an ``int``), so datasets index with it unchanged; mmengine's
    ``BaseDataset.get_data_info`` stores it as ``results['sample_idx']``, where transforms find
    :attr:`augmentation_key`. It pickles to dataloader workers with its extra fields.

    Args:
        index (int): the dataset index (>= 0).
        seed (int): the run's sampler seed (the same on every rank).
        epoch (int): the epoch the index was drawn for.
    """

    def __new__(cls, index: int, seed: int, epoch: int) -> 'SampleIndex':
        obj = super().__new__(cls, index)
        obj.seed = int(seed)
        obj.epoch = int(epoch)
        return obj

    def __reduce__(self):
        return SampleIndex, (int(self), self.seed, self.epoch)

    @property
    def augmentation_key(self) -> Tuple[int, int, int]:
        """``(seed, epoch, index)``: everything the sample's random draws may depend on."""
        return self.seed, self.epoch, int(self)


def augmentation_key(results: Mapping) -> Optional[Tuple[int, int, int]]:
    """The ``(seed, epoch, index)`` of a pipeline's sample, or None when it was not seeded.

    Args:
        results (Mapping): a pipeline's results dict.

    Returns:
        tuple or None: the key carried by ``results['sample_idx']`` when that is a
        :class:`SampleIndex`, else None.
    """
    index = results.get('sample_idx')
    return index.augmentation_key if isinstance(index, SampleIndex) else None


@contextmanager
def sample_random_state(key: Optional[Tuple[int, int, int]]) -> Iterator[None]:
    """Make ``numpy.random`` and ``random`` a pure function of ``key`` inside the block.

    The states are derived with :class:`numpy.random.SeedSequence` (well-separated streams for
    neighbouring seeds, epochs and indices) and the caller's states are restored on exit, so
    nothing outside the block sees a difference. Third-party transforms that draw from the
    global ``numpy.random`` (mmpretrain's ColorJitter, GaussianBlur, ...) become seeded too.
    With ``key=None`` the block draws from the current global state, as before.

    Args:
        key (tuple or None): ``(seed, epoch, index)``, non-negative integers.

    Raises:
        ValueError: if a component of ``key`` is negative.
    """
    if key is None:
        yield
        return
    if min(key) < 0:
        raise ValueError(f'augmentation key (seed, epoch, index) must be >= 0, got {key}')
    sequence = np.random.SeedSequence(list(key))
    np_state, py_state = np.random.get_state(), random.getstate()
    np.random.set_state(np.random.RandomState(np.random.MT19937(sequence)).get_state())
    random.seed(int(sequence.generate_state(2, np.uint64)[0]))
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
