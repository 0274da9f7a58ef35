"""tools/lr_sweep.py: one tools/train.py run per learning rate, best validation mIoU reported."""
import importlib.util
import json
import math
from pathlib import Path

import pytest

from s3pt_mm.segmentation.run_logs import best_validation

REPO = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location('lr_sweep', REPO / 'tools' / 'lr_sweep.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_scalars(run_dir: Path, stamp: str, records) -> None:
    path = run_dir / stamp / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text('\n'.join(json.dumps(r) for r in records) + '\n')


def test_best_validation_reads_every_run_of_a_work_dir(tmp_path):
    _write_scalars(tmp_path, '20240101_000000', [
        dict(loss=2.0, step=10), dict(mIoU=31.5, aAcc=80.0, step=100),
        dict(mIoU=float('nan'), step=150)])
    _write_scalars(tmp_path, '20240102_000000', [
        dict(mIoU=35.25, **{'IoU.car': 60.0}, step=200), dict(mIoU=33.0, step=300)])
    best = best_validation(str(tmp_path))
    assert best['mIoU'] == 35.25 and best['step'] == 200 and best['IoU.car'] == 60.0
    assert best_validation(str(tmp_path), metric='aAcc')['aAcc'] == 80.0
    assert best_validation(str(tmp_path / 'empty')) is None


def test_commands_and_table(tmp_path, capsys):
    tool = _tool()
    assert tool.main(['configs/segmenter/linear_vit-s16_160k_nuimages-512x512.py', '--dry-run',
                      '--work-dir', str(tmp_path), '--cfg-options', 'a=1']) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    for lr, line in zip(('0.0008', '0.0003', '8e-05'), lines):
        assert f'optim_wrapper.optimizer.lr={lr}' in line and line.endswith('a=1')
        assert str(Path(tmp_path) / f'lr_{float(lr):.0e}') in line
        assert 'tools/train.py' in line
    table = tool.format_table({'0.0008': {'mIoU': 40.0, 'IoU.car': 70.5, 'step': 16000},
                               '8e-05': None}, 'mIoU')
    assert 'lr 0.0008: mIoU 40.00 (iter 16000) | car 70.50' in table
    assert 'lr 8e-05: no validation result' in table


@pytest.mark.slow
def test_sweep_trains_each_lr_and_picks_the_best(tmp_path):
    """Two short real runs on synthetic scenes through tools/train.py (about a minute)."""
    from s3pt_mm.synthetic import SyntheticConfig, generate_dataset
    data = tmp_path / 'scenes'
    generate_dataset(str(data), SyntheticConfig(num_scenes=2, samples_per_scene=1,
                                                image_size=(160, 90)))
    config = tmp_path / 'sweep_config.py'
    config.write_text(
        f"_base_ = '{REPO}/configs/segmenter/linear_vit-tiny_synthetic-224x224.py'\n"
        "custom_imports = dict(imports=['s3pt_mm', 's3pt_mm.segmentation'],\n"
        "                      allow_failed_imports=False)\n"
        f"train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,\n"
        f"                        dataset=dict(data_root='{data}'))\n"
        f"val_dataloader = dict(num_workers=0, persistent_workers=False,\n"
        f"                      dataset=dict(data_root='{data}'))\n"
        "test_dataloader = val_dataloader\n"
        "train_cfg = dict(max_iters=4, val_interval=4)\n"
        "param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, end=4, by_epoch=False)]\n"
        "default_hooks = dict(checkpoint=dict(interval=4), logger=dict(interval=2))\n")
    tool = _tool()
    code = tool.main([str(config), '--lrs', '0.05', '1e-5', '--work-dir', str(tmp_path / 'sweep')])
    assert code == 0
    summary = json.loads((tmp_path / 'sweep' / 'lr_sweep.json').read_text())
    runs = summary['runs']
    assert set(runs) == {'0.05', '1e-05'}
    assert all(not math.isnan(r['mIoU']) for r in runs.values())
    assert summary['best_lr'] == max(runs, key=lambda k: runs[k]['mIoU'])
    for lr in (0.05, 1e-5):
        assert best_validation(tool.run_dir(str(tmp_path / 'sweep'), lr)) == runs[f'{lr:g}']
    # the learning rate reached the optimizer of each run
    for lr in (0.05, 1e-5):
        dumped = next(Path(tool.run_dir(str(tmp_path / 'sweep'), lr)).glob('*/vis_data/config.py'))
        assert f'lr={lr}' in dumped.read_text().replace(' ', '')
