from .epoch_seeded_sampler import EpochSeededSampler

__all__ = ['EpochSeededSampler']
