"""mmdet3d's ``LoadPointsFromFile`` that checks the file before the points are used."""
from typing import Optional, Sequence

import numpy as np
from mmdet3d.datasets.transforms import LoadPointsFromFile
from mmdet3d.registry import TRANSFORMS

from s3pt_mm.datasets.validation import check_lidar_file, check_lidar_points


def describe_det3d_sample(results: dict) -> str:
    """``'sample 3 (token 9f..)'`` from an mmdet3d results dict's ``sample_idx`` / ``token``.

    Args:
        results (dict): an mmdet3d pipeline's results.

    Returns:
        str: a short description naming the sample.
    """
    token = results.get('token')
    return f'sample {results.get("sample_idx", "?")}' + (f' (token {token})' if token else '')


@TRANSFORMS.register_module()
class CheckedLoadPointsFromFile(LoadPointsFromFile):
    """``LoadPointsFromFile`` (same arguments and output) plus the LiDAR checks.

    Before reading, :func:`~s3pt_mm.datasets.validation.check_lidar_file` (exists, non-empty,
    size a multiple of ``4 * load_dim``); after reading,
    :func:`~s3pt_mm.datasets.validation.check_lidar_points` on the ``load_dim`` columns (finite,
    each column within its role's range: a KITTI 4-float file read with ``load_dim=5`` is
    refused). Errors name the sample, its token and the file. ``.npy`` files and remote
    backends skip the size check.

    Args:
        columns (Sequence[str], optional): role of each of the ``load_dim`` columns (see
            :func:`~s3pt_mm.datasets.validation.check_lidar_points`). Defaults to None (by
            ``load_dim``: 4 = x, y, z, intensity; 5 = + ring).
        drop_nonfinite (bool): drop rows with NaN / inf instead of raising. Defaults to False.
        **kwargs: ``LoadPointsFromFile``'s (``coord_type``, ``load_dim``, ``use_dim``, ...).
    """

    def __init__(self, columns: Optional[Sequence[str]] = None, drop_nonfinite: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.columns = tuple(columns) if columns is not None else None
        self.drop_nonfinite = drop_nonfinite
        self._where = ''

    def transform(self, results: dict) -> dict:
        """Check and load ``results['lidar_points']['lidar_path']`` (see the class docstring).

        Raises:
            FileNotFoundError: if the file does not exist.
            ValueError: (:class:`~s3pt_mm.datasets.validation.DataValidationError`) on an
                empty, truncated or foreign-layout file or non-finite points.
        """
        path = results['lidar_points']['lidar_path']
        self._where = describe_det3d_sample(results)
        if self.backend_args is None and not str(path).endswith('.npy'):
            check_lidar_file(path, self.load_dim, where=self._where)
        return super().transform(results)

    def _load_points(self, pts_filename: str) -> np.ndarray:
        points = super()._load_points(pts_filename)
        if points.size % self.load_dim:
            check_lidar_file(pts_filename, self.load_dim, where=self._where)
        checked = check_lidar_points(
            points.reshape(-1, self.load_dim), columns=self.columns,
            drop_nonfinite=self.drop_nonfinite,
            where=f'{self._where}: LiDAR file {pts_filename!r}' if self._where else
            f'LiDAR file {pts_filename!r}')
        return checked.reshape(-1)

    def __repr__(self) -> str:
        return (super().__repr__() + f'(columns={self.columns}, '
                f'drop_nonfinite={self.drop_nonfinite})')
