"""Load the LiDAR sweep that goes with a camera image."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

from s3pt_mm.datasets.nuscenes_infos import load_points
from .sample_context import describe_sample


@TRANSFORMS.register_module()
class LoadLidarPoints(BaseTransform):
    """Read a ``.pcd.bin`` sweep (float32 rows x, y, z, intensity, ...) in the LiDAR frame.

    **Required Keys:**

    - lidar_path (str): the sweep file.
    - num_pts_feats (int, optional): float32 values per point. Defaults to 5 (nuScenes).

    **Added Keys:**

    - points (np.ndarray): (N, num_pts_feats) float32.

    Args:
        drop_nonfinite (bool): what to do with rows whose x, y or z is NaN or inf: False
            raises a ValueError naming the file and the rows, True drops them (the projection
            cannot place them). Defaults to False: nuScenes files hold no such rows, so one
            signals a corrupt file.
    """

    def __init__(self, drop_nonfinite: bool = False) -> None:
        self.drop_nonfinite = drop_nonfinite

    def transform(self, results: dict) -> dict:
        """Load ``results['lidar_path']`` into ``results['points']``.

        Raises:
            KeyError: if ``lidar_path`` is missing.
            FileNotFoundError: if the file does not exist.
            ValueError: if its size is not a whole number of points (truncated file) or it
                has non-finite rows and ``drop_nonfinite`` is False.
        """
        if 'lidar_path' not in results:
            raise KeyError(f'{describe_sample(results)}: no lidar_path (use a dataset that '
                           'provides the LiDAR sweep, e.g. NuScenesCameraDataset)')
        path = results['lidar_path']
        try:
            points = load_points(path, int(results.get('num_pts_feats', 5)))
        except (FileNotFoundError, ValueError) as e:
            raise type(e)(f'{describe_sample(results)}: {e}') from e
        finite = np.isfinite(points[:, :3]).all(axis=1)
        if not finite.all():
            if not self.drop_nonfinite:
                bad = np.flatnonzero(~finite)
                raise ValueError(f'{describe_sample(results)}: LiDAR file {path!r} has '
                                 f'{bad.size} row(s) with NaN or inf in x, y, z (first: '
                                 f'{bad[:5].tolist()}); pass drop_nonfinite=True to skip them')
            points = points[finite]
        results['points'] = points
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(drop_nonfinite={self.drop_nonfinite})'
