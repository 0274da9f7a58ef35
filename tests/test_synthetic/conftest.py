"""A synthetic nuScenes dataset generated once per test session into pytest's tmp dir."""
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from s3pt_mm.synthetic import GenerationSummary, SyntheticConfig, generate_dataset

#: The test-size dataset: 2 scenes x 3 samples, 1 train + 1 val scene.
TEST_CONFIG = SyntheticConfig(num_scenes=2, samples_per_scene=3, seed=0, image_size=(640, 360))


@dataclass(frozen=True)
class GeneratedDataset:
    root: Path
    config: SyntheticConfig
    summary: GenerationSummary
    seconds: float


@pytest.fixture(scope='session')
def synthetic_dataset(tmp_path_factory) -> GeneratedDataset:
    """Generate ``TEST_CONFIG`` once; the wall-clock time is kept for the timing report."""
    root = tmp_path_factory.mktemp('synthetic_nuscenes')
    start = time.perf_counter()
    summary = generate_dataset(str(root), TEST_CONFIG)
    return GeneratedDataset(root=root, config=TEST_CONFIG, summary=summary,
                            seconds=time.perf_counter() - start)


@pytest.fixture(scope='session')
def nusc(synthetic_dataset):
    """nuscenes-devkit's ``NuScenes`` over the generated dataset (skips if the devkit is absent)."""
    nuscenes = pytest.importorskip('nuscenes.nuscenes', reason='nuscenes-devkit not installed')
    return nuscenes.NuScenes(version=synthetic_dataset.config.version,
                             dataroot=str(synthetic_dataset.root), verbose=False)
