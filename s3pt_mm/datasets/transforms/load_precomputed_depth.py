"""Load a completed depth map written by ``tools/precompute_depth.py``."""
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

from typing import Optional

from s3pt_mm.datasets.depth_io import DEPTH_PNG_SCALE, decode_depth_cm, read_depth_png_cm
from s3pt_mm.datasets.validation import DataValidationError, check_depth_map
from .sample_context import describe_sample


@TRANSFORMS.register_module()
class LoadPrecomputedDepth(BaseTransform):
    """Read ``depth_path`` (16-bit PNG in centimetres, see :mod:`s3pt_mm.datasets.depth_io`).

    Replaces ``LoadLidarPoints -> ProjectLidarToDepth -> CompleteDepth`` in training: the
    stored map is what those transforms produced, quantised to 1 cm. ``NuScenesCameraDataset``
    sets ``depth_path`` when given ``depth_prefix``.

    By default the map stays in its stored integer form, ``depth`` = uint16 centimetres with
    ``depth_scale`` = 0.01 m per unit, and :class:`MultiCropWithDepth` converts only the
    pixels its views sample (~0.1 M of 1.44 M at 1600x900): converting the whole map to
    float32 metres costs an allocation, a pass and a free of 5.8 MB per image, a sizeable
    share of the depth pipeline's cost (``benchmarks/data_loading.py``).

    **Required Keys:**

    - depth_path (str): the PNG.
    - img (np.ndarray, optional): (H, W, 3) the loaded image; when present the depth map must
      have its size.

    **Added Keys:**

    - depth (np.ndarray): (H, W) uint16 centimetres (0 = no depth), or float32 metres with
      ``to_float32``.
    - depth_scale (float): metres per unit of ``depth`` (0.01, or 1.0 with ``to_float32``).

    The map is checked (:func:`~s3pt_mm.datasets.validation.check_depth_map`): the image's
    size, and no depth beyond ``max_depth`` -- IP-Basic never completes beyond its
    ``max_depth`` (100 m), so a larger value means the file holds another unit (millimetres
    read as centimetres gives 10x the depth) or was not written by ``precompute_depth.py``.

    Args:
        to_float32 (bool): convert to float32 metres here. Defaults to False.
        max_depth (float, optional): largest depth the maps may hold, metres (the
            ``max_depth`` of the completion that wrote them); None = no bound.
            Defaults to 100.0.
    """

    def __init__(self, to_float32: bool = False, max_depth: Optional[float] = 100.0) -> None:
        self.to_float32 = to_float32
        self.max_depth = max_depth

    def transform(self, results: dict) -> dict:
        """Add ``results['depth']`` and ``results['depth_scale']``.

        Raises:
            KeyError: if ``depth_path`` is missing.
            FileNotFoundError: if the file does not exist (run tools/precompute_depth.py).
            ValueError: if it cannot be decoded, is not 16-bit single-channel, its size
                differs from the image's or it holds depths beyond ``max_depth``
                (:class:`~s3pt_mm.datasets.validation.DataValidationError`); the message names
                the sample and the file.
        """
        where = describe_sample(results)
        if results.get('depth_path') is None:
            raise KeyError(f'{where}: no depth_path (give the dataset a depth_prefix)')
        path = results['depth_path']
        try:
            code = read_depth_png_cm(path)
        except FileNotFoundError as e:
            raise FileNotFoundError(f'{where}: {e} (write it with tools/precompute_depth.py)'
                                    ) from e
        except ValueError as e:
            raise DataValidationError(where, str(e)) from e
        img_shape = results['img'].shape[:2] if 'img' in results else None
        check_depth_map(code, scale=1.0 / DEPTH_PNG_SCALE, max_depth=self.max_depth,
                        img_shape=img_shape, where=f'{where}: depth file {path!r}')
        if self.to_float32:
            results['depth'], results['depth_scale'] = decode_depth_cm(code), 1.0
        else:
            results['depth'], results['depth_scale'] = code, 1.0 / DEPTH_PNG_SCALE
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(to_float32={self.to_float32}, '
                f'max_depth={self.max_depth})')
