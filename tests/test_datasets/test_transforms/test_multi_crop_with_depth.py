"""MultiCropWithDepth: one drawn crop moves image, positions and depth together.

Crop consistency on synthetic scenes: the generator's ground-truth dense depth stands in for
the completed depth; for every drawn view the test recomputes, independently of the
implementation (float positions from the recorded crop box and flip, no integer tricks),
where each view pixel's centre falls in the original image, and checks that

- the view depth is the ground truth of the original pixel containing that centre (exact:
  nearest neighbour, no blending),
- the token position is the mean of its patch's pixel centres,
- the token depth is the mean of the patch's valid ground-truth pixels,
- the view image (nearest-neighbour resize, no photometric ops) is the original image at the
  same pixels, i.e. image, positions and depth agree.
"""
import numpy as np
import pytest
import torch
from mmpretrain.datasets.transforms import PackInputs

from s3pt_mm.datasets import MultiCropWithDepth, NuScenesCameraDataset
from s3pt_mm.datasets.transforms.multi_crop_with_depth import (DINO_GLOBAL_PHOTOMETRIC,
                                                               DINO_LOCAL_PHOTOMETRIC)


def _centres(box, flip, size):
    """Float pixel-centre coordinates of a size x size view of crop box (x0, y0, x1, y1);
    original pixel k is centred on k and spans [k - 1/2, k + 1/2)."""
    x0, y0, x1, y1 = box
    k = np.arange(size) + 0.5
    xs = x0 - 0.5 + k * (x1 - x0) / size
    ys = y0 - 0.5 + k * (y1 - y0) / size
    return (xs[::-1] if flip else xs), ys


def _floor_or_tie(coords):
    """The pixel containing c, floor(c + 1/2), and whether c sits on a pixel border (either
    neighbour then contains it)."""
    shifted = coords + 0.5
    return np.floor(shifted).astype(int), np.abs(shifted - np.round(shifted)) < 1e-9


@pytest.fixture(scope='module')
def gt_scenes(synthetic_nuscenes, gt_depth_of):
    """(image BGR, ground-truth depth) of every camera image of the synthetic dataset."""
    ds = NuScenesCameraDataset(data_root=str(synthetic_nuscenes),
                               ann_file='nuscenes_infos_train.pkl',
                               pipeline=[dict(type='LoadImageFromFile')])
    return [(ds[i]['img'], gt_depth_of(synthetic_nuscenes, ds.get_data_info(i)))
            for i in range(len(ds))]


@pytest.mark.parametrize('backend', ['pillow', 'cv2'])
def test_crops_carry_ground_truth_depth(gt_scenes, backend, capsys):
    patch, size = 16, 64
    # Area range down to 1 %: both shrinking (up to 320 -> 64) and enlarging crops.
    transform = MultiCropWithDepth(
        num_global_crops=2, global_crop_size=size, global_crop_scale=(0.01, 1.0),
        interpolation='nearest', backend=backend, global_photometric=[[], []],
        patch_size=patch)
    np.random.seed(0)
    depth_err, pos_err, views, ties, flips = 0.0, 0.0, 0, 0, 0
    for img, gt in gt_scenes:
        for _ in range(4):
            out = transform(dict(img=img, depth=gt))
            for v in range(2):
                box = out['crop_boxes'][v].tolist()
                flip = bool(out['crop_flips'][v])
                xs, ys = _centres(box, flip, size)
                cols, col_tie = _floor_or_tie(xs)
                rows, row_tie = _floor_or_tie(ys)
                # Depth and image: the original pixel containing each view pixel's centre;
                # a centre on a pixel border (tie) may take either neighbour.
                view_depth = out['view_depth'][v]
                tie = row_tie[:, None] | col_tie[None, :]
                ties += int(tie.sum())
                for name, view, source in (('depth', view_depth, gt),
                                           ('image', out['img'][v], img)):
                    ok = np.zeros(view.shape[:2], bool)
                    for dr in (0, 1):
                        for dc in (0, 1):
                            r = rows - dr * row_tie
                            c = cols - dc * col_tie
                            same = view == source[r[:, None], c[None, :]]
                            ok |= same.all(-1) if same.ndim == 3 else same
                    exact = view[~tie] == source[rows[:, None], cols[None, :]][~tie]
                    assert bool(np.all(exact)) and bool(ok.all()), (name, box, flip)
                # Token positions: mean of the patch's pixel centres (original pixels).
                gx = xs.reshape(-1, patch).mean(1)
                gy = ys.reshape(-1, patch).mean(1)
                expected_pos = np.stack(np.meshgrid(gx, gy, indexing='xy'), -1).reshape(-1, 2)
                pos_err = max(pos_err, float(np.abs(out['token_pos'][v].numpy()
                                                    - expected_pos).max()))
                # Token depths: mean of the valid GT pixels of each patch, patch by patch.
                n = size // patch
                for t in range(n * n):
                    r, c = divmod(t, n)
                    block = view_depth[r * patch:(r + 1) * patch, c * patch:(c + 1) * patch]
                    valid = block[block > 0.1]
                    assert bool(out['token_depth_valid'][v, t]) == (valid.size > 0)
                    want = valid.astype(np.float64).mean() if valid.size else 0.0
                    depth_err = max(depth_err, abs(float(out['token_depth'][v, t]) - want))
                views += 1
                flips += flip
    assert pos_err < 1e-3  # float32 of coordinates < 320
    assert depth_err < 1e-4  # float32 of means of depths < 100 m
    assert 0.3 < flips / views < 0.7
    with capsys.disabled():
        print(f'\n[crop consistency, {backend}] {views} views: view depth == GT exactly '
              f'({ties} pixels on a border tie matched a neighbour), max token position '
              f'error {pos_err:.2e} px, max token depth error {depth_err:.2e} m')


def test_token_depth_marks_patches_without_depth_invalid():
    img = np.zeros((64, 64, 3), np.uint8)
    depth = np.full((64, 64), 20.0, np.float32)
    depth[:32, :32] = 0.0   # no depth at all
    depth[32:, 32:] = 0.05  # below the 0.1 m validity threshold
    depth[40, 40] = 7.0     # one valid pixel in that quadrant
    transform = MultiCropWithDepth(num_global_crops=1, global_crop_size=64,
                                   global_crop_scale=(1.0, 1.0), aspect_ratio_range=(1, 1),
                                   flip_prob=0.0, global_photometric=[[]], patch_size=32)
    out = transform(dict(img=img, depth=depth))
    assert out['crop_boxes'].tolist() == [[0, 0, 64, 64]]
    assert out['token_depth_valid'].tolist() == [[False, True, True, True]]
    assert out['token_depth'].tolist() == [[0.0, 20.0, 20.0, 7.0]]
    # Positions: patch centres in original pixels (pixel k centred on k): the 32x32 patch
    # of pixels 0..31 has its centre at 15.5.
    assert out['token_pos'][0].tolist() == [[15.5, 15.5], [47.5, 15.5], [15.5, 47.5],
                                            [47.5, 47.5]]


def test_flip_mirrors_image_positions_and_depth():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
    depth = rng.uniform(1, 50, (48, 80)).astype(np.float32)
    outs = []
    for flip_prob in (0.0, 1.0):
        np.random.seed(5)  # same crop box, flip or not
        outs.append(MultiCropWithDepth(num_global_crops=1, global_crop_size=32,
                                       flip_prob=flip_prob, global_photometric=[[]],
                                       patch_size=8)(dict(img=img, depth=depth)))
    plain, flipped = outs
    assert plain['crop_boxes'].tolist() == flipped['crop_boxes'].tolist()
    np.testing.assert_array_equal(flipped['img'][0], plain['img'][0][:, ::-1])
    np.testing.assert_array_equal(flipped['view_depth'][0], plain['view_depth'][0][:, ::-1])
    mirrored = plain['token_pos'][0].reshape(4, 4, 2).flip(1).reshape(16, 2)
    torch.testing.assert_close(flipped['token_pos'][0], mirrored)
    torch.testing.assert_close(flipped['token_depth'][0],
                               plain['token_depth'][0].reshape(4, 4).flip(1).reshape(16))


def test_photometric_ops_touch_only_the_image():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    depth = rng.uniform(1, 50, (90, 160)).astype(np.float32)
    plain = MultiCropWithDepth(global_crop_size=32, patch_size=16, global_photometric=[[], []])
    dino = MultiCropWithDepth(global_crop_size=32, patch_size=16)  # DINO recipe
    np.random.seed(3)
    a = plain(dict(img=img, depth=depth))
    np.random.seed(3)
    b = dino(dict(img=img, depth=depth))
    # Photometric ops draw their randomness after the geometry, so the geometry is shared.
    assert a['crop_boxes'].tolist() == b['crop_boxes'].tolist()
    for key in ('token_pos', 'token_depth', 'token_depth_valid'):
        assert torch.equal(a[key], b[key])
    np.testing.assert_array_equal(a['view_depth'], b['view_depth'])
    # View 1 is always blurred (p = 1.0), so its image changes.
    assert np.abs(a['img'][0].astype(int) - b['img'][0].astype(int)).mean() > 1.0


def test_recipe_probabilities_follow_dino():
    def find(pipeline, name):
        return [t for t in pipeline if t['type'] == name]

    view1, view2 = DINO_GLOBAL_PHOTOMETRIC
    assert find(view1, 'GaussianBlur')[0]['prob'] == 1.0
    assert find(view2, 'GaussianBlur')[0]['prob'] == 0.1
    assert find(view2, 'Solarize')[0]['prob'] == 0.2 and not find(view1, 'Solarize')
    for pipeline in (view1, view2, DINO_LOCAL_PHOTOMETRIC):
        jitter = find(pipeline, 'RandomApply')[0]
        assert jitter['prob'] == 0.8
        assert {k: jitter['transforms'][0][k] for k in
                ('brightness', 'contrast', 'saturation', 'hue')} == dict(
                    brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)
        assert find(pipeline, 'RandomGrayscale')[0]['prob'] == 0.2


def test_local_crops_and_contract_after_pack():
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (180, 320, 3), dtype=np.uint8)
    depth = rng.uniform(1, 50, (180, 320)).astype(np.float32)
    np.random.seed(6)
    crop = MultiCropWithDepth(num_local_crops=3)
    results = crop(dict(img=img, depth=depth))
    boxes = results['crop_boxes'].numpy()
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / (180 * 320)
    assert np.all(areas[:2] >= 0.25 * 0.97) and np.all(areas[2:] <= 0.25 * 1.03)
    packed = PackInputs(algorithm_keys=['token_pos', 'token_depth', 'token_depth_valid'])(
        results)
    inputs, sample = packed['inputs'], packed['data_samples']
    assert [tuple(x.shape) for x in inputs] == [(3, 224, 224)] * 2 + [(3, 96, 96)] * 3
    assert all(x.dtype == torch.uint8 for x in inputs)
    assert sample.token_pos.shape == (2, 196, 2) and sample.token_pos.dtype == torch.float32
    assert sample.token_depth.shape == (2, 196) and sample.token_depth.dtype == torch.float32
    assert sample.token_depth_valid.dtype == torch.bool and bool(sample.token_depth_valid.all())
    # Token positions lie inside their crop boxes, row-major: x grows along a row.
    for v in range(2):
        x0, y0, x1, y1 = boxes[v]
        pos = sample.token_pos[v].numpy()
        assert np.all((pos[:, 0] > x0) & (pos[:, 0] < x1) & (pos[:, 1] > y0) & (pos[:, 1] < y1))
        grid = pos.reshape(14, 14, 2)
        assert np.all(np.diff(grid[..., 1], axis=0) > 0)  # y increases down the rows
        step = np.diff(grid[..., 0], axis=1)
        assert np.all(step > 0) if not results['crop_flips'][v] else np.all(step < 0)
    assert results['local_token_pos'].shape == (3, 36, 2)


def test_without_depth_emits_positions_only():
    img = np.zeros((90, 160, 3), np.uint8)
    out = MultiCropWithDepth(with_depth=False, global_photometric=[[], []])(dict(img=img))
    assert out['token_pos'].shape == (2, 196, 2)
    assert not {'token_depth', 'token_depth_valid', 'view_depth'} & set(out)


def test_bad_arguments_and_inputs_are_named():
    with pytest.raises(ValueError, match='multiple of patch_size'):
        MultiCropWithDepth(global_crop_size=100, patch_size=16)
    with pytest.raises(ValueError, match='one transform list per global view'):
        MultiCropWithDepth(num_global_crops=3, global_photometric=[[], []])
    transform = MultiCropWithDepth(global_photometric=[[], []])
    img = np.zeros((90, 160, 3), np.uint8)
    with pytest.raises(KeyError, match=r'sample 7 .*no depth map'):
        transform(dict(img=img, sample_idx=7, img_path='x.jpg'))
    with pytest.raises(ValueError, match=r'x\.jpg.*differ in size'):
        transform(dict(img=img, depth=np.zeros((45, 80), np.float32), sample_idx=7,
                       img_path='x.jpg'))
