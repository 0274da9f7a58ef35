"""Strict JSON output of metrics: no NaN/Infinity, no numpy/torch types."""
import json
import math
from pathlib import Path
from typing import Any


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` and numpy/torch scalars and
    arrays turned into Python numbers and lists (strict JSON, RFC 8259, has no NaN/Infinity).

    Args:
        value: a metrics structure (nested dicts, lists/tuples, numbers, strings, arrays).

    Returns:
        The same structure made of JSON types only; dict keys become strings.
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, 'tolist'):  # numpy / torch scalars and arrays
        return json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dump_json(value: Any, path: str) -> None:
    """Write ``json_safe(value)`` to ``path`` (indent 2), creating parent folders.

    Raises:
        TypeError: ``value`` holds something JSON cannot represent (e.g. an object).
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w') as f:
        json.dump(json_safe(value), f, indent=2, allow_nan=False)
