"""Pre-training models build from mmpretrain's registries, whatever scope earlier tests left."""
import pytest
from mmengine.registry import DefaultScope


@pytest.fixture(autouse=True)
def _mmpretrain_scope():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield
