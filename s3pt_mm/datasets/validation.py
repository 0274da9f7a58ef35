"""Checks of every data entry point: one place, reusable by any loader (docs/data_validation.md).

Each check takes the data and a ``where`` string that names the file, the sample (token) and
the key being checked, and raises :class:`DataValidationError` (a ``ValueError``) whose
message is ``'<where>: <what is wrong>'`` -- so a failure always names the file, the sample
and the problem, and never surfaces as a library assertion deep inside OpenCV or numpy.
Missing files raise ``FileNotFoundError`` with the path.

The checks (what each catches is in docs/data_validation.md):

* :func:`check_intrinsics` -- a 3x3 (or 3x4 / 4x4 projection) camera matrix: finite, focal
  lengths > 0, plausible aspect ratio, last row (0, 0, 1); with the image size, the principal
  point inside the image and near its centre (an image resized after calibration moves it).
* :func:`check_rigid_transform` -- a 4x4 sensor pose: finite, last row (0, 0, 0, 1),
  orthonormal rotation with determinant +1 (a singular or scaled matrix is refused),
  optionally a plausible translation (a mount in millimetres is refused).
* :func:`check_lidar_file` / :func:`check_lidar_points` / :func:`load_lidar_file` -- a
  ``.bin`` / ``.pcd.bin`` of float32 points: exists, non-empty, size a multiple of
  ``4 * num_feats``, every value finite, and each column within the range its role allows
  (``ring`` an integer 0..255, ``intensity`` 0..255, ``time`` within +-1 s, |x|, |y|, |z|
  within ``max_range``) -- this is what detects KITTI's 4-float layout read as nuScenes' 5 when
  the byte count happens to divide.
* :func:`read_image_size` / :func:`check_image_file` -- a JPEG or PNG, from its header only
  (no decoding): exists, non-empty, a JPEG / PNG signature, a frame header with the size, the
  end marker present (a truncated file is refused), and the size equal to the expected one.
* :func:`check_depth_map` -- a depth map: 2-D, the image's size, finite, non-negative, and no
  valid depth beyond ``max_depth`` (depth stored in millimetres instead of centimetres).

Pure numpy: no OpenMMLab import, so non-mmpretrain loaders (PETR, CM3D, CSC) can call them.
"""
import os
import os.path as osp
import struct
from typing import Mapping, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ['DataValidationError', 'LIDAR_COLUMNS', 'check_intrinsics', 'check_rigid_transform',
           'check_lidar_file', 'check_lidar_points', 'load_lidar_file', 'read_image_size',
           'check_image_file', 'check_decoded_image', 'check_depth_map',
           'MAX_PRINCIPAL_OFFSET', 'MAX_SENSOR_TRANSLATION']

PathLike = Union[str, os.PathLike]

#: Largest allowed distance of the principal point from the image centre, as a fraction of the
#: image side (real nuScenes: <= 0.06, KITTI: <= 0.04). An image twice the calibrated size puts
#: it at 0.25.
MAX_PRINCIPAL_OFFSET = 0.2
#: Largest plausible sensor-mount translation (LiDAR -> camera, sensor -> ego), metres.
MAX_SENSOR_TRANSLATION = 100.0

#: Column roles of a LiDAR file by values per point (nuScenes: ring index; KITTI: reflectance).
LIDAR_COLUMNS: Mapping[int, Tuple[str, ...]] = {
    3: ('x', 'y', 'z'),
    4: ('x', 'y', 'z', 'intensity'),
    5: ('x', 'y', 'z', 'intensity', 'ring'),
}
#: Allowed (low, high) of each column role, inclusive; ``ring`` must also be an integer.
_ROLE_RANGE = {'intensity': (0.0, 255.0), 'ring': (0.0, 255.0), 'time': (-1.0, 1.0)}
_ROLES = ('x', 'y', 'z', 'intensity', 'ring', 'time', 'any')

_JPEG_SOI = b'\xff\xd8'
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic); not DHT/JPG/DAC.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class DataValidationError(ValueError):
    """A data file or record that fails a check.

    Attributes:
        where (str): the file / sample / key the problem is in.
        problem (str): what is wrong.
    """

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f'{where}: {problem}' if where else problem)

    def __reduce__(self):  # picklable across worker processes
        return type(self), (self.where, self.problem)


def _prefix(where: str, name: str) -> str:
    return f'{where}: {name}' if where else name


# --------------------------------------------------------------------------- calibration


def check_intrinsics(cam2img, img_shape: Optional[Tuple[int, int]] = None, *, where: str = '',
                     name: str = 'cam2img',
                     max_principal_offset: Optional[float] = MAX_PRINCIPAL_OFFSET
                     ) -> np.ndarray:
    """Check a camera matrix, and with ``img_shape`` that it belongs to an image of that size.

    Checks: shape (3, 3), (3, 4) or (4, 4); finite; ``K = m[:3, :3]`` upper triangular with last
    row (0, 0, 1); focal lengths ``fx, fy > 0``; ``0.5 <= fx / fy <= 2``. With ``img_shape``
    (H, W): the principal point ``(cx, cy)`` inside the image ``[-0.5, W - 0.5) x
    [-0.5, H - 0.5)`` (pixel (i, j) centred on (j, i)), and at most ``max_principal_offset``
    of the image side from its centre ``((W - 1) / 2, (H - 1) / 2)``.

    Args:
        cam2img (array-like): the intrinsics.
        img_shape (Tuple[int, int], optional): (H, W) of the image. Defaults to None.
        where (str): names the file / sample, prefixed to the message. Defaults to ''.
        name (str): the key's name in the message. Defaults to ``'cam2img'``.
        max_principal_offset (float, optional): see above; None disables the centre check.
            Defaults to :data:`MAX_PRINCIPAL_OFFSET` (0.2).

    Returns:
        np.ndarray: the matrix as float64, shape as given.

    Raises:
        DataValidationError: naming ``where``, ``name`` and the problem.
    """
    try:
        m = np.asarray(cam2img, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataValidationError(where, f'{name} is not numeric ({e})') from None
    if m.shape not in ((3, 3), (3, 4), (4, 4)):
        raise DataValidationError(where, f'{name} must have shape (3, 3), (3, 4) or (4, 4), got '
                                  f'{m.shape}')
    if not np.isfinite(m).all():
        raise DataValidationError(where, f'{name} contains NaN or inf')
    k = m[:3, :3]
    fx, fy = k[0, 0], k[1, 1]
    if not (fx > 0 and fy > 0):
        what = 'is all zeros' if not m.any() else f'has focal lengths fx={fx:g}, fy={fy:g}'
        raise DataValidationError(where, f'{name} {what}; focal lengths must be > 0 '
                                  '(uncalibrated or zeroed camera?)')
    if not np.allclose(k[2], (0, 0, 1), atol=1e-6) or abs(k[1, 0]) > 1e-6:
        raise DataValidationError(where, f'{name} is not an intrinsics matrix (rows 2-3 of K: '
                                  f'{k[1:].tolist()}; expected [0, fy, cy], [0, 0, 1])')
    if not 0.5 <= fx / fy <= 2.0:
        raise DataValidationError(where, f'{name} has an implausible focal-length ratio fx / fy = '
                                  f'{fx / fy:.3g} (fx={fx:g}, fy={fy:g})')
    if img_shape is not None:
        height, width = int(img_shape[0]), int(img_shape[1])
        cx, cy = k[0, 2], k[1, 2]
        # Pixel (i, j) is centred on (j, i): the image spans [-0.5, W - 0.5) x [-0.5, H - 0.5).
        if not (-0.5 <= cx < width - 0.5 and -0.5 <= cy < height - 0.5):
            raise DataValidationError(where, f'{name} principal point ({cx:.1f}, {cy:.1f}) lies '
                                      f'outside the {width}x{height} (WxH) image; the image '
                                      'does not match its calibration (resized image?)')
        if max_principal_offset is not None:
            off_x = abs(cx - (width - 1) / 2) / width
            off_y = abs(cy - (height - 1) / 2) / height
            if max(off_x, off_y) > max_principal_offset:
                raise DataValidationError(where, f'{name} principal point ({cx:.1f}, {cy:.1f}) is '
                                          f'{max(off_x, off_y):.0%} of the image side away '
                                          f'from the centre of the {width}x{height} (WxH) '
                                          f'image (allowed {max_principal_offset:.0%}); the '
                                          'calibration was made for another image size')
    return m


def check_rigid_transform(matrix, *, where: str = '', name: str = 'lidar2cam',
                          max_translation: Optional[float] = None,
                          atol: float = 1e-3) -> np.ndarray:
    """Check a rigid transform ``[R t; 0 1]``.

    Checks: shape (4, 4); finite; last row (0, 0, 0, 1); ``R R^T = I`` within ``atol`` and
    ``det R > 0`` (a singular, scaled or mirrored matrix is refused); with
    ``max_translation``, ``|t| <= max_translation`` metres.

    Args:
        matrix (array-like): the transform.
        where (str): names the file / sample. Defaults to ''.
        name (str): the key's name in the message. Defaults to ``'lidar2cam'``.
        max_translation (float, optional): metres; None = no bound. Defaults to None.
        atol (float): tolerance of the orthonormality check. Defaults to 1e-3.

    Returns:
        np.ndarray: (4, 4) float64.

    Raises:
        DataValidationError: naming ``where``, ``name`` and the problem.
    """
    try:
        m = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataValidationError(where, f'{name} is not numeric ({e})') from None
    if m.shape != (4, 4):
        raise DataValidationError(where, f'{name} must have shape (4, 4), got {m.shape}')
    if not np.isfinite(m).all():
        raise DataValidationError(where, f'{name} contains NaN or inf')
    if not np.allclose(m[3], (0, 0, 0, 1)):
        raise DataValidationError(where, f'{name} is not a rigid transform (last row '
                                  f'{m[3].tolist()})')
    rot = m[:3, :3]
    det = float(np.linalg.det(rot))
    if abs(det) < 1e-6:
        raise DataValidationError(where, f'{name} is not a rigid transform: its rotation is '
                                  f'singular (det {det:.3g}) and cannot be inverted')
    err = float(np.abs(rot @ rot.T - np.eye(3)).max())
    if err > atol or det < 0:
        raise DataValidationError(where, f'{name} is not a rigid transform: its rotation is not '
                                  f'orthonormal with det +1 (|R R^T - I| = {err:.3g}, det '
                                  f'{det:.4g})')
    if max_translation is not None:
        dist = float(np.linalg.norm(m[:3, 3]))
        if dist > max_translation:
            raise DataValidationError(where, f'{name} translates by {dist:.4g} m, more than the '
                                      f'{max_translation:g} m a sensor mount can be '
                                      '(units in millimetres?)')
    return m


# --------------------------------------------------------------------------- LiDAR


def _lidar_roles(num_feats: int, columns: Optional[Sequence[str]]) -> Tuple[str, ...]:
    if columns is None:
        columns = LIDAR_COLUMNS.get(num_feats, ('x', 'y', 'z') + ('any',) * (num_feats - 3))
    columns = tuple(columns)
    if len(columns) != num_feats or not set(columns) <= set(_ROLES):
        raise ValueError(f'columns must name {num_feats} roles out of {_ROLES}, got {columns}')
    return columns


def check_lidar_file(path: PathLike, num_feats: int, *, where: str = '') -> int:
    """Check a LiDAR file's existence and size without reading it.

    Args:
        path (str | PathLike): the ``.bin`` / ``.pcd.bin``.
        num_feats (int): float32 values per point.
        where (str): names the sample. Defaults to ''.

    Returns:
        int: the number of points.

    Raises:
        FileNotFoundError: if the file does not exist.
        DataValidationError: if it is empty or its size is not a multiple of
            ``4 * num_feats`` bytes (truncated, or another layout).
    """
    path = os.fspath(path)
    label = _prefix(where, f'LiDAR file {path!r}')
    if num_feats < 1:
        raise ValueError(f'num_feats must be >= 1, got {num_feats}')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{label} not found')
    size = osp.getsize(path)
    if size == 0:
        raise DataValidationError(label, 'is empty (0 bytes)')
    if size % (4 * num_feats):
        raise DataValidationError(label, f'has {size} bytes, not a multiple of 4 * {num_feats} '
                                  f'(truncated, or not {num_feats} float32 per point)')
    return size // (4 * num_feats)


def check_lidar_points(points: np.ndarray, *, columns: Optional[Sequence[str]] = None,
                       where: str = '', drop_nonfinite: bool = False,
                       max_range: float = 1000.0) -> np.ndarray:
    """Check that LiDAR points are finite and each column holds what its role allows.

    Roles (``columns``, default :data:`LIDAR_COLUMNS` of the column count; for other counts
    x, y, z and unchecked ``'any'``): ``x``, ``y``, ``z`` within ``+-max_range`` metres;
    ``intensity`` in [0, 255]; ``ring`` an integer in [0, 255]; ``time`` in [-1, 1] s;
    ``any`` only finite. A file of another layout read with the wrong column count shifts the
    values across columns (a KITTI x, y, z, reflectance file read as 5 floats puts
    coordinates into ``ring``), which these ranges catch.

    Args:
        points (np.ndarray): (N, C) float points.
        columns (Sequence[str], optional): C roles. Defaults to None (by column count).
        where (str): names the file and sample. Defaults to ''.
        drop_nonfinite (bool): drop rows holding NaN or inf instead of raising.
            Defaults to False.
        max_range (float): bound of |x|, |y|, |z|, metres. Defaults to 1000.

    Returns:
        np.ndarray: the points (without the non-finite rows when ``drop_nonfinite``).

    Raises:
        DataValidationError: on no points, non-finite values (unless dropped) or a value out
            of its column's range; names the column, the row and the value.
    """
    if points.ndim != 2 or points.shape[0] == 0:
        raise DataValidationError(where, f'holds no points (shape {points.shape})')
    roles = _lidar_roles(points.shape[1], columns)
    finite = np.isfinite(points).all(axis=1)
    if not finite.all():
        if not drop_nonfinite:
            bad = np.flatnonzero(~finite)
            raise DataValidationError(where, f'has {bad.size} row(s) with NaN or inf (first: '
                                      f'{bad[:5].tolist()}); pass drop_nonfinite=True to skip '
                                      'them')
        points = points[finite]
        if points.shape[0] == 0:
            raise DataValidationError(where, 'holds no finite point')
    hint = (f'; the file does not hold {points.shape[1]} float32 per point with columns '
            f'{list(roles)} (e.g. a KITTI x, y, z, reflectance file read as nuScenes\' 5 '
            'columns, or the reverse)')
    for col, role in enumerate(roles):
        if role == 'any':
            continue
        values = points[:, col]
        low, high = ((-max_range, max_range) if role in 'xyz' else _ROLE_RANGE[role])
        bad = np.flatnonzero((values < low) | (values > high))
        if bad.size:
            raise DataValidationError(where, f'column {col} ({role}) must lie in [{low:g}, '
                                      f'{high:g}] but {bad.size} of {len(values)} rows do not '
                                      f'(row {bad[0]}: {values[bad[0]]:g}){hint}')
        if role == 'ring':
            bad = np.flatnonzero(values != np.round(values))
            if bad.size:
                raise DataValidationError(where, f'column {col} (ring) must hold integer beam '
                                          f'indices but {bad.size} of {len(values)} rows do '
                                          f'not (row {bad[0]}: {values[bad[0]]:g}){hint}')
    return points


def load_lidar_file(path: PathLike, num_feats: int, *, columns: Optional[Sequence[str]] = None,
                    where: str = '', drop_nonfinite: bool = False,
                    max_range: float = 1000.0) -> np.ndarray:
    """Read a float32 LiDAR file and run :func:`check_lidar_file` and
    :func:`check_lidar_points` on it.

    Args:
        path (str | PathLike): the file.
        num_feats (int): float32 values per point (nuScenes 5, KITTI 4).
        columns (Sequence[str], optional): column roles. Defaults to None (by count).
        where (str): names the sample. Defaults to ''.
        drop_nonfinite (bool): drop rows with NaN / inf instead of raising. Defaults to False.
        max_range (float): bound of |x|, |y|, |z|, metres. Defaults to 1000.

    Returns:
        np.ndarray: (N, num_feats) float32.

    Raises:
        FileNotFoundError: if the file does not exist.
        DataValidationError: as the two checks; the message names the file.
    """
    path = os.fspath(path)
    check_lidar_file(path, num_feats, where=where)
    points = np.fromfile(path, dtype=np.float32).reshape(-1, num_feats)
    return check_lidar_points(points, columns=columns, drop_nonfinite=drop_nonfinite,
                              max_range=max_range,
                              where=_prefix(where, f'LiDAR file {path!r}'))


# --------------------------------------------------------------------------- images


def _jpeg_size(f, label: str) -> Tuple[int, int, int]:
    """(height, width, offset of the scan data) from a JPEG's segments (SOI already read)."""
    size = None
    while True:
        byte = f.read(1)
        if not byte:
            raise DataValidationError(label, 'is a truncated JPEG (ends inside its header)')
        if byte != b'\xff':
            raise DataValidationError(label, f'is a corrupt JPEG (expected a marker at byte '
                                      f'{f.tell() - 1}, found {byte!r})')
        byte = f.read(1)
        while byte == b'\xff':  # fill bytes before a marker
            byte = f.read(1)
        if not byte:
            raise DataValidationError(label, 'is a truncated JPEG (ends inside its header)')
        marker = byte[0]
        if marker == 0xD9:
            raise DataValidationError(label, 'is a corrupt JPEG (no image data before its end '
                                      'marker)')
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue
        raw = f.read(2)
        if len(raw) < 2:
            raise DataValidationError(label, 'is a truncated JPEG (ends inside its header)')
        length = struct.unpack('>H', raw)[0]
        if length < 2:
            raise DataValidationError(label, f'is a corrupt JPEG (segment 0xFF{marker:02X} of '
                                      f'length {length})')
        if marker in _JPEG_SOF:
            body = f.read(5)
            if len(body) < 5:
                raise DataValidationError(label, 'is a truncated JPEG (ends inside its frame '
                                          'header)')
            height, width = struct.unpack('>HH', body[1:5])
            size = (height, width)
            f.seek(length - 7, os.SEEK_CUR)
        elif marker == 0xDA:  # start of scan: entropy-coded data follows
            if size is None:
                raise DataValidationError(label, 'is a corrupt JPEG (image data before any '
                                          'frame header)')
            return size[0], size[1], f.tell()
        else:
            f.seek(length - 2, os.SEEK_CUR)


def read_image_size(path: PathLike, *, where: str = '') -> Tuple[int, int]:
    """(H, W) of a JPEG or PNG from its header, after checking that the file is whole.

    Reads the header segments and the last bytes only (no decoding): the file must exist,
    be non-empty, start with a JPEG or PNG signature, have a frame header (JPEG SOF / PNG
    IHDR) with a non-zero size, and end with its end marker (JPEG EOI after the scan data,
    PNG IEND), so that a zero-byte, foreign, corrupt-header or truncated file is refused
    before OpenCV sees it.

    Args:
        path (str | PathLike): the image.
        where (str): names the sample. Defaults to ''.

    Returns:
        Tuple[int, int]: (height, width).

    Raises:
        FileNotFoundError: if the file does not exist.
        DataValidationError: naming the file and what is wrong with it.
    """
    path = os.fspath(path)
    label = _prefix(where, f'image file {path!r}')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{label} not found')
    size = osp.getsize(path)
    if size == 0:
        raise DataValidationError(label, 'is empty (0 bytes)')
    with open(path, 'rb') as f:
        head = f.read(8)
        if head.startswith(_JPEG_SOI):
            f.seek(2)
            height, width, scan = _jpeg_size(f, label)
            f.seek(max(scan, size - 1024))
            tail = f.read()
            # 0xFF 0xD9 cannot occur inside entropy-coded data (0xFF is stuffed with 0x00), so
            # its absence from the file's end means the scan data was cut off.
            if b'\xff\xd9' not in tail:
                raise DataValidationError(label, f'is a truncated JPEG ({size} bytes, no end '
                                          'marker after the image data)')
        elif head == _PNG_SIGNATURE:
            ihdr = f.read(25)
            if len(ihdr) < 25 or ihdr[4:8] != b'IHDR':
                raise DataValidationError(label, 'is a corrupt PNG (no IHDR chunk)')
            width, height = struct.unpack('>II', ihdr[8:16])
            f.seek(max(33, size - 64))
            if b'IEND' not in f.read():
                raise DataValidationError(label, f'is a truncated PNG ({size} bytes, no IEND '
                                          'chunk)')
        else:
            raise DataValidationError(label, f'is neither a JPEG nor a PNG (starts with '
                                      f'{head[:4]!r}; corrupt file?)')
    if height == 0 or width == 0:
        raise DataValidationError(label, f'has a size of {width}x{height} (WxH) in its header')
    return height, width


def check_image_file(path: PathLike, expected_shape: Optional[Tuple[int, int]] = None, *,
                     cam2img=None, where: str = '',
                     max_principal_offset: Optional[float] = MAX_PRINCIPAL_OFFSET,
                     expected_source: str = 'the dataset records') -> Tuple[int, int]:
    """:func:`read_image_size`, then the size against what the dataset and calibration state.

    Args:
        path (str | PathLike): the image.
        expected_shape (Tuple[int, int], optional): the (H, W) the dataset records for it.
            Defaults to None.
        cam2img (array-like, optional): its intrinsics, checked with
            :func:`check_intrinsics` against the image's size. Defaults to None.
        where (str): names the sample. Defaults to ''.
        max_principal_offset (float, optional): see :func:`check_intrinsics`.
        expected_source (str): who states ``expected_shape``, for the message. Defaults to
            ``'the dataset records'``.

    Returns:
        Tuple[int, int]: (height, width).

    Raises:
        FileNotFoundError: if the file does not exist.
        DataValidationError: naming the file and what is wrong.
    """
    height, width = read_image_size(path, where=where)
    label = _prefix(where, f'image file {os.fspath(path)!r}')
    if expected_shape is not None and tuple(expected_shape) != (height, width):
        raise DataValidationError(label, f'is {height}x{width} (HxW) but {expected_source} '
                                  f'{expected_shape[0]}x{expected_shape[1]}; the calibration '
                                  'is for that size')
    if cam2img is not None:
        check_intrinsics(cam2img, (height, width), where=label,
                         max_principal_offset=max_principal_offset)
    return height, width


def check_decoded_image(img: Optional[np.ndarray], path: PathLike,
                        header_shape: Optional[Tuple[int, int]] = None, *,
                        where: str = '') -> np.ndarray:
    """Check what a decoder returned for ``path``: an image of the header's size.

    Args:
        img (np.ndarray | None): the decoder's output ((H, W) or (H, W, C)); None = failure.
        path (str | PathLike): the file, for the message.
        header_shape (Tuple[int, int], optional): (H, W) from :func:`read_image_size`.
        where (str): names the sample. Defaults to ''.

    Returns:
        np.ndarray: ``img``.

    Raises:
        DataValidationError: if nothing was decoded or the size differs from the header's.
    """
    label = _prefix(where, f'image file {os.fspath(path)!r}')
    if img is None or not isinstance(img, np.ndarray) or img.ndim not in (2, 3) or img.size == 0:
        raise DataValidationError(label, 'cannot be decoded (corrupt image data)')
    if header_shape is not None and img.shape[:2] != tuple(header_shape):
        raise DataValidationError(label, f'decodes to {img.shape[0]}x{img.shape[1]} (HxW) but '
                                  f'its header states {header_shape[0]}x{header_shape[1]}')
    return img


# --------------------------------------------------------------------------- depth


def check_depth_map(depth: np.ndarray, *, scale: float = 1.0, max_depth: Optional[float] = 100.0,
                    img_shape: Optional[Tuple[int, int]] = None, where: str = '',
                    min_depth: float = 0.1) -> np.ndarray:
    """Check a depth map: 2-D, the image's size, finite, >= 0, valid depths <= ``max_depth``.

    Args:
        depth (np.ndarray): (H, W) depth in units of ``scale`` metres, 0 = none.
        scale (float): metres per unit (0.01 for stored centimetres). Defaults to 1.0.
        max_depth (float, optional): largest depth the dataset can hold, metres (IP-Basic's
            completion never exceeds its ``max_depth``, 100 m by default); None = no bound.
            Defaults to 100.0.
        img_shape (Tuple[int, int], optional): (H, W) of the image. Defaults to None.
        where (str): names the file and sample. Defaults to ''.
        min_depth (float): validity threshold, metres. Defaults to 0.1.

    Returns:
        np.ndarray: ``depth``.

    Raises:
        DataValidationError: naming ``where`` and the problem (a depth beyond ``max_depth``
            suggests millimetres stored where centimetres were expected).
    """
    if depth.ndim != 2:
        raise DataValidationError(where, f'must be a (H, W) depth map, got shape {depth.shape}')
    if img_shape is not None and depth.shape != tuple(img_shape[:2]):
        raise DataValidationError(where, f'is {depth.shape[0]}x{depth.shape[1]} (HxW) but the '
                                  f'image is {img_shape[0]}x{img_shape[1]}')
    if np.issubdtype(depth.dtype, np.floating):
        if not np.isfinite(depth).all():
            raise DataValidationError(where, 'contains NaN or inf depths')
        if (depth < 0).any():
            raise DataValidationError(where, f'contains negative depths (min '
                                      f'{float(depth.min()) * scale:g} m)')
    if max_depth is not None and depth.size:
        top = float(depth.max()) * scale
        # Half a unit of slack: stored values are rounded to whole units.
        if top > max_depth + 0.5 * scale and top > min_depth:
            raise DataValidationError(where, f'holds depths up to {top:g} m, beyond the '
                                      f'dataset\'s max_depth {max_depth:g} m (depth stored in '
                                      'millimetres instead of centimetres, or another '
                                      'scale?)')
    return depth
