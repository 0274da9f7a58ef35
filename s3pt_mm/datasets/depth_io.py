"""Precomputed depth maps on disk: 16-bit PNG in centimetres (docs/method.md §4).

Completing LiDAR depth with IP-Basic costs ~30 ms per 1600x900 image on one CPU core, more than
the rest of the pre-training pipeline; ``tools/precompute_depth.py`` does it once and
:class:`~s3pt_mm.datasets.transforms.LoadPrecomputedDepth` reads the result.

Format: a single-channel 16-bit greyscale PNG of the image's size, value = depth in
centimetres rounded to the nearest integer, 0 = no depth. Range (0.1 m, 655.35 m], precision
+-0.5 cm (quantisation step 1 cm); depths beyond 655.35 m are clipped to it, and a valid depth
below 0.11 m is stored as 11 cm so that it stays valid (> 0.1 m) after decoding. Any PNG
reader opens the files (``cv2.imread(path, cv2.IMREAD_UNCHANGED)``, Pillow mode ``I;16``).

They are written without PNG row filters (filter type 0) and deflated at level 6: completed
depth maps are smooth, so the files stay small (~0.2-0.3 MB for a real 1600x900 nuScenes
camera), and OpenCV decodes them in ~5 ms, half the time it needs for the adaptively filtered
PNGs that OpenCV's and Pillow's own encoders write (measured on the real CAM_FRONT keyframe).
Decoding is then almost all inflate (2.9 MB out per image); when the optional ``isal`` package
(Intel ISA-L) is installed, files of exactly this layout are inflated with it, ~3-4x faster
than zlib, and anything else goes through OpenCV. Both give identical arrays.
Pure numpy + zlib + OpenCV (+ optional isal): no OpenMMLab import.
"""
import os
import os.path as osp
import struct
import zlib
from typing import Optional, Union

import cv2
import numpy as np

try:  # optional: ISA-L's inflate, a drop-in for zlib.decompress
    from isal import isal_zlib as _fast_zlib
except ImportError:  # pragma: no cover - depends on the environment
    _fast_zlib = None

__all__ = ['DEPTH_PNG_SCALE', 'DEPTH_PNG_MAX', 'encode_depth_cm', 'decode_depth_cm',
           'save_depth_png', 'read_depth_png_cm', 'load_depth_png',
           'precomputed_depth_path']

#: Stored value per metre (centimetres).
DEPTH_PNG_SCALE = 100.0
#: Largest storable depth, metres (65535 cm).
DEPTH_PNG_MAX = 65535 / DEPTH_PNG_SCALE
#: Depths must exceed this to be valid (IP-Basic's and the pipeline's convention), metres.
_MIN_VALID = 0.1
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def encode_depth_cm(depth: np.ndarray, min_depth: float = _MIN_VALID) -> np.ndarray:
    """Quantise a depth map in metres to uint16 centimetres (0 = invalid).

    ``code = clip(round(100 * d), 11, 65535)`` where ``d > min_depth``, else 0.

    Args:
        depth (np.ndarray): (H, W) float depth in metres; ``<= min_depth`` = no depth.
        min_depth (float): validity threshold, metres. Defaults to 0.1.

    Returns:
        np.ndarray: (H, W) uint16 centimetres.

    Raises:
        ValueError: if ``depth`` is not a 2-D floating array or holds NaN/inf.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.floating):
        raise ValueError(f'depth must be a (H, W) floating array in metres, got shape '
                         f'{depth.shape} dtype {depth.dtype}')
    if not np.isfinite(depth).all():
        raise ValueError('depth contains NaN or inf; mark pixels without depth with 0')
    valid = depth > min_depth
    # Lowest code 11 (not 10): 10 cm would decode to exactly 0.1 m, which is not > 0.1 m.
    lowest = int(np.floor(min_depth * DEPTH_PNG_SCALE)) + 1
    code = np.clip(np.rint(depth * DEPTH_PNG_SCALE), lowest, 65535)
    return np.where(valid, code, 0).astype(np.uint16)


def decode_depth_cm(code: np.ndarray) -> np.ndarray:
    """uint16 centimetres back to float32 metres (0 stays 0).

    Args:
        code (np.ndarray): (H, W) uint16 centimetres.

    Returns:
        np.ndarray: (H, W) float32 metres.
    """
    return code.astype(np.float32) * np.float32(1.0 / DEPTH_PNG_SCALE)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack('>I', len(data)) + kind + data
            + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF))


def save_depth_png(path: Union[str, os.PathLike], depth: np.ndarray,
                   compress_level: int = 6) -> None:
    """Write a depth map in metres as a 16-bit centimetre PNG (see the module docstring).

    The file is written to ``path + '.tmp'`` and renamed, so a killed writer never leaves a
    truncated ``path`` behind.

    Args:
        path (str | PathLike): output ``.png``; parent folders are created.
        depth (np.ndarray): (H, W) float depth in metres, ``<= 0.1`` = no depth.
        compress_level (int): zlib level 0-9. Defaults to 6.

    Raises:
        ValueError: as :func:`encode_depth_cm`.
    """
    code = encode_depth_cm(depth)
    height, width = code.shape
    # Each PNG row: filter byte 0 (none) + big-endian uint16 samples.
    rows = np.empty((height, 1 + 2 * width), np.uint8)
    rows[:, 0] = 0
    rows[:, 1:] = code.astype('>u2').view(np.uint8).reshape(height, 2 * width)
    # IHDR: width, height, bit depth 16, colour type 0 (greyscale), deflate, filter set 0,
    # no interlace.
    header = struct.pack('>IIBBBBB', width, height, 16, 0, 0, 0, 0)
    data = (_PNG_SIGNATURE + _chunk(b'IHDR', header)
            + _chunk(b'IDAT', zlib.compress(rows.tobytes(), compress_level))
            + _chunk(b'IEND', b''))
    path = os.fspath(path)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)


def read_depth_png_cm(path: Union[str, os.PathLike]) -> np.ndarray:
    """Read a depth PNG written by :func:`save_depth_png` as stored: uint16 centimetres.

    Args:
        path (str | PathLike): the ``.png``.

    Returns:
        np.ndarray: (H, W) uint16 centimetres, 0 = no depth.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it cannot be decoded (truncated, not a PNG) or is not a single-channel
            16-bit image; the message names the file.
    """
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'depth file {path!r} not found')
    code = _read_unfiltered_png16(path) if _fast_zlib is not None else None
    if code is None:
        code = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if code is None:
        raise ValueError(f'depth file {path!r} cannot be decoded (truncated or not a PNG)')
    if code.ndim != 2 or code.dtype != np.uint16:
        raise ValueError(f'depth file {path!r} must be a single-channel 16-bit PNG, got shape '
                         f'{code.shape} dtype {code.dtype}')
    return code


def _read_unfiltered_png16(path: str) -> Optional[np.ndarray]:
    """Decode a :func:`save_depth_png` file with ISA-L; None for any other layout or any
    damage (the caller then lets OpenCV decode it, or report it).

    Accepts exactly: PNG signature, IHDR of a non-interlaced 16-bit greyscale image, IDAT
    chunks whose inflated size is ``H (1 + 2 W)``, every row with filter type 0.
    """
    with open(path, 'rb') as f:
        data = f.read()
    if data[:8] != _PNG_SIGNATURE:
        return None
    pos, header, idat = 8, None, []
    while pos + 8 <= len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        if kind == b'IHDR':
            header = struct.unpack('>IIBBBBB', data[pos + 8:pos + 8 + 13])
        elif kind == b'IDAT':
            idat.append(data[pos + 8:pos + 8 + length])
        elif kind == b'IEND':
            break
        pos += 12 + length
    if header is None or header[2:4] != (16, 0) or header[6] != 0:
        return None
    width, height = header[0], header[1]
    try:
        raw = _fast_zlib.decompress(b''.join(idat))
    except Exception:  # noqa: BLE001 - any inflate error: let OpenCV decide and report
        return None
    if len(raw) != height * (1 + 2 * width):
        return None
    rows = np.frombuffer(raw, np.uint8).reshape(height, 1 + 2 * width)
    if rows[:, 0].any():  # filtered rows: libpng knows how to undo them
        return None
    return rows[:, 1:].view('>u2').astype(np.uint16)


def load_depth_png(path: Union[str, os.PathLike]) -> np.ndarray:
    """Read a depth PNG written by :func:`save_depth_png` in metres.

    Args:
        path (str | PathLike): the ``.png``.

    Returns:
        np.ndarray: (H, W) float32 depth in metres, 0 = no depth.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: as :func:`read_depth_png_cm`.
    """
    return decode_depth_cm(read_depth_png_cm(path))


def precomputed_depth_path(depth_root: Union[str, os.PathLike], channel: str,
                           img_path: Union[str, os.PathLike]) -> str:
    """Where the depth of an image lives: ``depth_root/<channel>/<image stem>.png``.

    nuScenes image names are unique (``<log>__<CHANNEL>__<timestamp>.jpg``); the channel
    folder mirrors ``samples/<CHANNEL>`` and keeps folders small.

    Args:
        depth_root (str | PathLike): root folder of the precomputed depth.
        channel (str): camera channel, e.g. ``'CAM_FRONT'``.
        img_path (str | PathLike): the image file.

    Returns:
        str: the depth PNG path.
    """
    stem = osp.splitext(osp.basename(os.fspath(img_path)))[0]
    return osp.join(os.fspath(depth_root), channel, stem + '.png')
