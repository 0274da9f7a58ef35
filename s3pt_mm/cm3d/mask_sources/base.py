"""The interface every CM3D mask source implements (docs/cm3d.md, "Mask sources")."""
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from typing import List

import numpy as np

from s3pt_mm.datasets.nuscenes_infos import NuScenesSample


@dataclass
class InstanceMask:
    """One 2D instance of one camera image.

    Attributes:
        camera (str): camera channel, e.g. ``'CAM_FRONT'``.
        mask (np.ndarray): (h, w) bool mask, at the image's resolution times ``scale``.
        label (str): detection class name (e.g. ``'car'``); any string is accepted, a class
            without a size prior gives no box (counted by the labeller).
        score (float): confidence in [0, 1] (1 for ground-truth masks).
        scale (float): mask width / image width (the reference works on 0.64-scaled masks of
            1600x900 images). Defaults to 1.
    """

    camera: str
    mask: np.ndarray
    label: str
    score: float
    scale: float = 1.0


class MaskSource(metaclass=ABCMeta):
    """Produces the instance masks of a sample's camera images.

    Subclasses implement :meth:`masks`; they are built from a config dict by
    :func:`s3pt_mm.cm3d.mask_sources.build_mask_source`.
    """

    @abstractmethod
    def masks(self, sample: NuScenesSample) -> List[InstanceMask]:
        """All instance masks of all cameras of ``sample``.

        Args:
            sample (NuScenesSample): the keyframe (image paths, calibration).

        Returns:
            List[InstanceMask]: masks in camera order (any number, possibly none).
        """
