"""Subsets of labelled scans for label-efficient fine-tuning (docs/csc.md §8)."""
import pickle
from typing import List, Tuple

import numpy as np

__all__ = ['label_subset_indices', 'write_label_subset']


def label_subset_indices(num_scans: int, fraction: float, seed: int = 0) -> List[int]:
    """``max(1, round(fraction * num_scans))`` distinct scan indices, sorted, seeded.

    Raises:
        ValueError: if ``fraction`` is not in (0, 1] or there are no scans.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f'fraction must be in (0, 1], got {fraction}')
    if num_scans < 1:
        raise ValueError('the info file has no scans')
    count = max(1, int(round(fraction * num_scans)))
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(num_scans, size=count, replace=False).tolist())


def write_label_subset(src: str, dst: str, fraction: float, seed: int = 0) -> Tuple[int, int]:
    """Write the info pkl ``src`` restricted to a seeded subset of its ``data_list``.

    Returns:
        Tuple[int, int]: kept and total scans.

    Raises:
        ValueError: if ``src`` is not an mmdet3d info file (no ``data_list``; file named).
    """
    with open(src, 'rb') as f:
        data = pickle.load(f)
    if not isinstance(data, dict) or 'data_list' not in data:
        raise ValueError(f'{src}: not an mmdet3d info file (no data_list)')
    keep = label_subset_indices(len(data['data_list']), fraction, seed)
    out = dict(data, data_list=[data['data_list'][i] for i in keep])
    with open(dst, 'wb') as f:
        pickle.dump(out, f)
    return len(keep), len(data['data_list'])
