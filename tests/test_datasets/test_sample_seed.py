"""Per-sample augmentation seeds: (seed, epoch, index) decide every random draw of a sample."""
import pickle
import random

import numpy as np
import pytest
import torch
from mmengine.dataset import DefaultSampler

from s3pt_mm.datasets import EpochSeededSampler, MultiCropWithDepth, SampleIndex
from s3pt_mm.datasets.sample_seed import augmentation_key, sample_random_state


def test_sample_index_is_the_index_and_carries_seed_and_epoch():
    index = SampleIndex(7, seed=3, epoch=2)
    assert index == 7 and isinstance(index, int) and list(range(10))[index] == 7
    assert index.augmentation_key == (3, 2, 7)
    copy = pickle.loads(pickle.dumps(index))  # what reaches a dataloader worker
    assert isinstance(copy, SampleIndex) and copy.augmentation_key == (3, 2, 7)
    assert augmentation_key(dict(sample_idx=index)) == (3, 2, 7)
    assert augmentation_key(dict(sample_idx=7)) is None and augmentation_key({}) is None


def _draws():
    return np.random.rand(3).tolist(), random.random()


def test_sample_random_state_is_a_function_of_the_key_and_restores_the_caller():
    np.random.seed(123)
    random.seed(123)
    outside = _draws()
    np.random.seed(123)
    random.seed(123)
    with sample_random_state((0, 1, 5)):
        first = _draws()
    assert _draws() == outside  # the caller's streams continue as if nothing happened
    np.random.seed(999)  # another global state, same key: same draws
    with sample_random_state((0, 1, 5)):
        assert _draws() == first
    for other in ((1, 1, 5), (0, 2, 5), (0, 1, 6)):
        with sample_random_state(other):
            assert _draws()[0] != first[0]
    with pytest.raises(ValueError, match='must be >= 0'):
        with sample_random_state((0, -1, 5)):
            pass


def test_epoch_seeded_sampler_is_default_sampler_with_keys():
    dataset = list(range(10))
    ours = EpochSeededSampler(dataset, shuffle=True, seed=4)
    reference = DefaultSampler(dataset, shuffle=True, seed=4)
    for epoch in (0, 3):
        ours.set_epoch(epoch)
        reference.set_epoch(epoch)
        indices = list(ours)
        assert indices == list(reference)
        assert all(i.augmentation_key == (4, epoch, int(i)) for i in indices)


def _sample(index):
    rng = np.random.default_rng(0)
    return dict(img=rng.integers(0, 256, (60, 90, 3), dtype=np.uint8),
                depth=rng.uniform(1, 50, (60, 90)).astype(np.float32), sample_idx=index)


def _views(results):
    return (b''.join(v.tobytes() for v in results['img']), results['crop_boxes'].tolist(),
            results['crop_flips'].tolist(), results['token_depth'].numpy().tobytes())


def test_multi_crop_draws_are_seeded_per_sample():
    """Crops, flips and the DINO photometric recipe depend only on (seed, epoch, index)."""
    transform = MultiCropWithDepth(global_crop_size=32, num_local_crops=2, local_crop_size=16,
                                   patch_size=16)
    np.random.seed(0)
    first = _views(transform(_sample(SampleIndex(3, seed=0, epoch=1))))
    state = np.random.get_state()[1].copy()
    np.random.seed(1)
    np.random.rand(17)  # any other global state
    again = _views(transform(_sample(SampleIndex(3, seed=0, epoch=1))))
    assert again == first
    np.random.seed(0)
    transform(_sample(SampleIndex(3, seed=0, epoch=1)))
    assert np.array_equal(np.random.get_state()[1], state)  # the global state is untouched
    other_epoch = _views(transform(_sample(SampleIndex(3, seed=0, epoch=2))))
    assert other_epoch[0] != first[0] and other_epoch[1] != first[1]
    # Unseeded samples keep drawing from the global state (and advance it).
    np.random.seed(0)
    a = _views(transform(_sample(3)))
    b = _views(transform(_sample(3)))
    assert a[1] != b[1]


def test_photometric_ops_are_covered_by_the_seed():
    """Same crop geometry, different photometric draws -> the images differ; same key -> not."""
    transform = MultiCropWithDepth(global_crop_size=32, patch_size=16,
                                   global_crop_scale=(1.0, 1.0), aspect_ratio_range=(1.5, 1.5),
                                   flip_prob=0.0)
    outputs = {epoch: transform(_sample(SampleIndex(0, seed=0, epoch=epoch)))['img'][0]
               for epoch in range(6)}
    assert len({v.tobytes() for v in outputs.values()}) > 1  # jitter/blur drawn per epoch
    for epoch, view in outputs.items():
        again = transform(_sample(SampleIndex(0, seed=0, epoch=epoch)))['img'][0]
        assert np.array_equal(again, view)
    assert torch.is_tensor(transform(_sample(SampleIndex(0, 0, 0)))['token_pos'])
