"""mmengine's DefaultSampler whose indices carry (seed, epoch) for per-sample augmentation."""
from typing import Iterator

from mmengine.dataset import DefaultSampler
from mmengine.registry import DATA_SAMPLERS

from ..sample_seed import SampleIndex


@DATA_SAMPLERS.register_module()
class EpochSeededSampler(DefaultSampler):
    """:class:`mmengine.dataset.DefaultSampler` yielding :class:`SampleIndex` objects.

    Same order, padding and rank split as ``DefaultSampler`` (``randperm`` seeded by
    ``seed + epoch``); each index also carries ``seed`` and the epoch set by
    ``DistSamplerSeedHook``, from which transforms seed their random draws
    (:func:`s3pt_mm.datasets.sample_seed.sample_random_state`). The data of an epoch is
    therefore independent of ``num_workers``, ``persistent_workers``, the number of ranks and
    the point a run was resumed from (docs/resuming.md).

    Registered in mmengine's root registry, so every scope (mmpretrain, mmseg, mmdet3d) finds it.

    Args:
        dataset (Sized): the dataset.
        shuffle (bool): shuffle every epoch. Defaults to True.
        seed (int, optional): the same on every rank; mmengine's Runner passes the run's seed
            (or a seed synchronised from rank 0). Defaults to None.
        round_up (bool): pad to a multiple of the world size. Defaults to True.
    """

    def __iter__(self) -> Iterator[SampleIndex]:
        seed, epoch = self.seed, self.epoch
        return (SampleIndex(index, seed, epoch) for index in super().__iter__())
