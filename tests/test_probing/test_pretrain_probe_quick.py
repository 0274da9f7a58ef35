"""Smoke test of `benchmarks/pretrain_probe.py --quick` (the protocol end to end)."""
import importlib.util
import json
import math
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / 'benchmarks' / 'pretrain_probe.py'


@pytest.mark.slow
def test_quick_protocol_runs_every_method_and_reports(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location('pretrain_probe', BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(['--quick', '--data-root', str(tmp_path / 'data'),
                          '--work-dir', str(tmp_path / 'work')])
    out = capsys.readouterr().out
    for name in ('random init', 'DINO', 'CrIBo', 'S3PT', 'seg. mIoU', 'object bal. acc.'):
        assert name in out
    saved = json.loads((tmp_path / 'work' / 'results.json').read_text())
    assert set(saved['runs']) == {'random', 'dino', 'cribo', 's3pt'}
    for method, by_seed in result['runs'].items():
        metrics = by_seed[0]
        assert 0 <= metrics['seg_mIoU'] <= 100 and 0 <= metrics['obj_linear'] <= 100
        assert metrics['obj_num_val'] > 0
    for method in ('dino', 'cribo', 's3pt'):
        epochs = result['losses'][method][0]
        assert len(epochs) == 1 and math.isfinite(epochs[0]['loss'])
