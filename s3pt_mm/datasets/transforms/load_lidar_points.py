"""Load the LiDAR sweep that goes with a camera image."""
from typing import Optional, Sequence

from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

from s3pt_mm.datasets.validation import load_lidar_file
from .sample_context import describe_sample


@TRANSFORMS.register_module()
class LoadLidarPoints(BaseTransform):
    """Read a ``.pcd.bin`` sweep (float32 rows x, y, z, intensity, ...) in the LiDAR frame.

    The file is checked before use (:func:`s3pt_mm.datasets.validation.load_lidar_file`,
    docs/data_validation.md): non-empty, a whole number of ``num_pts_feats``-float rows, every
    value finite, and each column within its role's range (nuScenes' ``ring`` an integer
    0..255, ``intensity`` 0..255, coordinates within 1 km), so a file of another layout (KITTI's
    4 floats read as nuScenes' 5) is refused instead of giving wrong depth.

    **Required Keys:**

    - lidar_path (str): the sweep file.
    - num_pts_feats (int, optional): float32 values per point. Defaults to 5 (nuScenes).

    **Added Keys:**

    - points (np.ndarray): (N, num_pts_feats) float32.

    Args:
        drop_nonfinite (bool): what to do with rows holding NaN or inf: False raises a
            ValueError naming the file and the rows, True drops them (the projection cannot
            place them). Defaults to False: nuScenes files hold no such rows, so one signals a
            corrupt file.
        columns (Sequence[str], optional): role of each column (``'x'``, ``'y'``, ``'z'``,
            ``'intensity'``, ``'ring'``, ``'time'``, ``'any'``) when the layout is not the
            default of its column count (3: x, y, z; 4: + intensity; 5: + ring). Defaults to
            None.
        max_range (float): bound of |x|, |y|, |z|, metres. Defaults to 1000.
    """

    def __init__(self, drop_nonfinite: bool = False, columns: Optional[Sequence[str]] = None,
                 max_range: float = 1000.0) -> None:
        self.drop_nonfinite = drop_nonfinite
        self.columns = tuple(columns) if columns is not None else None
        self.max_range = max_range

    def transform(self, results: dict) -> dict:
        """Load ``results['lidar_path']`` into ``results['points']``.

        Raises:
            KeyError: if ``lidar_path`` is missing.
            FileNotFoundError: if the file does not exist.
            ValueError: (:class:`~s3pt_mm.datasets.validation.DataValidationError`) if the file
                is empty, its size is not a whole number of points (truncated file or another
                layout), it has non-finite rows and ``drop_nonfinite`` is False, or a column
                holds values its role does not allow; the message names the sample and file.
        """
        where = describe_sample(results)
        if 'lidar_path' not in results:
            raise KeyError(f'{where}: no lidar_path (use a dataset that provides the LiDAR '
                           'sweep, e.g. NuScenesCameraDataset)')
        results['points'] = load_lidar_file(
            results['lidar_path'], int(results.get('num_pts_feats', 5)), columns=self.columns,
            where=where, drop_nonfinite=self.drop_nonfinite, max_range=self.max_range)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(drop_nonfinite={self.drop_nonfinite}, '
                f'columns={self.columns}, max_range={self.max_range})')
