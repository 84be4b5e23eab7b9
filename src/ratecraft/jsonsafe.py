"""The one conversion of Python/NumPy values into strict JSON (no NaN or Infinity tokens).

±inf becomes ±1e308 (an exact reconstruction's SNDR is "1e308 dB") and NaN becomes ``null``;
NumPy scalars and arrays become Python numbers and lists, tuples become lists, keys strings.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

__all__ = ["JSON_INF", "dumps", "json_safe"]

JSON_INF = 1e308


def json_safe(value: Any) -> Any:
    """``value`` made strict-JSON-able, recursively (see the module doc)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return JSON_INF if value > 0 else -JSON_INF
    return value


def dumps(value: Any, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """Strict JSON text of ``value`` after :func:`json_safe`."""
    return json.dumps(json_safe(value), indent=indent, sort_keys=sort_keys, allow_nan=False)
