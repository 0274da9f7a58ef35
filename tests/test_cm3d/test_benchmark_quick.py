"""benchmarks/cm3d_finetune.py --quick: the whole CM3D chain (scenes, pseudo-labels, subset,
pre-training, fine-tuning, scratch, held-out evaluation) runs end to end."""
import importlib.util
import json

import pytest


@pytest.mark.slow
def test_cm3d_finetune_quick(repo_root, tmp_path):
    spec = importlib.util.spec_from_file_location('cm3d_finetune',
                                                  repo_root / 'benchmarks/cm3d_finetune.py')
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    summary = bench.main(['--work-dir', str(tmp_path), '--quick'])
    saved = json.loads((tmp_path / 'results.json').read_text())
    for name in ('cm3d_pretrain_finetune', 'scratch'):
        assert len(saved['runs'][name]) == 1
        for key in ('mAP', 'NDS'):
            mean, std = summary[f'{name}/{key}']
            assert 0.0 <= mean <= 1.0 and std == 0.0
    assert (tmp_path / 'pretrain_seed0' / 'epoch_1.pth').is_file()
    pseudo = json.loads((tmp_path / 'data' / 'cm3d_infos_train.summary.json').read_text())
    assert pseudo['counts']['boxes'] > 0
