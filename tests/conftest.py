"""Fixtures shared by the whole test suite.

The test folders are not packages (see pytest.ini), so shared helpers live here as fixtures.
"""
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / 'shared' / 'data'


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope='session')
def nuscenes_sample_dir() -> Path:
    """The real nuScenes keyframe in ``../shared/data/nuscenes_sample`` (skips when absent)."""
    path = SHARED_DATA / 'nuscenes_sample'
    if not (path / 'n015-2018-07-24-11-22-45+0800.pkl').is_file():
        pytest.skip(f'real nuScenes keyframe not found at {path} '
                    '(../shared/data is provided beside the repository in CI)')
    return path


@pytest.fixture(scope='session')
def kitti_sample_dir() -> Path:
    """The real KITTI frame in ``../shared/data/kitti_sample`` (skips when absent)."""
    path = SHARED_DATA / 'kitti_sample'
    if not (path / '000008.bin').is_file():
        pytest.skip(f'real KITTI frame not found at {path}')
    return path
