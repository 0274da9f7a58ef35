"""LoadPrecomputedDepth: reads what save_depth_png wrote; refuses missing or mismatched files."""
import numpy as np
import pytest
import torch

from s3pt_mm.datasets import LoadPrecomputedDepth, MultiCropWithDepth
from s3pt_mm.datasets.depth_io import save_depth_png


def test_reads_the_stored_depth(tmp_path):
    depth = np.random.default_rng(0).uniform(0, 80, (30, 40)).astype(np.float32)
    path = tmp_path / 'CAM_FRONT' / 'a.png'
    save_depth_png(path, depth)
    img = np.zeros((30, 40, 3), np.uint8)
    metres = LoadPrecomputedDepth(to_float32=True)(dict(depth_path=str(path), img=img))
    assert metres['depth'].dtype == np.float32 and metres['depth_scale'] == 1.0
    valid = depth > 0.1
    assert np.array_equal(metres['depth'] > 0.1, valid)
    assert np.abs(metres['depth'][valid] - depth[valid]).max() <= 0.005 + 1e-5
    # Default: the stored centimetres, converted later per view.
    stored = LoadPrecomputedDepth()(dict(depth_path=str(path), img=img))
    assert stored['depth'].dtype == np.uint16 and stored['depth_scale'] == 0.01
    np.testing.assert_array_equal(stored['depth'].astype(np.float32) * np.float32(0.01),
                                  metres['depth'])


def test_views_of_stored_centimetres_equal_views_of_metres(tmp_path):
    rng = np.random.default_rng(1)
    depth = rng.uniform(0, 80, (90, 160)).astype(np.float32)
    path = tmp_path / 'b.png'
    save_depth_png(path, depth)
    img = np.zeros((90, 160, 3), np.uint8)
    crop = MultiCropWithDepth(global_crop_size=32, global_photometric=[[], []])
    outs = []
    for to_float32 in (False, True):
        np.random.seed(2)
        load = LoadPrecomputedDepth(to_float32)
        outs.append(crop(load(dict(depth_path=str(path), img=img))))
    np.testing.assert_array_equal(outs[0]['view_depth'], outs[1]['view_depth'])
    assert torch.equal(outs[0]['token_depth'], outs[1]['token_depth'])
    assert outs[0]['view_depth'].dtype == np.float32


def test_missing_mismatched_or_unset(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'sample 3: .*gone\.png.*precompute_depth\.py'):
        LoadPrecomputedDepth()(dict(sample_idx=3, depth_path=str(tmp_path / 'gone.png')))
    path = tmp_path / 'small.png'
    save_depth_png(path, np.ones((15, 20), np.float32))
    with pytest.raises(ValueError, match=r'small\.png.* is 15x20 .*image is 30x40'):
        LoadPrecomputedDepth()(dict(depth_path=str(path), img=np.zeros((30, 40, 3), np.uint8)))
    with pytest.raises(KeyError, match='depth_prefix'):
        LoadPrecomputedDepth()(dict(sample_idx=3))
