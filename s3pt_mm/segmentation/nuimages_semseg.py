"""nuImages (devkit format) -> image + label-PNG pairs for mmseg.

For every key camera frame of a nuImages version the label map is drawn the way the devkit's
``NuImages.get_segmentation`` draws it — background 0, surface masks in table order, then object
masks sorted by token, later masks over earlier ones — and the nuImages categories are mapped to
``NUIMAGES_SEG_CLASSES`` (``label_spaces.py``; ignored categories -> 255). Unlike
``get_segmentation``, which scans every annotation of the version for each image, annotations
are grouped by image once, so converting the 67k training images is linear in their number.

Output layout (ADE20k-like, read by ``NuImagesSegDataset``)::

    OUT/images/<split>/<stem>.jpg        the camera image (symlink or copy)
    OUT/annotations/<split>/<stem>.png   uint8 labels, values = NUIMAGES_SEG_CLASSES ids / 255

with ``<split>`` from the version (``v1.0-train`` -> ``train``) and ``<stem>`` the nuImages file
name (``n008-...__CAM_FRONT__1526915243037570``).
"""
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np
from PIL import Image

from s3pt_mm.segmentation.label_spaces import IGNORE_INDEX, nuimages_category_lut

IMAGE_MODES = ('symlink', 'copy', 'none')


@dataclass
class SplitSummary:
    """What one version's conversion wrote.

    Attributes:
        version (str): nuImages version, e.g. ``'v1.0-val'``.
        split (str): output sub-folder, e.g. ``'val'``.
        num_images (int): key frames converted.
        pixel_counts (np.ndarray): (256,) label histogram over all written maps.
        skipped (List[str]): key frames not written (``"<file>: reason"``).
    """

    version: str
    split: str
    num_images: int = 0
    pixel_counts: np.ndarray = field(default_factory=lambda: np.zeros(256, dtype=np.int64))
    skipped: List[str] = field(default_factory=list)


def split_name(version: str) -> str:
    """``'v1.0-train'`` -> ``'train'`` (the part after the last '-')."""
    return version.rsplit('-', 1)[-1]


def draw_semantic_labels(height: int, width: int, surface_masks: Sequence[tuple],
                         object_masks: Sequence[tuple],
                         category_lut: np.ndarray) -> np.ndarray:
    """Draw one image's label map from its decoded annotation masks.

    Args:
        height (int): image height H.
        width (int): image width W.
        surface_masks (Sequence[tuple]): (category index, (H, W) binary mask) per
            ``surface_ann``, in table order.
        object_masks (Sequence[tuple]): (category index, (H, W) binary mask) per
            ``object_ann``, already sorted by token.
        category_lut (np.ndarray): (num categories,) category index -> class id (255 =
            ignore), from :func:`nuimages_category_lut`.

    Returns:
        np.ndarray: (H, W) uint8 labels; 0 (background) where no mask covers a pixel.

    Raises:
        ValueError: if a mask is not (H, W).
    """
    labels = np.zeros((height, width), dtype=np.uint8)
    for category, mask in list(surface_masks) + list(object_masks):
        if mask.shape != (height, width):
            raise ValueError(f'mask of shape {mask.shape} for a {height}x{width} image')
        labels[mask.astype(bool)] = category_lut[category]
    return labels


def _decode(record: Mapping, what: str) -> Optional[np.ndarray]:
    from nuimages.utils.utils import mask_decode
    if record.get('mask') is None:  # nuImages has a few annotations without a mask
        return None
    try:
        return mask_decode(record['mask'])
    except Exception as err:  # pycocotools raises bare exceptions on corrupt RLE
        raise ValueError(f'{what} {record["token"]}: cannot decode its mask ({err})') from err


def _place_image(src: Path, dst: Path, mode: str) -> None:
    if mode == 'none':
        return
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    if mode == 'symlink':
        dst.symlink_to(src.resolve())
    else:
        shutil.copyfile(src, dst)


def convert_nuimages_version(dataroot: str, version: str, out_dir: str,
                             image_mode: str = 'symlink',
                             progress: Optional[Callable[[int], None]] = None,
                             on_total: Optional[Callable[[int], None]] = None) -> SplitSummary:
    """Convert the key frames of one nuImages version to image + label-PNG pairs.

    Args:
        dataroot (str): nuImages root (``samples/``, ``<version>/*.json``).
        version (str): e.g. ``'v1.0-train'``; must have annotations (not ``-test``).
        out_dir (str): output root (layout in the module docstring).
        image_mode (str): ``'symlink'`` (default), ``'copy'`` or ``'none'`` (labels only).
        progress (Callable[[int], None], optional): called with 1 after every image.
        on_total (Callable[[int], None], optional): called once with the number of images.

    Returns:
        SplitSummary: counts and label histogram.

    Raises:
        FileNotFoundError: if the version's tables or a key-frame image are missing.
        ValueError: for an unknown ``image_mode``, a version without annotations, an unknown
            category or a mask of the wrong size (naming the annotation).
    """
    from nuimages import NuImages

    if image_mode not in IMAGE_MODES:
        raise ValueError(f'image_mode must be one of {IMAGE_MODES}, got {image_mode!r}')
    if not (Path(dataroot) / version / 'sample.json').is_file():
        raise FileNotFoundError(f'nuImages tables not found: {Path(dataroot) / version}')
    nuim = NuImages(version=version, dataroot=dataroot, lazy=True, verbose=False)
    summary = SplitSummary(version=version, split=split_name(version))
    if not nuim.object_ann and not nuim.surface_ann:
        raise ValueError(f'{version} has no annotations (the test split cannot be converted)')
    category_lut = nuimages_category_lut([c['name'] for c in nuim.category])
    category_index = {c['token']: i for i, c in enumerate(nuim.category)}
    surfaces: Dict[str, list] = defaultdict(list)
    objects: Dict[str, list] = defaultdict(list)
    for ann in nuim.surface_ann:
        surfaces[ann['sample_data_token']].append(ann)
    for ann in nuim.object_ann:
        objects[ann['sample_data_token']].append(ann)

    img_out = Path(out_dir) / 'images' / summary.split
    ann_out = Path(out_dir) / 'annotations' / summary.split
    ann_out.mkdir(parents=True, exist_ok=True)
    if image_mode != 'none':
        img_out.mkdir(parents=True, exist_ok=True)
    if on_total is not None:
        on_total(len(nuim.sample))
    for sample in nuim.sample:
        sd = nuim.get('sample_data', sample['key_camera_token'])
        image_path = Path(dataroot) / sd['filename']
        if not image_path.is_file():
            raise FileNotFoundError(f'{version}: image of sample {sample["token"]} not found: '
                                    f'{image_path}')
        height, width = int(sd['height']), int(sd['width'])
        surface_masks, object_masks = [], []
        for ann in surfaces.get(sd['token'], []):
            mask = _decode(ann, 'surface_ann')
            if mask is not None:
                surface_masks.append((category_index[ann['category_token']], mask))
        for ann in sorted(objects.get(sd['token'], []), key=lambda a: a['token']):
            mask = _decode(ann, 'object_ann')
            if mask is not None:
                object_masks.append((category_index[ann['category_token']], mask))
        try:
            labels = draw_semantic_labels(height, width, surface_masks, object_masks,
                                          category_lut)
        except ValueError as err:
            raise ValueError(f'{version}, sample_data {sd["token"]} ({sd["filename"]}): '
                             f'{err}') from err
        stem = Path(sd['filename']).stem
        Image.fromarray(labels).save(ann_out / f'{stem}.png')
        _place_image(image_path, img_out / f'{stem}{image_path.suffix}', image_mode)
        summary.pixel_counts += np.bincount(labels.ravel(), minlength=256)
        summary.num_images += 1
        if progress is not None:
            progress(1)
    return summary


def class_frequencies(summary: SplitSummary, classes: Sequence[str]) -> Dict[str, float]:
    """Fraction of labelled pixels per class (ignored pixels excluded)."""
    counts = summary.pixel_counts[:len(classes)].astype(np.float64)
    total = max(counts.sum(), 1.0)
    return {name: counts[i] / total for i, name in enumerate(classes)}


def ignored_fraction(summary: SplitSummary) -> float:
    """Fraction of all pixels labelled 255 (ignored categories)."""
    total = max(int(summary.pixel_counts.sum()), 1)
    return float(summary.pixel_counts[IGNORE_INDEX]) / total


__all__ = ['SplitSummary', 'split_name', 'draw_semantic_labels', 'convert_nuimages_version',
           'class_frequencies', 'ignored_fraction', 'IMAGE_MODES']
