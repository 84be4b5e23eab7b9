"""A JSON-friendly summary of a recording or table, for ``ratecraft info`` and reports."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from ratecraft.data.types import FeatureTable, Recording


def describe(data: Recording | FeatureTable) -> dict[str, Any]:
    """Kind, shape, dtype, rate, duration, gain, counts and families of ``data``.

    Every key is present for both kinds (``None`` where it does not apply), so a caller can print
    one table for any file.
    """
    array = data.samples if isinstance(data, Recording) else data.values
    out: dict[str, Any] = {
        "kind": "recording" if isinstance(data, Recording) else "table",
        "shape": [int(n) for n in array.shape],
        "dtype": array.dtype.name,
        "raw_bytes": int(array.nbytes),
        "sample_rate": None,
        "duration_s": None,
        "uv_per_step": None,
        "n_channels": None,
        "n_samples": data.n_samples,
        "n_features": None,
        "families": None,
        "nan_count": int(np.isnan(array).sum()) if array.dtype.kind == "f" else 0,
    }
    if isinstance(data, Recording):
        out.update(
            sample_rate=float(data.sample_rate),
            duration_s=float(data.duration_s),
            uv_per_step=float(data.uv_per_step),
            n_channels=data.n_channels,
        )
    else:
        out["n_features"] = data.n_features
        if data.families is not None:
            out["families"] = dict(Counter(data.families))
    return out
