"""Load one LiDAR sweep with its camera images, superpixels and point-pixel pairs.

Pure numpy (no OpenMMLab import) so that datasets, tools and the benchmark share it
(docs/csc.md §1).
"""
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from s3pt_mm.datasets.nuscenes_infos import NuScenesSample, load_points

from .pairing import pair_points_with_pixels
from .superpixels import SuperpixelSource

__all__ = ['load_paired_sample', 'semantic_map_path']


def semantic_map_path(img_path: str, semantic_root: Optional[str] = None,
                      suffix: str = '.png') -> Path:
    """Where the semantic map of an image lives.

    Default: the synthetic layout ``<root>/semseg/<CHANNEL>/<stem>.png`` next to
    ``<root>/samples/<CHANNEL>/<stem>.jpg``; with ``semantic_root``:
    ``<semantic_root>/<CHANNEL>/<stem><suffix>`` (e.g. maps precomputed by a segmentation
    model for real nuScenes).
    """
    p = Path(img_path)
    if semantic_root is None:
        return p.parent.parent.parent / 'semseg' / p.parent.name / (p.stem + suffix)
    return Path(semantic_root) / p.parent.name / (p.stem + suffix)


def load_paired_sample(info: NuScenesSample, source: SuperpixelSource,
                       img_size: Tuple[int, int], cameras: Optional[Sequence[str]] = None,
                       num_pts_feats: int = 4, min_depth: float = 1.0,
                       semantic_root: Optional[str] = None) -> Dict[str, np.ndarray]:
    """Points, resized images, superpixels and pairs of one sample.

    Args:
        info (NuScenesSample): the sample (``load_nuscenes_infos``).
        source (SuperpixelSource): superpixel source (SLIC, semantic map, mmseg model).
        img_size (Tuple[int, int]): ``(H, W)`` images are resized to (bilinear; label maps
            nearest); intrinsics are scaled to match.
        cameras (Optional[Sequence[str]]): channels to use; None = all, in pkl order.
        num_pts_feats (int): point columns kept (x, y, z, intensity). Defaults to 4.
        min_depth (float): pairing depth threshold in metres. Defaults to 1.0.
        semantic_root (Optional[str]): see :func:`semantic_map_path`.

    Returns:
        Dict[str, np.ndarray]: ``points`` (N, num_pts_feats) float32; ``imgs`` (Ncam, H, W, 3)
        uint8; ``superpixels`` (Ncam, H, W) int64; ``sp_classes`` (Ncam, H, W) int64 (-1 where
        the source has no semantics); ``pairing_points`` (M,) int64; ``pairing_images``
        (M, 3) int64 ``(camera, row, col)``.

    Raises:
        FileNotFoundError: if an image or semantic map is missing (path named).
        ValueError: if a semantic map's shape differs from its image's.
    """
    height, width = img_size
    points = load_points(info.lidar_path, info.num_pts_feats)[:, :num_pts_feats]
    channels = list(info.cameras) if cameras is None else list(cameras)
    imgs, sps, classes, l2c, k = [], [], [], [], []
    for channel in channels:
        cam = info.cameras[channel]
        img = Image.open(cam.img_path).convert('RGB')
        sx, sy = width / img.width, height / img.height
        semantic = None
        if source.has_semantics and not hasattr(source, 'model'):
            path = semantic_map_path(cam.img_path, semantic_root)
            if not path.exists():
                raise FileNotFoundError(f'sample {info.token}: semantic map {path} of '
                                        f'{cam.img_path} is missing')
            sem_img = Image.open(path)
            if sem_img.size != img.size:
                raise ValueError(f'{path}: semantic map size {sem_img.size} differs from the '
                                 f'image {img.size}')
            semantic = np.array(sem_img.resize((width, height), Image.NEAREST))
        rgb = np.array(img.resize((width, height), Image.BILINEAR))
        sp, cls = source(rgb, semantic)
        imgs.append(rgb)
        sps.append(sp)
        classes.append(np.full(sp.shape, -1, np.int64) if cls is None else cls)
        # Pixel centres sit on integer (u, v): resizing maps u to (u + 0.5) * sx - 0.5.
        scale = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1.0]])
        k.append(scale @ cam.cam2img)
        l2c.append(cam.lidar2cam)
    pairing_points, pairing_images = pair_points_with_pixels(
        points, np.stack(l2c), np.stack(k), (height, width), min_depth=min_depth)
    return dict(points=points.astype(np.float32), imgs=np.stack(imgs),
                superpixels=np.stack(sps).astype(np.int64),
                sp_classes=np.stack(classes).astype(np.int64),
                pairing_points=pairing_points, pairing_images=pairing_images)
