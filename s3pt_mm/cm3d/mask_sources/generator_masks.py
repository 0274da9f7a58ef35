"""Masks from the synthetic generator's per-pixel instance ids (exact, score 1)."""
import json
from pathlib import Path
from typing import Dict, List

import numpy as np

from s3pt_mm.datasets.nuscenes_infos import NuScenesSample
from s3pt_mm.synthetic.instance_maps import read_instance_map

from .base import InstanceMask, MaskSource


class GeneratorMaskSource(MaskSource):
    """Instance masks read from ``instance/<CAM>/<stem>.png`` of a synthetic dataset.

    Each non-zero id of a camera's instance map is one mask; its class is the detection name
    of the actor in ``instance/<logfile>.json`` (actors whose category has no detection class
    give no mask). This is the "perfect 2D masks" setting: what remains is the lifting's error.

    Args:
        data_root (str): dataset root written by ``tools/create_synthetic_nuscenes.py``.
        min_pixels (int): ignore instances with fewer pixels. Defaults to 1.
    """

    def __init__(self, data_root: str, min_pixels: int = 1) -> None:
        self.root = Path(data_root)
        self.min_pixels = int(min_pixels)
        self._tables: Dict[str, dict] = {}

    def _table(self, logfile: str) -> dict:
        if logfile not in self._tables:
            path = self.root / 'instance' / f'{logfile}.json'
            if not path.is_file():
                raise FileNotFoundError(f'instance table {path} not found (generate the dataset '
                                        'with a generator that writes instance maps)')
            self._tables[logfile] = json.loads(path.read_text())['instances']
        return self._tables[logfile]

    def masks(self, sample: NuScenesSample) -> List[InstanceMask]:
        """Masks of every camera of ``sample`` (see :class:`MaskSource`).

        Raises:
            FileNotFoundError: if an instance map or the scene's instance table is missing
                (the path is named).
        """
        out = []
        for cam, camera in sample.cameras.items():
            stem = Path(camera.img_path).stem
            path = self.root / 'instance' / cam / f'{stem}.png'
            if not path.is_file():
                raise FileNotFoundError(f'sample {sample.token}: instance map {path} not found')
            ids = read_instance_map(str(path))
            table = self._table(stem.split('__')[0])
            values, counts = np.unique(ids[ids > 0], return_counts=True)
            for value, count in zip(values.tolist(), counts.tolist()):
                entry = table.get(str(value))
                if entry is None:
                    raise ValueError(f'{path}: instance id {value} is not in the scene table')
                if entry['detection_name'] is None or count < self.min_pixels:
                    continue
                out.append(InstanceMask(camera=cam, mask=ids == value,
                                        label=entry['detection_name'], score=1.0))
        return out
