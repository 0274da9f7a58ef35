"""A small synthetic dataset with instance maps and lanes, shared by the CM3D tests."""
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import List

import pytest


@dataclass
class CM3DData:
    root: Path
    raw: dict
    samples: List


@pytest.fixture(scope='session')
def cm3d_data(tmp_path_factory) -> CM3DData:
    """1 scene x 2 samples at 800x450 (the first of them is the train split)."""
    from s3pt_mm.datasets.nuscenes_infos import NUSCENES_DATA_PREFIX, load_nuscenes_infos
    from s3pt_mm.synthetic import SyntheticConfig, generate_dataset
    root = tmp_path_factory.mktemp('cm3d_synthetic')
    generate_dataset(str(root), SyntheticConfig(num_scenes=1, samples_per_scene=2, seed=5,
                                                image_size=(800, 450), num_val_scenes=0))
    pkl = root / 'nuscenes_infos_train.pkl'
    raw = pickle.load(open(pkl, 'rb'))
    return CM3DData(root=root, raw=raw,
                    samples=load_nuscenes_infos(pkl, data_prefix=NUSCENES_DATA_PREFIX))
