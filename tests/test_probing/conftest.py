"""Tiny synthetic scenes of the pre-training protocol, generated once per session."""
import pytest

from s3pt_mm.probing.protocol import QUICK
from s3pt_mm.probing.scenes import prepare_scenes, scene_config


@pytest.fixture(scope='session')
def probe_scenes(tmp_path_factory):
    """(root, SyntheticConfig) of the protocol's --quick scenes (3 scenes, 128x72)."""
    root = tmp_path_factory.mktemp('probe_scenes')
    config = scene_config(QUICK.num_scenes, QUICK.samples_per_scene, QUICK.image_size,
                          QUICK.num_val_scenes)
    prepare_scenes(root, config)
    return root, config
