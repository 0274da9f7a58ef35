"""benchmarks/csc_probe.py --quick runs end to end (a smoke test; the numbers are not checked)."""
import importlib.util
import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_csc_probe_quick(tmp_path):
    path = Path(__file__).resolve().parents[2] / 'benchmarks' / 'csc_probe.py'
    spec = importlib.util.spec_from_file_location('csc_probe', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(['--out', str(tmp_path), '--quick']) == 0
    results = json.loads((tmp_path / 'results.json').read_text())['results']
    assert set(results) == {'csc', 'slidr', 'random'}
    for method in results.values():
        for values in method.values():
            assert len(values) == 1 and 0.0 <= values[0] <= 1.0
