"""nuImages semantic segmentation in the layout ``nuimages_to_semseg.py`` writes."""
import os.path as osp
from typing import List

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .label_spaces import NUIMAGES_SEG_CLASSES, NUIMAGES_SEG_PALETTE


@DATASETS.register_module()
class NuImagesSegDataset(BaseSegDataset):
    """nuImages key frames with the paper's classes (docs/segmentation.md, "Class mapping").

    Layout (``tools/dataset_converters/nuimages_to_semseg.py``)::

        data_root/images/<split>/<stem>.jpg
        data_root/annotations/<split>/<stem>.png   uint8, NUIMAGES_SEG_CLASSES ids, 255 ignored

    Label 0 is the *background* class (trained and evaluated), so unlike ADE20k nothing is
    dropped: ``reduce_zero_label`` is False.

    Args:
        img_suffix (str): Defaults to '.jpg'.
        seg_map_suffix (str): Defaults to '.png'.
        **kwargs: :class:`mmseg.datasets.BaseSegDataset` arguments (``data_root``,
            ``data_prefix=dict(img_path=..., seg_map_path=...)``, ``pipeline``, ...).
    """

    METAINFO = dict(classes=NUIMAGES_SEG_CLASSES,
                    palette=[list(color) for color in NUIMAGES_SEG_PALETTE])

    def __init__(self, img_suffix: str = '.jpg', seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        kwargs.setdefault('reduce_zero_label', False)
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

    def load_data_list(self) -> List[dict]:
        """List the image/label pairs; fail early on an empty or incomplete folder.

        Raises:
            FileNotFoundError: if no image is found or an image has no label PNG.
        """
        img_dir = self.data_prefix.get('img_path', '')
        if not osp.isdir(img_dir):
            raise FileNotFoundError(f'nuImages segmentation images not found: {img_dir} (run '
                                    'tools/dataset_converters/nuimages_to_semseg.py)')
        data_list = super().load_data_list()
        if not data_list:
            raise FileNotFoundError(f'no *{self.img_suffix} images under {img_dir}')
        missing = [d['seg_map_path'] for d in data_list
                   if 'seg_map_path' in d and not osp.isfile(d['seg_map_path'])]
        if missing:
            raise FileNotFoundError(f'{len(missing)} label maps missing, e.g. {missing[0]}')
        return data_list
