"""A JSON-friendly summary of a recording or table, for ``ratecraft info`` and reports."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from ratecraft.data.columns import column_types, types_summary
from ratecraft.data.sources import Source, as_source
from ratecraft.data.types import FeatureTable, Recording

_SCAN_FRAMES = 1 << 16


def describe(data: Recording | FeatureTable | Source) -> dict[str, Any]:
    """Kind, shape, dtype, rate, duration, gain, counts and families of ``data`` (a source is
    scanned chunk by chunk for NaN only when it holds floats).

    A table's column types (:mod:`ratecraft.data.columns`) are read from its first
    65,536 rows.

    Every key is present for both kinds (``None`` where it does not apply), so a caller can print
    one table for any file.
    """
    source = as_source(data)
    f = source.facts
    table = f.kind == "table"
    nan = 0
    if source.dtype.kind == "f":
        nan = sum(int(np.isnan(b).sum()) for _, b in source.chunks(_SCAN_FRAMES))
    out: dict[str, Any] = {
        "kind": f.kind,
        "shape": [source.frames, source.rows] if table else [source.rows, source.frames],
        "dtype": source.dtype.name,
        "raw_bytes": source.nbytes,
        "sample_rate": None,
        "duration_s": None,
        "uv_per_step": None,
        "n_channels": None,
        "n_samples": source.frames,
        "n_features": None,
        "families": None,
        "nan_count": nan,
    }
    if not table:
        rate = float(f.sample_rate or 0.0)
        out.update(
            sample_rate=rate or None,
            duration_s=source.frames / rate if rate else None,
            uv_per_step=float(f.uv_per_step),
            n_channels=source.rows,
            units=f.units,
            channel_positions=None
            if f.channel_positions is None
            else list(np.asarray(f.channel_positions).shape),
            meta_keys=sorted(f.meta) or None,
        )
    else:
        out["n_features"] = source.rows
        if f.families is not None:
            out["families"] = dict(Counter(f.families))
        head = source.read(0, min(source.frames, _SCAN_FRAMES))
        types = column_types(FeatureTable(values=head.T, meta=dict(f.meta)))
        out["column_types"] = types_summary(types)
    return out
