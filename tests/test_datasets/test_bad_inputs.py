"""Hostile-input battery (docs/data_validation.md): every broken file or field, one at a time, made
from the tiny synthetic dataset, must fail with an error naming the file, the sample and the
problem -- through the pre-training dataset and through tools/precompute_depth.py -- or, with
``--skip-bad``, be left out, counted and listed in the report. Never a silent result.

Each case clones the session's synthetic dataset with symbolic links (no re-generation) and
replaces one file or edits one info field of data_list[1].
"""
import importlib.util
import json
import os
import pickle
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from s3pt_mm.datasets import DataValidationError, NuScenesCameraDataset
from s3pt_mm.datasets.depth_io import save_depth_png

PKL = 'nuscenes_infos_train.pkl'
BROKEN = 1  # index of the sample that gets broken
#: The online depth pipeline as configs write it (mmcv's plain image loader), up to the
#: projection (the last step that reads an input; completion only adds time).
ONLINE = [dict(type='LoadImageFromFile'), dict(type='LoadLidarPoints'),
          dict(type='ProjectLidarToDepth')]
#: Two cameras of the 2 samples keep the battery fast; the broken one is CAM_BACK.
CAMERAS = ['CAM_FRONT', 'CAM_BACK']
NUM_IMAGES = 2 * len(CAMERAS)


@pytest.fixture(scope='module')
def tool(repo_root):
    spec = importlib.util.spec_from_file_location('precompute_depth_bad_inputs',
                                                  repo_root / 'tools' / 'precompute_depth.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _clone(src: Path, dst: Path) -> Path:
    """The dataset at ``dst``: its pkl copied, its sensor files linked."""
    for path in (src / 'samples').rglob('*'):
        if path.is_file():
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(path, target)
    shutil.copy(src / PKL, dst / PKL)
    return dst


def _infos(root: Path) -> dict:
    with open(root / PKL, 'rb') as f:
        return pickle.load(f)


def _edit(root: Path, edit) -> None:
    infos = _infos(root)
    edit(infos['data_list'][BROKEN])
    with open(root / PKL, 'wb') as f:
        pickle.dump(infos, f)


def _replace(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


def _lidar(root: Path) -> Path:
    return root / 'samples' / 'LIDAR_TOP' / _infos(root)['data_list'][BROKEN]['lidar_points'][
        'lidar_path']


def _image(root: Path, channel: str = 'CAM_BACK') -> Path:
    return root / 'samples' / channel / _infos(root)['data_list'][BROKEN]['images'][channel][
        'img_path']


def _points(root: Path) -> np.ndarray:
    return np.fromfile(_lidar(root), np.float32).reshape(-1, 5)


def _kitti_layout(root, multiple_of_5):
    """The sweep rewritten as KITTI's x, y, z, reflectance (0-1) float32 rows."""
    pts = _points(root)
    n = len(pts) - len(pts) % 5 if multiple_of_5 else len(pts) - len(pts) % 5 + 1
    kitti = np.concatenate([pts[:n, :3], pts[:n, 3:4] / 255.0], axis=1).astype(np.float32)
    assert (kitti.nbytes % 20 == 0) == multiple_of_5
    _replace(_lidar(root), kitti.tobytes())
    return _lidar(root)


def _nonfinite(root, value):
    pts = _points(root)
    pts[[7, 100], 1] = value
    _replace(_lidar(root), pts.tobytes())
    return _lidar(root)


def _resized(root, factor=None, size=None):
    path = _image(root)
    img = cv2.imread(str(path))
    size = size or (int(img.shape[1] * factor), int(img.shape[0] * factor))
    ok, data = cv2.imencode('.jpg', cv2.resize(img, size))
    _replace(path, data.tobytes())
    return path


def _image_bytes(root, make):
    path = _image(root)
    _replace(path, make(path.resolve().read_bytes()))
    return path


def _garbage(data: bytes) -> bytes:
    return np.random.default_rng(0).bytes(len(data))


def _field(edit, file_of=lambda root: root / PKL):
    def apply(root):
        _edit(root, edit)
        return file_of(root)
    return apply


def _set(d, keys, value):
    for key in keys[:-1]:
        d = d[key]
    d[keys[-1]] = value


def _scaled_k(fx_scale):
    def edit(d):
        k = np.array(d['images']['CAM_BACK']['cam2img'])
        k[0, 0] *= fx_scale
        d['images']['CAM_BACK']['cam2img'] = k.tolist()
    return edit


def _singular_lidar2cam(d):
    m = np.array(d['images']['CAM_BACK']['lidar2cam'])
    m[2, :3] = m[1, :3]  # two equal rows: not invertible
    d['images']['CAM_BACK']['lidar2cam'] = m.tolist()


def _millimetre_lidar2cam(d):
    m = np.array(d['images']['CAM_BACK']['lidar2cam'])
    m[:3, 3] *= 1000.0
    d['images']['CAM_BACK']['lidar2cam'] = m.tolist()


# Where a case is caught, and what --skip-bad then leaves out (images lost, report records):
INFO = (len(CAMERAS), 1)  # the info reader (a stat, no read): the whole sample, one record
SWEEP = (len(CAMERAS), len(CAMERAS))  # the LiDAR loader: each camera of the sample
IMAGE = (1, 1)   # the image checks: that image
# (id, breaker(root) -> the file the message must name, error type, message pattern, level,
#  extra tool arguments)
CASES = [
    ('kitti_layout_read_as_nuscenes', lambda r: _kitti_layout(r, True), DataValidationError,
     r'column \d \((intensity|ring)\) must .*KITTI', SWEEP, []),
    ('kitti_layout_size_not_divisible', lambda r: _kitti_layout(r, False), DataValidationError,
     r'not a multiple of 4 \* 5', INFO, []),
    ('truncated_pcd_bin', lambda r: _replace(_lidar(r), _lidar(r).resolve().read_bytes()[:-7])
     or _lidar(r), DataValidationError, r'not a multiple of 4 \* 5', INFO, []),
    ('zero_byte_pcd_bin', lambda r: _replace(_lidar(r), b'') or _lidar(r), DataValidationError,
     r'empty \(0 bytes\)', INFO, []),
    ('missing_pcd_bin', lambda r: _lidar(r).unlink() or _lidar(r), FileNotFoundError,
     'not found', INFO, []),
    ('nan_points', lambda r: _nonfinite(r, np.nan), DataValidationError,
     r'2 row\(s\) with NaN or inf.*\[7, 100\]', SWEEP, []),
    ('inf_points', lambda r: _nonfinite(r, np.inf), DataValidationError,
     r'2 row\(s\) with NaN or inf', SWEEP, []),
    ('missing_image', lambda r: _image(r).unlink() or _image(r), FileNotFoundError, 'not found',
     INFO, []),
    ('zero_byte_jpeg', lambda r: _image_bytes(r, lambda b: b''), DataValidationError,
     r'empty \(0 bytes\)', INFO, []),
    ('corrupt_jpeg_garbage', lambda r: _image_bytes(r, _garbage), DataValidationError,
     'neither a JPEG nor a PNG', IMAGE, []),
    ('corrupt_jpeg_header', lambda r: _image_bytes(r, lambda b: b[:2] + b'\x00' * 40 + b[42:]),
     DataValidationError, 'corrupt JPEG', IMAGE, []),
    ('truncated_jpeg', lambda r: _image_bytes(r, lambda b: b[:len(b) // 2]),
     DataValidationError, 'truncated JPEG', IMAGE, []),
    ('image_larger_than_calibrated', lambda r: _resized(r, factor=2.0), DataValidationError,
     'principal point .* from the centre', IMAGE, []),
    ('image_smaller_than_calibrated', lambda r: _resized(r, factor=0.5), DataValidationError,
     r'principal point .* lies outside', IMAGE, []),
    ('image_size_other_than_stated', lambda r: _resized(r, size=(336, 189)),
     DataValidationError, r'is 189x336 \(HxW\) but the dataset records 180x320', IMAGE,
     ['--img-shape', '180', '320']),
    ('all_zero_cam2img', _field(lambda d: _set(d, ['images', 'CAM_BACK', 'cam2img'],
                                               np.zeros((3, 3)).tolist())),
     DataValidationError, r'images\.CAM_BACK\.cam2img is all zeros; focal lengths must be > 0',
     INFO, []),
    ('zero_focal_length', _field(_scaled_k(0.0)), DataValidationError,
     r'cam2img has focal lengths fx=0, .* must be > 0', INFO, []),
    ('nan_cam2img', _field(lambda d: _set(d, ['images', 'CAM_BACK', 'cam2img', 0, 2], np.nan)),
     DataValidationError, r'cam2img contains NaN', INFO, []),
    ('singular_lidar2cam', _field(_singular_lidar2cam), DataValidationError,
     r'images\.CAM_BACK\.lidar2cam is not a rigid transform: its rotation is singular', INFO, []),
    ('lidar2cam_in_millimetres', _field(_millimetre_lidar2cam), DataValidationError,
     r'lidar2cam translates by .* m, more than', INFO, []),
    ('missing_cam2img', _field(lambda d: d['images']['CAM_BACK'].pop('cam2img')),
     DataValidationError, r'images\.CAM_BACK\.cam2img is missing', INFO, []),
    ('missing_lidar_path', _field(lambda d: d['lidar_points'].pop('lidar_path')),
     DataValidationError, r'lidar_points\.lidar_path is missing', INFO, []),
    ('missing_ego2global', _field(lambda d: d.pop('ego2global')), DataValidationError,
     'ego2global is missing', INFO, []),
    ('missing_images', _field(lambda d: d.pop('images')), DataValidationError,
     'images is missing', INFO, []),
]


@pytest.fixture(params=CASES, ids=[c[0] for c in CASES])
def broken(request, synthetic_nuscenes, tmp_path):
    """(root, named file, token, error type, pattern, level, extra tool args)."""
    name, breaker, error, pattern, level, extra = request.param
    root = _clone(synthetic_nuscenes, tmp_path / 'data')
    token = _infos(root)['data_list'][BROKEN]['token']
    named = breaker(root)
    return root, str(named), token, error, pattern, level, extra


def _check_message(message, named, token, pattern):
    assert named in message, f'{named!r} not named in: {message}'
    assert token in message, f'token {token!r} not named in: {message}'
    assert pytest.importorskip('re').search(pattern, message), message


def test_dataset_iteration_fails_naming_file_and_sample(broken):
    root, named, token, error, pattern, _, extra = broken
    img_shape = tuple(int(v) for v in extra[1:3]) if extra else None
    with pytest.raises(error) as info:
        dataset = NuScenesCameraDataset(data_root=str(root), ann_file=PKL, pipeline=ONLINE,
                                        cameras=CAMERAS, img_shape=img_shape,
                                        serialize_data=False)  # skips a slow gc.collect()
        for i in range(len(dataset)):
            dataset[i]
    _check_message(str(info.value), named, token, pattern)


def test_precompute_tool_fails_or_skips_and_counts(broken, tool, tmp_path, capsys):
    root, named, token, error, pattern, (lost, records), extra = broken
    args = ['--data-root', str(root), '--ann-file', PKL, '--cameras', *CAMERAS, *extra]
    with pytest.raises(error) as info:
        tool.main(args + ['--depth-prefix', str(tmp_path / 'stopped')])
    _check_message(str(info.value), named, token, pattern)
    out = tool.main(args + ['--depth-prefix', str(tmp_path / 'depth'), '--skip-bad'])
    assert out['bad'] == lost and out['written'] == NUM_IMAGES - lost
    assert len(list((tmp_path / 'depth').glob('CAM_*/*.png'))) == NUM_IMAGES - lost
    assert f'skipped {lost} bad image(s)' in capsys.readouterr().out
    report = json.loads(Path(out['report']).read_text())
    assert report['bad_images'] == lost and len(report['skipped_samples']) == records
    _check_message(report['skipped_samples'][0]['error'], named, token, pattern)


def test_precomputed_depth_in_millimetres_is_refused(synthetic_nuscenes, tool, tmp_path):
    root = str(synthetic_nuscenes)
    depth_dir = tmp_path / 'depth'
    tool.main(['--data-root', root, '--ann-file', PKL, '--depth-prefix', str(depth_dir),
               '--cameras', 'CAM_FRONT'])
    report = depth_dir / 'skipped_samples.json'
    assert not report.exists()  # written only with --skip-bad
    dataset = NuScenesCameraDataset(
        data_root=root, ann_file=PKL, cameras=['CAM_FRONT'], depth_prefix=str(depth_dir),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadPrecomputedDepth')])
    assert dataset[1]['depth'].max() > 0  # the maps as written pass
    info = dataset.get_data_info(1)
    metres = cv2.imread(info['depth_path'], cv2.IMREAD_UNCHANGED) / 100.0
    # Someone's depth in millimetres (clipped to uint16) where centimetres are expected.
    save_depth_png(info['depth_path'], np.minimum(metres * 10.0, 655.0))
    with pytest.raises(DataValidationError) as err:
        dataset[1]
    _check_message(str(err.value), info['depth_path'], info['sample_token'],
                   r'depths up to .* m, beyond the dataset\'s max_depth 100 m .*millimetres')


def test_maps_without_any_depth_are_counted_and_named(synthetic_nuscenes, tool, tmp_path,
                                                      capsys):
    # A plausible sweep that no camera sees (every point 100 m straight below the sensor): the
    # documented empty result, written, but never silent.
    root = _clone(synthetic_nuscenes, tmp_path / 'data')
    below = np.array([[0.1 * i, 0.0, -100.0, 10.0, 3.0] for i in range(10)], np.float32)
    _replace(_lidar(root), below.tobytes())
    out = tool.main(['--data-root', str(root), '--ann-file', PKL, '--cameras', *CAMERAS,
                     '--depth-prefix', str(tmp_path / 'depth'), '--skip-bad'])
    assert out['written'] == NUM_IMAGES and out['bad'] == 0 and out['empty'] == len(CAMERAS)
    printed = capsys.readouterr().out
    assert f'warning: {len(CAMERAS)} of the written maps hold no depth at all' in printed
    report = json.loads(Path(out['report']).read_text())
    image = _infos(root)['data_list'][BROKEN]['images']['CAM_BACK']['img_path']
    assert len(report['empty_maps']) == len(CAMERAS)
    assert any(Path(image).stem in path for path in report['empty_maps'])


def test_image_size_other_than_its_calibration_group(synthetic_nuscenes, tool, tmp_path):
    # No size is recorded (nuScenes infos): the tool compares the images of one camera and
    # calibration, and refuses the one whose size differs from the majority's.
    root = _clone(synthetic_nuscenes, tmp_path / 'data')
    infos = _infos(root)
    infos['data_list'].append(dict(infos['data_list'][0], token='copy-of-sample-0'))
    with open(root / PKL, 'wb') as f:
        pickle.dump(infos, f)
    path = str(_resized(root, size=(336, 189)))  # centre within 3 %: passes the offset check
    token = infos['data_list'][BROKEN]['token']
    args = ['--data-root', str(root), '--ann-file', PKL, '--cameras', *CAMERAS]
    pattern = r'is 189x336 \(HxW\) but 2 of the 3 CAM_BACK images with the same calibration ' \
              r'are 180x320'
    with pytest.raises(DataValidationError) as info:
        tool.main(args + ['--depth-prefix', str(tmp_path / 'stopped')])
    _check_message(str(info.value), path, token, pattern)
    out = tool.main(args + ['--depth-prefix', str(tmp_path / 'depth'), '--skip-bad'])
    assert out['bad'] == 1 and out['written'] == 3 * len(CAMERAS) - 1
    report = json.loads(Path(out['report']).read_text())
    _check_message(report['skipped_samples'][0]['error'], path, token, pattern)
