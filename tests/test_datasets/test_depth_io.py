"""16-bit centimetre depth PNGs: precision, range, validity, and independent decoders."""
import cv2
import numpy as np
import pytest
from PIL import Image

from s3pt_mm.datasets import depth_io
from s3pt_mm.datasets.depth_io import (DEPTH_PNG_MAX, decode_depth_cm, encode_depth_cm,
                                       load_depth_png, precomputed_depth_path,
                                       read_depth_png_cm, save_depth_png)


def test_round_trip_precision_and_range(tmp_path):
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.1, 120.0, (90, 160)).astype(np.float32)
    depth[:10] = 0.0                       # no depth
    depth[10, :5] = [0.05, 0.1, 0.1001, 0.104, 0.106]  # around the validity threshold
    depth[11, :3] = [655.0, 700.0, 1e6]    # beyond the range: clipped
    path = tmp_path / 'd.png'
    save_depth_png(path, depth)
    back = load_depth_png(path)
    assert back.dtype == np.float32 and back.shape == depth.shape
    valid = depth > 0.1
    # Validity survives exactly (0.1001 m is stored as 11 cm, not 10 cm).
    np.testing.assert_array_equal(back > 0.1, valid)
    assert np.all(back[~valid] == 0)
    normal = valid & (depth <= DEPTH_PNG_MAX) & (depth >= 0.11)
    # Half a centimetre, plus float32 rounding of values up to 120 m (~1e-5 m).
    assert np.abs(back[normal] - depth[normal]).max() <= 0.005 + 1e-5
    np.testing.assert_allclose(back[10, 2:5], [0.11, 0.11, 0.11], atol=1e-6)
    np.testing.assert_allclose(back[11, :3], [655.0, 655.35, 655.35], atol=1e-4)


def test_files_are_standard_16_bit_pngs(tmp_path):
    depth = np.linspace(0, 80, 64 * 48, dtype=np.float32).reshape(48, 64)
    path = tmp_path / 'd.png'
    save_depth_png(path, depth)
    with Image.open(path) as im:  # an independent decoder
        assert im.format == 'PNG' and im.mode in ('I;16', 'I;16B', 'I')
        pil = np.asarray(im).astype(np.int64)
    np.testing.assert_array_equal(pil, encode_depth_cm(depth))
    np.testing.assert_array_equal(decode_depth_cm(pil.astype(np.uint16)), load_depth_png(path))
    assert not list(tmp_path.glob('*.tmp'))


def test_unreadable_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.png'):
        load_depth_png(tmp_path / 'missing.png')
    path = tmp_path / 'cut.png'
    save_depth_png(path, np.full((40, 40), 5.0, np.float32))
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(ValueError, match='cut.png.*cannot be decoded'):
        load_depth_png(path)
    rgb = tmp_path / 'rgb.png'
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(rgb)
    with pytest.raises(ValueError, match='rgb.png.*single-channel 16-bit'):
        load_depth_png(rgb)
    with pytest.raises(ValueError, match='NaN or inf'):
        encode_depth_cm(np.array([[1.0, np.nan]], np.float32))


def test_fast_reader_equals_opencv_and_falls_back(tmp_path, monkeypatch):
    depth = np.random.default_rng(3).uniform(0, 90, (37, 53)).astype(np.float32)
    ours = tmp_path / 'ours.png'
    save_depth_png(ours, depth)
    code = cv2.imread(str(ours), cv2.IMREAD_UNCHANGED)
    if depth_io._fast_zlib is not None:
        np.testing.assert_array_equal(depth_io._read_unfiltered_png16(str(ours)), code)
    # A PNG with row filters (Pillow's encoder) is left to OpenCV, with the same result.
    filtered = tmp_path / 'pillow.png'
    Image.fromarray(code).save(filtered)
    assert depth_io._fast_zlib is None or depth_io._read_unfiltered_png16(str(filtered)) is None
    np.testing.assert_array_equal(read_depth_png_cm(filtered), code)
    # Without isal everything goes through OpenCV.
    monkeypatch.setattr(depth_io, '_fast_zlib', None)
    np.testing.assert_array_equal(read_depth_png_cm(ours), code)


def test_path_mirrors_channel_and_image_stem():
    path = precomputed_depth_path('/d/depth', 'CAM_BACK', '/x/samples/CAM_BACK/a__CAM_BACK__1.jpg')
    assert path == '/d/depth/CAM_BACK/a__CAM_BACK__1.png'
