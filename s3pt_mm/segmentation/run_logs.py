"""Read validation results back from an mmengine work dir (pure Python)."""
import json
import math
from pathlib import Path
from typing import Dict, List, Optional


def read_scalars(work_dir: str) -> List[dict]:
    """All records of ``<work_dir>/<timestamp>/vis_data/scalars.json`` (LocalVisBackend), in
    run order.

    Args:
        work_dir (str): the run's ``--work-dir``.

    Returns:
        List[dict]: one dict per logged step (training losses and validation metrics).
    """
    records: List[dict] = []
    for path in sorted(Path(work_dir).glob('*/vis_data/scalars.json')):
        with open(path) as f:
            records += [json.loads(line) for line in f if line.strip()]
    return records


def best_validation(work_dir: str, metric: str = 'mIoU') -> Optional[Dict[str, float]]:
    """The validation record with the highest ``metric`` (NaN values never win).

    Args:
        work_dir (str): the run's ``--work-dir``.
        metric (str): key to maximise. Defaults to ``'mIoU'``.

    Returns:
        Optional[Dict[str, float]]: the whole record (``mIoU``, ``aAcc``, ``IoU.<class>``,
        ``step``, ...) or None when the run logged no validation.
    """
    candidates = [r for r in read_scalars(work_dir)
                  if isinstance(r.get(metric), (int, float)) and not math.isnan(r[metric])]
    return max(candidates, key=lambda r: r[metric]) if candidates else None
