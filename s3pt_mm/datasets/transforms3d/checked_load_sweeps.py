"""mmdet3d's ``LoadPointsFromMultiSweeps`` that checks every sweep file it reads."""
from typing import Optional, Sequence

import numpy as np
from mmdet3d.datasets.transforms import LoadPointsFromMultiSweeps
from mmdet3d.registry import TRANSFORMS

from s3pt_mm.datasets.validation import check_lidar_file, check_lidar_points
from .checked_load_points import describe_det3d_sample


@TRANSFORMS.register_module()
class CheckedLoadPointsFromMultiSweeps(LoadPointsFromMultiSweeps):
    """``LoadPointsFromMultiSweeps`` (same arguments and output) with every sweep file checked
    like :class:`CheckedLoadPointsFromFile` (size, finiteness, column ranges of the file's
    ``load_dim`` columns -- the time column is added after loading and is not in the file).

    Args:
        columns (Sequence[str], optional): role of each of the ``load_dim`` columns of a sweep
            file. Defaults to None (by ``load_dim``).
        **kwargs: ``LoadPointsFromMultiSweeps``'s (``sweeps_num``, ``load_dim``, ...).
    """

    def __init__(self, columns: Optional[Sequence[str]] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.columns = tuple(columns) if columns is not None else None
        self._where = ''

    def transform(self, results: dict) -> dict:
        """Add the sweeps to ``results['points']`` (mmdet3d's behaviour), checking each file.

        Raises:
            FileNotFoundError: if a sweep file does not exist.
            ValueError: (:class:`~s3pt_mm.datasets.validation.DataValidationError`) on an
                empty, truncated or foreign-layout sweep or non-finite points.
        """
        self._where = describe_det3d_sample(results)
        return super().transform(results)

    def _load_points(self, pts_filename: str) -> np.ndarray:
        label = f'{self._where}: sweep' if self._where else 'sweep'
        if self.backend_args is None and not str(pts_filename).endswith('.npy'):
            check_lidar_file(pts_filename, self.load_dim, where=label)
        points = super()._load_points(pts_filename)
        check_lidar_points(np.asarray(points).reshape(-1, self.load_dim), columns=self.columns,
                           where=f'{label}: LiDAR file {pts_filename!r}')
        return points

    def __repr__(self) -> str:
        return super().__repr__() + f'(columns={self.columns})'
