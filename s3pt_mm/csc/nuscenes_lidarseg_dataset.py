"""LiDAR semantic segmentation on nuScenes-lidarseg and on the synthetic scenes."""
from os import path as osp
from pathlib import Path

import numpy as np
from mmdet3d.datasets import Seg3DDataset
from mmdet3d.registry import DATASETS

from .label_spaces import LIDARSEG_CLASSES

__all__ = ['NuScenesLidarSegDataset', 'NUSCENES_LIDARSEG_MAPPING']

#: nuScenes-lidarseg raw category index (0-31) -> 16-class challenge index (the devkit's
#: learning map; every other raw index is ignored).
NUSCENES_LIDARSEG_MAPPING = {
    9: 0, 14: 1, 15: 2, 16: 2, 17: 3, 18: 4, 21: 5, 2: 6, 3: 6, 4: 6, 6: 6, 12: 7, 22: 8,
    23: 9, 24: 10, 25: 11, 26: 12, 27: 13, 28: 14, 30: 15}


@DATASETS.register_module()
class NuScenesLidarSegDataset(Seg3DDataset):
    """16-class nuScenes-lidarseg segmentation (mmdet3d 1.4 has no nuScenes seg dataset).

    Args:
        label_source (str): ``'nuscenes'``: label files hold raw lidarseg indices (0-31),
            mapped by ``NUSCENES_LIDARSEG_MAPPING``; each info must give
            ``pts_semantic_mask_path`` (e.g. ``lidarseg/v1.0-trainval/<token>_lidarseg.bin``).
            ``'synthetic'``: the generator's ``lidarseg/<stem>.bin`` files already hold the
            16 class ids (0-15); the path is derived from the LiDAR file when missing.
        **kwargs: ``Seg3DDataset`` arguments (``ignore_index`` defaults to 16).

    Raises:
        ValueError: for an unknown ``label_source``, or a 'nuscenes' info without
            ``pts_semantic_mask_path`` (sample index named).
    """

    METAINFO = {
        'classes': LIDARSEG_CLASSES,
        'palette': [[112, 128, 144], [220, 20, 60], [255, 69, 0], [255, 158, 0],
                    [233, 150, 70], [255, 61, 99], [0, 0, 230], [47, 79, 79], [255, 140, 0],
                    [255, 99, 71], [0, 207, 191], [175, 0, 75], [75, 0, 75], [112, 180, 60],
                    [222, 184, 135], [0, 175, 0]],
        'seg_valid_class_ids': tuple(range(16)),
        'seg_all_class_ids': tuple(range(16)),
    }

    def __init__(self, label_source: str = 'synthetic', **kwargs) -> None:
        if label_source not in ('nuscenes', 'synthetic'):
            raise ValueError(f"label_source must be 'nuscenes' or 'synthetic', got "
                             f'{label_source!r}')
        self.label_source = label_source
        metainfo = dict(kwargs.pop('metainfo', None) or {})
        metainfo.setdefault('classes', LIDARSEG_CLASSES)
        kwargs['metainfo'] = metainfo
        kwargs.setdefault('data_prefix', dict(pts='samples/LIDAR_TOP', pts_semantic_mask=''))
        super().__init__(**kwargs)

    def get_seg_label_mapping(self, metainfo=None) -> np.ndarray:
        """(256,) raw label -> class index (16 = ignore)."""
        mapping = np.full(256, len(LIDARSEG_CLASSES), dtype=np.int64)
        if getattr(self, 'label_source', 'synthetic') == 'nuscenes':
            for raw, cls in NUSCENES_LIDARSEG_MAPPING.items():
                mapping[raw] = cls
        else:
            mapping[:16] = np.arange(16)
        return mapping

    def parse_data_info(self, info: dict) -> dict:
        """Add ``pts_semantic_mask_path`` (see ``label_source``), then mmdet3d's parsing."""
        if 'pts_semantic_mask_path' not in info:
            if self.label_source == 'nuscenes':
                raise ValueError(f'{self.ann_file}: sample {info.get("sample_idx", "?")} has '
                                 'no pts_semantic_mask_path (nuScenes-lidarseg file)')
            name = Path(info['lidar_points']['lidar_path']).name
            # Relative to data_prefix['pts_semantic_mask'] (the data root by default).
            info['pts_semantic_mask_path'] = osp.join('lidarseg',
                                                      name[:-len('.pcd.bin')] + '.bin')
        return super().parse_data_info(info)
