"""Pictures of a pre-trained S3PT model: image, LiDAR depth, teacher clusters, probe output.

:func:`teacher_clusters` computes the spatial clusters of the EMA teacher exactly as
:meth:`s3pt_mm.models.S3PT.loss` does (teacher tokens of the two global views, token
geometry from the data samples, the model's assigner, the model's seed tokens for the current
EMA step), so a map drawn from it is the assignment the object loss used on that batch (tested
in ``tests/test_probing/test_pictures.py``). ``whole_image_views`` turns a probe image into
such a batch: both "views" are the whole image (no crop), so the clusters can be drawn on it.
"""
import copy
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from ..synthetic.classes import IGNORE_INDEX, SEMANTIC_CLASSES
from .scenes import ProbeImage

_PALETTE = np.array([c.color for c in SEMANTIC_CLASSES], dtype=np.uint8)


@torch.no_grad()
def teacher_clusters(model, inputs: Sequence[Tensor], data_samples: list,
                     with_depth: bool = True) -> Tensor:
    """The teacher's spatial cluster of every token of the two global views.

    Args:
        model (S3PT): the model (its teacher, assigner and EMA step are read, not changed).
        inputs (Sequence[Tensor]): preprocessed views, the first two (B, 3, H, W) global.
        data_samples (list): the batch's data samples (``token_pos``, ``token_depth``,
            ``token_depth_valid``).
        with_depth (bool): False: the same clustering with the depth weight set to 0 (what
            CrIBo's cost would give on the same tokens). Defaults to True.

    Returns:
        Tensor: (B, 2, N) int64 cluster index per token, view by view, row-major patches.

    Raises:
        ValueError: if the model has no assigner (DINO clusters nothing).
    """
    if model.assigner is None:
        raise ValueError('the model has no assigner (DINO): there are no clusters to draw')
    teacher = model.teacher.module
    num_images = inputs[0].shape[0]
    global_views = torch.cat(list(inputs[:model.num_global_views]))
    _, t_patch = model._tokens(teacher.backbone, global_views)
    t_patch = model._per_image(t_patch, num_images)
    positions, depths, valid = model._token_geometry(data_samples, t_patch.shape[2])
    assigner = model.assigner
    if not with_depth:
        assigner = copy.copy(assigner)
        assigner.set_alpha_depth(0.0)
    clusters = assigner.assign(t_patch.flatten(1, 2).float(), positions, depths, valid,
                               seed_indices=model._cluster_seeds(positions))
    return clusters.assignment.view(num_images, model.num_global_views, -1)


def whole_image_views(model, images: Sequence[ProbeImage]) -> Tuple[List[Tensor], list]:
    """A batch whose two global views are the whole images, with their token geometry.

    Args:
        model (S3PT): supplies the data preprocessor and the patch size.
        images (Sequence[ProbeImage]): images of one size (multiples of the patch size).

    Returns:
        Tuple[List[Tensor], list]: the preprocessed views and the data samples, as
        ``model.loss`` takes them.
    """
    from mmpretrain.structures import DataSample

    from ..datasets.view_geometry import CropBox, token_depths, token_positions
    patch = model.backbone.patch_embed.projection.kernel_size[0]
    height, width = images[0].rgb.shape[:2]
    box = CropBox(0, 0, width, height, width, height)
    pos = torch.from_numpy(token_positions(box, patch))
    samples, views = [], []
    for im in images:
        depth, valid = token_depths(im.depth.astype(np.float32), patch)
        sample = DataSample()
        sample.set_field(torch.stack([pos, pos]), 'token_pos')
        sample.set_field(torch.from_numpy(np.stack([depth, depth])), 'token_depth')
        sample.set_field(torch.from_numpy(np.stack([valid, valid])), 'token_depth_valid')
        samples.append(sample)
        # The preprocessor expects BGR uint8 (mmcv loading) and converts to RGB.
        views.append(torch.from_numpy(np.ascontiguousarray(im.rgb[..., ::-1])).permute(2, 0, 1))
    data = model.data_preprocessor(dict(inputs=[torch.stack(views), torch.stack(views)],
                                        data_samples=samples), False)
    return data['inputs'], data['data_samples']


def colorize_labels(labels: np.ndarray) -> np.ndarray:
    """(H, W) semantic ids -> (H, W, 3) uint8 nuScenes colours (ignore = black)."""
    out = np.zeros(labels.shape + (3,), dtype=np.uint8)
    ok = labels != IGNORE_INDEX
    out[ok] = _PALETTE[labels[ok]]
    return out


def colorize_depth(depth: np.ndarray, max_depth: float = 80.0) -> np.ndarray:
    """(H, W) metres -> (H, W, 3) uint8: near = yellow, far = purple, no depth = black."""
    from matplotlib import colormaps
    valid = depth > 0.1
    x = np.clip(np.log1p(depth) / np.log1p(max_depth), 0, 1)
    rgb = (colormaps['plasma'](1.0 - x)[..., :3] * 255).astype(np.uint8)
    rgb[~valid] = 0
    return rgb


def cluster_overlay(rgb: np.ndarray, clusters: np.ndarray, grid: Tuple[int, int],
                    alpha: float = 0.55) -> np.ndarray:
    """Tokens' cluster colours blended over the image, cluster borders drawn white.

    Args:
        rgb (np.ndarray): (H, W, 3) uint8.
        clusters (np.ndarray): (h * w,) cluster index per token, row-major.
        grid (Tuple[int, int]): (h, w) token grid.
        alpha (float): colour weight. Defaults to 0.55.
    """
    height, width = rgb.shape[:2]
    rng = np.random.default_rng(7)
    colours = rng.integers(40, 256, size=(int(clusters.max()) + 1, 3))
    grid_map = clusters.reshape(grid)
    cell = np.kron(grid_map, np.ones((height // grid[0], width // grid[1]), dtype=np.int64))
    out = (1 - alpha) * rgb + alpha * colours[cell]
    edge = np.zeros(cell.shape, dtype=bool)
    edge[:, 1:] |= cell[:, 1:] != cell[:, :-1]
    edge[1:] |= cell[1:] != cell[:-1]
    out[edge] = 255
    return out.astype(np.uint8)


def panel(tiles: Sequence[Tuple[str, np.ndarray]], columns: int = 3) -> np.ndarray:
    """Tiles of one size with a caption strip each, in a grid."""
    height, width = tiles[0][1].shape[:2]
    caption = 14
    rows = (len(tiles) + columns - 1) // columns
    canvas = Image.new('RGB', (columns * width, rows * (height + caption)), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i, (title, tile) in enumerate(tiles):
        x, y = (i % columns) * width, (i // columns) * (height + caption)
        draw.text((x + 3, y + 1), title, fill=(0, 0, 0))
        canvas.paste(Image.fromarray(tile), (x, y + caption))
    return np.asarray(canvas)


def write_pictures(model, images: Sequence[ProbeImage], predictions: Sequence[np.ndarray],
                   out_dir: Path, tensorboard_dir: Optional[Path] = None) -> List[Path]:
    """One PNG per image: camera, completed LiDAR depth, teacher clusters with and without the
    depth term, probe segmentation, ground truth. Also logged to TensorBoard when asked.

    Args:
        model (S3PT): the pre-trained model.
        images (Sequence[ProbeImage]): the images (validation scenes).
        predictions (Sequence[np.ndarray]): (H, W) probe label maps of the same images.
        out_dir (Path): where the PNGs go.
        tensorboard_dir (Path, optional): TensorBoard log directory.

    Returns:
        List[Path]: the PNGs written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs, samples = whole_image_views(model, images)
    with_depth = teacher_clusters(model, inputs, samples, with_depth=True)[:, 0].numpy()
    without = teacher_clusters(model, inputs, samples, with_depth=False)[:, 0].numpy()
    patch = model.backbone.patch_embed.projection.kernel_size[0]
    grid = (images[0].rgb.shape[0] // patch, images[0].rgb.shape[1] // patch)
    writer = None
    if tensorboard_dir is not None:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(str(tensorboard_dir))
    paths = []
    for i, (im, pred) in enumerate(zip(images, predictions)):
        tiles = [('camera', im.rgb), ('completed LiDAR depth', colorize_depth(im.depth)),
                 ('teacher clusters, with depth', cluster_overlay(im.rgb, with_depth[i], grid)),
                 ('teacher clusters, no depth term', cluster_overlay(im.rgb, without[i], grid)),
                 ('probe segmentation', colorize_labels(pred)),
                 ('ground truth', colorize_labels(im.semantic))]
        picture = panel(tiles)
        path = out_dir / f'{i:02d}_{im.name.split("__")[1]}.png'
        Image.fromarray(picture).save(path)
        paths.append(path)
        if writer is not None:
            writer.add_image(f'demo/{path.stem}', picture, dataformats='HWC')
    if writer is not None:
        writer.close()
    return paths
