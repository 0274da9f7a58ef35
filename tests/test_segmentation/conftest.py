"""Fixtures of the segmentation tests: synthetic scenes with label maps, config helpers."""
from pathlib import Path

import pytest
from mmengine.config import Config

import s3pt_mm.segmentation  # noqa: F401  registers the segmentation modules
from s3pt_mm.synthetic import SyntheticConfig, generate_dataset

REPO = Path(__file__).resolve().parents[2]

#: 3 scenes x 2 samples x 6 cameras, small images: 24 train and 12 val images.
SEG_SCENES = SyntheticConfig(num_scenes=3, samples_per_scene=2, seed=3, image_size=(256, 144),
                             num_val_scenes=1)


@pytest.fixture(scope='session')
def synthetic_seg_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('synthetic_seg')
    generate_dataset(str(root), SEG_SCENES)
    return root


@pytest.fixture(scope='session')
def seg_scenes() -> SyntheticConfig:
    return SEG_SCENES


@pytest.fixture
def demo_cfg(synthetic_seg_root, tmp_path) -> Config:
    """The CPU demo config on the test scenes, single process, no worker processes."""
    cfg = Config.fromfile(str(REPO / 'configs/segmenter/linear_vit-tiny_synthetic-224x224.py'))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(synthetic_seg_root)
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    cfg.work_dir = str(tmp_path / 'work_dir')
    return cfg
