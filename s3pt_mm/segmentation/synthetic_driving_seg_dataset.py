"""Semantic segmentation on the synthetic nuScenes-format scenes, read in place."""
import os.path as osp
from typing import List, Optional, Sequence

import mmengine
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from s3pt_mm.synthetic.classes import SEMANTIC_CLASSES


@DATASETS.register_module()
class SyntheticDrivingSegDataset(BaseSegDataset):
    """Camera images and per-pixel labels of ``tools/create_synthetic_nuscenes.py`` output.

    Reads the generator's layout directly (docs/synthetic_scenes.md)::

        data_root/nuscenes_infos_{train,val}.pkl   the split: samples and their camera files
        data_root/samples/<CAM>/<stem>.jpg         images
        data_root/semseg/<CAM>/<stem>.png          uint8 ``SEMANTIC_CLASSES`` ids

    Every camera image of every sample in ``ann_file`` is one item. Classes are the generator's
    17 (the nuScenes-lidarseg 16 + sky); classes it never draws simply get no IoU (NaN, left out
    of the mean).

    Args:
        ann_file (str): info pkl of the split, relative to ``data_root``. Defaults to
            ``'nuscenes_infos_train.pkl'``.
        cameras (Sequence[str], optional): camera channels to use; None = all. Defaults to None.
        data_prefix (dict, optional): folders of images and labels. Defaults to
            ``dict(img_path='samples', seg_map_path='semseg')``.
        **kwargs: :class:`mmseg.datasets.BaseSegDataset` arguments.
    """

    METAINFO = dict(classes=tuple(c.name for c in SEMANTIC_CLASSES),
                    palette=[list(c.color) for c in SEMANTIC_CLASSES])

    def __init__(self, ann_file: str = 'nuscenes_infos_train.pkl',
                 cameras: Optional[Sequence[str]] = None,
                 data_prefix: Optional[dict] = None,
                 **kwargs) -> None:
        self.cameras = tuple(cameras) if cameras is not None else None
        kwargs.setdefault('reduce_zero_label', False)
        super().__init__(ann_file=ann_file, img_suffix='.jpg', seg_map_suffix='.png',
                         data_prefix=data_prefix or dict(img_path='samples',
                                                         seg_map_path='semseg'), **kwargs)

    def load_data_list(self) -> List[dict]:
        """One item per (sample, camera) of the info pkl.

        Raises:
            FileNotFoundError: if the pkl, an image or a label PNG is missing.
            ValueError: if the pkl has no ``data_list`` or a requested camera never occurs.
        """
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'split file not found: {self.ann_file} (generate the '
                                    'scenes with tools/create_synthetic_nuscenes.py)')
        infos = mmengine.load(self.ann_file)
        if not isinstance(infos, dict) or 'data_list' not in infos:
            raise ValueError(f'{self.ann_file}: expected an mmdet3d info dict with "data_list"')
        img_dir, seg_dir = self.data_prefix['img_path'], self.data_prefix['seg_map_path']
        data_list, seen = [], set()
        for info in infos['data_list']:
            for cam, image in sorted(info['images'].items()):
                seen.add(cam)
                if self.cameras is not None and cam not in self.cameras:
                    continue
                name = osp.basename(image['img_path'])
                img_path = osp.join(img_dir, cam, name)
                seg_path = osp.join(seg_dir, cam, osp.splitext(name)[0] + self.seg_map_suffix)
                for path in (img_path, seg_path):
                    if not osp.isfile(path):
                        raise FileNotFoundError(f'sample {info.get("token", "?")} {cam}: '
                                                f'{path} not found')
                data_list.append(dict(img_path=img_path, seg_map_path=seg_path,
                                      label_map=self.label_map,
                                      reduce_zero_label=self.reduce_zero_label, seg_fields=[]))
        if self.cameras is not None and not set(self.cameras) <= seen:
            raise ValueError(f'{self.ann_file}: cameras {sorted(set(self.cameras) - seen)} do '
                             f'not occur (have {sorted(seen)})')
        return data_list
