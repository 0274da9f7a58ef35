"""Dataset of LiDAR sweeps paired with camera images and superpixels (CSC / SLidR)."""
from typing import Dict, Optional, Sequence, Tuple

import torch
from mmdet3d.registry import DATASETS
from mmdet3d.structures import Det3DDataSample
from torch.utils.data import Dataset

from s3pt_mm.datasets.nuscenes_infos import NUSCENES_DATA_PREFIX, load_nuscenes_infos

from .paired_sample import load_paired_sample
from .superpixels import build_superpixel_source

__all__ = ['CSCPairedDataset']


@DATASETS.register_module()
class CSCPairedDataset(Dataset):
    """nuScenes-format samples (real or synthetic) for CSC / SLidR pre-training.

    Each item: ``inputs = dict(points=(N, 4) float32, cam_imgs=(Ncam, H, W, 3) uint8)`` and a
    ``Det3DDataSample`` with ``pairing_points`` (M,), ``pairing_images`` (M, 3),
    ``superpixels`` (Ncam, H, W) and ``sp_classes`` (Ncam, H, W) (docs/csc.md §1, §7).
    No augmentation: the reference also rotates / flips the cloud, drops cuboids and
    crops / flips images (not implemented here).

    Args:
        ann_file (str): mmdet3d nuScenes info pkl.
        superpixels (dict): superpixel source config (``build_superpixel_source``).
        img_size (Tuple[int, int]): ``(H, W)`` of the network images (multiples of the ViT
            patch). Defaults to (224, 416), the reference's crop.
        data_root (Optional[str]): dataset root; None = the pkl's folder.
        data_prefix (Optional[Dict[str, str]]): mmdet3d data prefixes; None = nuScenes'.
        cameras (Optional[Sequence[str]]): channels; None = all six.
        semantic_root (Optional[str]): where precomputed semantic maps live (see
            ``semantic_map_path``); None = the synthetic ``semseg/`` layout.
        indices (Optional[Sequence[int]]): keep only these samples.
    """

    def __init__(self, ann_file: str, superpixels: dict, img_size: Tuple[int, int] = (224, 416),
                 data_root: Optional[str] = None, data_prefix: Optional[Dict[str, str]] = None,
                 cameras: Optional[Sequence[str]] = None, semantic_root: Optional[str] = None,
                 indices: Optional[Sequence[int]] = None) -> None:
        self.infos = load_nuscenes_infos(ann_file, data_root=data_root,
                                         data_prefix=data_prefix or NUSCENES_DATA_PREFIX)
        if indices is not None:
            self.infos = [self.infos[i] for i in indices]
        self.source = build_superpixel_source(superpixels)
        self.img_size, self.cameras, self.semantic_root = tuple(img_size), cameras, semantic_root
        self.metainfo = dict(superpixels=dict(superpixels), img_size=self.img_size)

    def __len__(self) -> int:
        return len(self.infos)

    def __getitem__(self, index: int) -> dict:
        info = self.infos[index]
        s = load_paired_sample(info, self.source, self.img_size, cameras=self.cameras,
                               semantic_root=self.semantic_root)
        ds = Det3DDataSample(metainfo=dict(token=info.token, lidar_path=info.lidar_path))
        for key in ('pairing_points', 'pairing_images', 'superpixels', 'sp_classes'):
            setattr(ds, key, torch.from_numpy(s[key]))
        return dict(inputs=dict(points=torch.from_numpy(s['points']),
                                cam_imgs=torch.from_numpy(s['imgs'])),
                    data_samples=ds)
