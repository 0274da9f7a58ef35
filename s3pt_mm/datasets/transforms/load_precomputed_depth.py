"""Load a completed depth map written by ``tools/precompute_depth.py``."""
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

from s3pt_mm.datasets.depth_io import DEPTH_PNG_SCALE, decode_depth_cm, read_depth_png_cm
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

    Args:
        to_float32 (bool): convert to float32 metres here. Defaults to False.
    """

    def __init__(self, to_float32: bool = False) -> None:
        self.to_float32 = to_float32

    def transform(self, results: dict) -> dict:
        """Add ``results['depth']`` and ``results['depth_scale']``.

        Raises:
            KeyError: if ``depth_path`` is missing.
            FileNotFoundError: if the file does not exist (run tools/precompute_depth.py).
            ValueError: if it cannot be decoded, is not 16-bit single-channel, or its size
                differs from the image's; the message names the sample and the file.
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
            raise ValueError(f'{where}: {e}') from e
        if 'img' in results and code.shape != results['img'].shape[:2]:
            raise ValueError(f'{where}: depth file {path!r} is {code.shape[0]}x'
                             f'{code.shape[1]} (HxW) but the image is '
                             f'{results["img"].shape[0]}x{results["img"].shape[1]}')
        if self.to_float32:
            results['depth'], results['depth_scale'] = decode_depth_cm(code), 1.0
        else:
            results['depth'], results['depth_scale'] = code, 1.0 / DEPTH_PNG_SCALE
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(to_float32={self.to_float32})'
