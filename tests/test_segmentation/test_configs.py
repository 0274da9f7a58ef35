"""Every segmentation config loads, states the protocol's values, and builds its model."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmseg.registry import DATASETS, MODELS, TRANSFORMS

from s3pt_mm.segmentation.label_spaces import label_space

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / 'configs' / 'segmenter').rglob('*.py'))
PROTOCOL = [c for c in CONFIGS if '_160k_' in c.name]
DG = [c for c in CONFIGS if c.parent.name == 'dg']


def _name(path: Path) -> str:
    return str(path.relative_to(REPO / 'configs' / 'segmenter'))


def test_the_grid_is_complete():
    names = {c.name for c in PROTOCOL}
    for head in ('linear', 'mask'):
        for arch in ('s16', 'b16'):
            for data in ('nuimages-512x512', 'cityscapes-768x768'):
                assert f'{head}_vit-{arch}_160k_{data}.py' in names
    assert {c.name for c in DG} >= {'linear_vit-s16_nuimages-to-cityscapes.py',
                                    'linear_vit-s16_cityscapes-to-nuimages.py'}


@pytest.mark.parametrize('path', CONFIGS, ids=_name)
def test_config_loads_with_a_frozen_backbone(path):
    cfg = Config.fromfile(str(path))
    assert cfg.default_scope == 'mmseg'
    assert cfg.custom_imports == dict(imports=['s3pt_mm', 's3pt_mm.segmentation'],
                                      allow_failed_imports=False)
    backbone = cfg.model.backbone
    assert backbone.frozen_exclude == [] and backbone.drop_path_rate == 0.0
    assert backbone.patch_bias and backbone.norm_cfg.eps == 1e-6
    assert tuple(backbone.img_size) == (224, 224) and backbone.patch_size == 16
    assert cfg.model.decode_head.in_channels == backbone.embed_dims
    train_classes = DATASETS.get(cfg.train_dataloader.dataset.type).METAINFO['classes']
    assert cfg.model.decode_head.num_classes == len(train_classes)
    with DefaultScope.overwrite_default_scope('mmseg'):
        for key in ('train_dataloader', 'test_dataloader'):
            for step in cfg[key].dataset.pipeline:
                TRANSFORMS.build(step)


@pytest.mark.parametrize('path', PROTOCOL, ids=_name)
def test_protocol_configs_follow_the_paper(path):
    cfg = Config.fromfile(str(path))
    # The poly decay has no `end`: mmengine ends it at max_iters (docs/resuming.md).
    assert cfg.train_cfg.max_iters == 160000 and 'end' not in cfg.param_scheduler[0]
    assert cfg.optim_wrapper.optimizer.type == 'SGD'
    assert cfg.optim_wrapper.optimizer.lr == 8e-4  # the first of the swept {8e-4, 3e-4, 8e-5}
    crop = (512, 512) if 'nuimages' in path.name else (768, 768)
    assert tuple(cfg.model.test_cfg.crop_size) == crop
    crops = [s for s in cfg.train_dataloader.dataset.pipeline if s.type == 'RandomCrop']
    assert tuple(crops[0].crop_size) == crop
    dims = 384 if 'vit-s16' in path.name else 768
    assert cfg.model.backbone.embed_dims == dims and cfg.model.backbone.num_layers == 12
    assert cfg.model.backbone.num_heads == dims // 64
    assert cfg.val_evaluator.type == 'PerClassIoUMetric'


@pytest.mark.parametrize('path', DG, ids=_name)
def test_dg_configs_score_the_trained_classes_on_the_other_dataset(path):
    cfg = Config.fromfile(str(path))
    source, target = path.stem.split('_')[-1].split('-to-')
    assert cfg.train_dataloader.dataset.type == {'nuimages': 'NuImagesSegDataset',
                                                 'cityscapes': 'CityscapesDataset'}[source]
    assert cfg.test_dataloader.dataset.type == {'nuimages': 'NuImagesSegDataset',
                                                'cityscapes': 'CityscapesDataset'}[target]
    assert cfg.test_evaluator.type == 'CrossDatasetIoUMetric'
    trained = DATASETS.get(cfg.train_dataloader.dataset.type).METAINFO['classes']
    assert label_space(cfg.test_evaluator.model_classes) == tuple(trained)


@pytest.mark.parametrize('path', [c for c in CONFIGS if c not in DG], ids=_name)
def test_model_builds(path):
    cfg = Config.fromfile(str(path))
    cfg.model.backbone.init_cfg = None  # no converted checkpoint here
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    frozen = [p.requires_grad for p in model.backbone.parameters()]
    assert frozen and not any(frozen)
    assert all(p.requires_grad for p in model.decode_head.parameters())
