"""tools/precompute_depth.py: resumable, and what it stores is what the online pipeline computes
(to the 1 cm quantisation), so LoadPrecomputedDepth can replace it in training."""
import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import torch

from s3pt_mm.datasets import MultiCropWithDepth, NuScenesCameraDataset

ONLINE = [dict(type='LoadImageFromFile'), dict(type='LoadLidarPoints'),
          dict(type='ProjectLidarToDepth'), dict(type='CompleteDepth')]
PRECOMPUTED = [dict(type='LoadImageFromFile'), dict(type='LoadPrecomputedDepth', to_float32=True)]


@pytest.fixture(scope='module')
def tool(repo_root):
    spec = importlib.util.spec_from_file_location('precompute_depth',
                                                  repo_root / 'tools' / 'precompute_depth.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _compare(online_ds, stored_ds, crop):
    """Max |stored - online| depth over all images, and the same for token depths."""
    depth_err, token_err = 0.0, 0.0
    for i in range(len(online_ds)):
        online, stored = online_ds[i], stored_ds[i]
        assert np.array_equal(online['depth'] > 0.1, stored['depth'] > 0.1)
        depth_err = max(depth_err, float(np.abs(online['depth'] - stored['depth']).max()))
        np.random.seed(i)
        a = crop(dict(online))
        np.random.seed(i)
        b = crop(dict(stored))
        assert torch.equal(a['token_depth_valid'], b['token_depth_valid'])
        token_err = max(token_err, float((a['token_depth'] - b['token_depth']).abs().max()))
    return depth_err, token_err


def test_precompute_resume_and_equality(tool, synthetic_nuscenes, tmp_path, capsys):
    root, depth_dir = str(synthetic_nuscenes), tmp_path / 'depth'
    args = ['--data-root', root, '--ann-file', 'nuscenes_infos_train.pkl',
            '--depth-prefix', str(depth_dir)]  # an absolute prefix keeps the fixture clean
    assert tool.main(args)['written'] == 12
    files = sorted(depth_dir.glob('CAM_*/*.png'))
    assert len(files) == 12
    # Resume: nothing to do; then a truncated and a missing file are redone, nothing else.
    assert tool.main(args) == dict(written=0, skipped=12, bad=0, empty=0, report=None,
                                   mean_valid_fraction=pytest.approx(float('nan'), nan_ok=True))
    stamps = {f: f.stat().st_mtime_ns for f in files}
    files[0].write_bytes(files[0].read_bytes()[:100])
    files[5].unlink()
    assert tool.main(args)['written'] == 2
    assert all(f.stat().st_mtime_ns == stamps[f] for f in files if f not in (files[0], files[5]))

    online = NuScenesCameraDataset(data_root=root, ann_file='nuscenes_infos_train.pkl',
                                   pipeline=ONLINE)
    stored = NuScenesCameraDataset(data_root=root, ann_file='nuscenes_infos_train.pkl',
                                   depth_prefix=str(depth_dir), pipeline=PRECOMPUTED)
    crop = MultiCropWithDepth(global_crop_size=64, global_photometric=[[], []])
    depth_err, token_err = _compare(online, stored, crop)
    assert depth_err <= 0.005 + 1e-5 and token_err <= 0.005 + 1e-5
    with capsys.disabled():
        print(f'\n[precomputed vs online, synthetic] max depth error {depth_err * 100:.3f} cm, '
              f'max token depth error {token_err * 100:.3f} cm')


def test_precompute_on_the_real_keyframe(tool, nuscenes_sample_dir, tmp_path):
    pkl = 'n015-2018-07-24-11-22-45+0800.pkl'
    out = tool.main(['--data-root', str(nuscenes_sample_dir), '--ann-file', pkl,
                     '--files-beside-pkl', '--depth-prefix', str(tmp_path / 'depth')])
    # Spec section 4: with extrapolation ~99 % of CAM_FRONT's pixels get a depth.
    assert out['written'] == 6 and out['mean_valid_fraction'] > 0.95
    front = next((tmp_path / 'depth' / 'CAM_FRONT').glob('*.png'))
    assert front.stat().st_size < 600_000  # compact: 2.9 MB raw uint16
    kwargs = dict(data_root=str(nuscenes_sample_dir), ann_file=pkl, data_prefix={},
                  cameras=['CAM_FRONT'])
    online = NuScenesCameraDataset(pipeline=ONLINE, **kwargs)[0]['depth']
    stored = NuScenesCameraDataset(depth_prefix=str(tmp_path / 'depth'), pipeline=PRECOMPUTED,
                                   **kwargs)[0]['depth']
    assert np.array_equal(online > 0.1, stored > 0.1)
    assert (online > 0.1).mean() > 0.98
    assert np.abs(online - stored).max() <= 0.005 + 1e-5


@pytest.mark.slow
def test_parallel_workers_write_the_same_files(tool, repo_root, synthetic_nuscenes, tmp_path):
    common = ['--data-root', str(synthetic_nuscenes), '--ann-file', 'nuscenes_infos_train.pkl',
              '--cameras', 'CAM_FRONT', 'CAM_BACK']
    tool.main(common + ['--depth-prefix', str(tmp_path / 'one')])
    # As a user runs it (spawned workers import the script by its path).
    subprocess.run([sys.executable, str(repo_root / 'tools' / 'precompute_depth.py'), *common,
                    '--depth-prefix', str(tmp_path / 'two'), '--workers', '2'], check=True)
    one = sorted((tmp_path / 'one').rglob('*.png'))
    assert len(one) == 4
    for f in one:
        assert f.read_bytes() == (tmp_path / 'two' / f.relative_to(tmp_path / 'one')).read_bytes()
