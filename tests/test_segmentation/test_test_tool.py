"""tools/test.py on a synthetic Segmenter checkpoint: the Runner's own test metrics, strict
JSON (NaN -> null), pictures from mmseg's SegVisualizationHook; tools/test_seg.py's JSON too."""
import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
from mmengine.runner import Runner

REPO = Path(__file__).resolve().parents[2]


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _strict(text: str):
    """json.loads that refuses NaN/Infinity (what Python's json writes by default)."""
    def refuse(name):
        raise ValueError(f'non-standard JSON constant {name}')
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope='module')
def seg_checkpoint(synthetic_seg_root, tmp_path_factory):
    """(config path, checkpoint path, reference metrics): a random tiny Segmenter saved the way
    mmengine saves one, and the metrics of a Runner that loads it itself."""
    from mmengine.config import Config
    tmp = tmp_path_factory.mktemp('seg_test_tool')
    cfg = Config.fromfile(str(REPO / 'configs/segmenter/linear_vit-tiny_synthetic-224x224.py'))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(synthetic_seg_root)
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    config = tmp / 'config.py'
    cfg.dump(str(config))
    torch.manual_seed(0)
    cfg.work_dir = str(tmp / 'reference')
    runner = Runner.from_cfg(cfg)
    checkpoint = tmp / 'segmenter.pth'
    torch.save(dict(meta=dict(), state_dict=runner.model.state_dict()), checkpoint)
    cfg.load_from = str(checkpoint)
    reference = Runner.from_cfg(cfg).test()
    return config, checkpoint, reference


def test_tool_gives_the_runner_metrics_and_strict_json(seg_checkpoint, tmp_path):
    config, checkpoint, reference = seg_checkpoint
    out = tmp_path / 'metrics.json'
    metrics = _tool('test').main([str(config), str(checkpoint), '--work-dir',
                                  str(tmp_path / 'work'), '--out', str(out),
                                  '--show-dir', str(tmp_path / 'show'),
                                  '--cfg-options', 'default_hooks.visualization.interval=1'])
    assert metrics.keys() == reference.keys()
    for key, value in reference.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(metrics[key]), key
        else:
            assert metrics[key] == pytest.approx(value, abs=1e-9), key
    written = _strict(out.read_text())
    assert any(isinstance(v, float) and math.isnan(v) for v in metrics.values()), \
        'expected a class absent from the synthetic test set (NaN IoU)'
    for key, value in metrics.items():
        if isinstance(value, float) and math.isnan(value):
            assert written[key] is None, key
        else:
            assert written[key] == pytest.approx(value), key
    # SegVisualizationHook (interval 1): one picture per test image under the visualizer's
    # save_dir, image-sized.
    pictures = sorted((tmp_path / 'show').rglob('*.png'))
    assert len(pictures) == 12
    assert (tmp_path / 'work').is_dir()


def test_tool_refuses_missing_checkpoint_and_pretraining_configs(seg_checkpoint, tmp_path):
    config, _, _ = seg_checkpoint
    tool = _tool('test')
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        tool.main([str(config), str(tmp_path / 'nope.pth')])
    pretrain = tmp_path / 'pretrain.py'
    pretrain.write_text("default_scope = 'mmpretrain'\nmodel = dict(type='S3PT')\n")
    args = tool.parse_args([str(pretrain), 'x.pth'])
    with pytest.raises(ValueError, match="default_scope 'mmpretrain'"):
        tool.build_config(args)


def test_json_safe_replaces_non_finite_numbers():
    import numpy as np

    from s3pt_mm.utils.json_io import json_safe
    value = {'a': float('nan'), 'b': [np.float32(1.5), float('inf')], 'c': np.array([2, 3]),
             'd': torch.tensor(-float('inf')), 'e': 'text'}
    assert json_safe(value) == {'a': None, 'b': [1.5, None], 'c': [2, 3], 'd': None,
                                     'e': 'text'}


def test_test_seg_writes_strict_json(seg_checkpoint, tmp_path):
    config, checkpoint, reference = seg_checkpoint
    out = tmp_path / 'seg.json'
    _tool('test_seg').main([str(config), str(checkpoint), '--work-dir', str(tmp_path / 'w'),
                            '--out', str(out)])
    written = _strict(out.read_text())
    assert written['mIoU'] == pytest.approx(reference['mIoU'])
    assert [k for k, v in written.items() if v is None] == \
        [k for k, v in reference.items() if isinstance(v, float) and math.isnan(v)]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_dist_test_sh_with_the_pytorch_launcher(seg_checkpoint, tmp_path):
    """tools/dist_test.sh: one torchrun process, same metrics, strict JSON. Needs CUDA: mmengine's
    pytorch launcher calls ``torch.cuda.set_device`` whatever the backend."""
    import os
    import socket
    import subprocess
    import sys
    config, checkpoint, reference = seg_checkpoint
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(port), OMP_NUM_THREADS='1')
    out = tmp_path / 'dist.json'
    subprocess.run(['bash', str(REPO / 'tools/dist_test.sh'), str(config), str(checkpoint), '1',
                    '--work-dir', str(tmp_path / 'work'), '--out', str(out)],
                   check=True, env=env, cwd=tmp_path, timeout=600)
    written = _strict(out.read_text())
    assert written['mIoU'] == pytest.approx(reference['mIoU'])
    assert written['aAcc'] == pytest.approx(reference['aAcc'])
