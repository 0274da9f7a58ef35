"""Fixtures of the dataset tests: a tiny synthetic nuScenes dataset, generated once per session."""
from pathlib import Path

import numpy as np
import pytest

from s3pt_mm.synthetic import SyntheticConfig, generate_dataset

#: 1 scene x 2 keyframes x 6 cameras at 320x180: every split is the train pkl (no val scene).
SYNTHETIC_CONFIG = SyntheticConfig(num_scenes=1, samples_per_scene=2, seed=3,
                                   image_size=(320, 180), num_val_scenes=0)


@pytest.fixture(scope='session')
def synthetic_nuscenes(tmp_path_factory) -> Path:
    """Root of a generated dataset: ``nuscenes_infos_train.pkl``, ``samples/``, ``depth_gt/``,
    and the devkit tables under ``v1.0-synthetic``."""
    root = tmp_path_factory.mktemp('synthetic_nuscenes_datasets')
    generate_dataset(str(root), SYNTHETIC_CONFIG)
    return root


@pytest.fixture(scope='session')
def gt_depth_of():
    """``gt_depth_of(root, info)``: the generator's ground-truth depth map of a dataset item."""

    def load(root: Path, info: dict) -> np.ndarray:
        stem = Path(info['img_path']).stem
        return np.load(root / 'depth_gt' / info['channel'] / f'{stem}.npy')

    return load
