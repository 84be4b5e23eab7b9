"""What each column of a table holds: constant, binary, categorical, integer, fixed-point decimal,
continuous float or text labels, and how many values are missing.

The table codecs code a column as what it is (a decimal as integers on its grid, a category as
its index), and ``ratecraft info`` and fit reports show the types. A decimal column is one whose
every value is ``k / 10**scale`` for integers ``k`` *exactly* as float64 (what a CSV of decimals
parses to), so coding ``k`` and dividing again is lossless. Text columns come from a CSV reader
(:data:`TEXT_META_KEY` in the table's metadata holds their labels; the values are label indices).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from ratecraft.data.types import FeatureTable

__all__ = [
    "CATEGORICAL_MAX",
    "MAX_SCALE",
    "TEXT_META_KEY",
    "ColumnType",
    "column_type",
    "column_types",
    "decimal_scale",
    "text_labels",
    "types_summary",
]

TEXT_META_KEY = "text_columns"  # meta: {"<column index>": [label, ...]}; values index the labels
MAX_SCALE = 9  # decimals with more fractional digits count as continuous floats
CATEGORICAL_MAX = 32  # at most this many distinct values: categorical
_EXACT_INT = float(1 << 53)


@dataclass(frozen=True)
class ColumnType:
    """One column's type; ``scale`` is the decimal digits of an integer/decimal column."""

    kind: str  # constant | binary | categorical | integer | decimal | float | text
    missing: int = 0
    distinct: int = 0
    scale: int | None = None

    def label(self) -> str:
        """Short text such as ``decimal(2)`` or ``categorical(5)``."""
        if self.kind == "decimal":
            return f"decimal({self.scale})"
        if self.kind in ("categorical", "text"):
            return f"{self.kind}({self.distinct})"
        return self.kind


def decimal_scale(values: np.ndarray) -> int | None:
    """The fewest decimal digits ``d`` with every value exactly ``rint(v·10^d) / 10^d`` in
    float64 (0 for integers), or None (a -0.0, an infinity or more than :data:`MAX_SCALE`)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if not np.isfinite(x).all():
        return None
    for d in range(MAX_SCALE + 1):
        unit = 10.0**d
        k = np.rint(x * unit)
        if k.size and np.abs(k).max() > _EXACT_INT:
            return None
        back = k.astype(np.int64) / unit  # from integers, as a decoder has them (-0.0 fails)
        if np.array_equal(back.view(np.uint64), x.view(np.uint64)):
            return d
    return None


def column_type(values: np.ndarray, *, text: bool = False) -> ColumnType:
    """The type of one column (``text``: its values index text labels)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    present = x[~np.isnan(x)]
    missing = int(x.size - present.size)
    distinct = int(np.unique(present).size)
    if text:
        return ColumnType("text", missing, distinct, 0)
    if distinct <= 1:
        return ColumnType("constant", missing, distinct)
    scale = decimal_scale(present)
    if distinct == 2:
        return ColumnType("binary", missing, distinct, scale)
    if distinct <= CATEGORICAL_MAX:
        return ColumnType("categorical", missing, distinct, scale)
    if scale == 0:
        return ColumnType("integer", missing, distinct, 0)
    if scale is not None:
        return ColumnType("decimal", missing, distinct, scale)
    return ColumnType("float", missing, distinct)


def text_labels(meta: dict[str, Any]) -> dict[int, list[str]]:
    """The text labels of a table's text columns, by column index (none: empty)."""
    spec = meta.get(TEXT_META_KEY) or {}
    return {int(k): [str(v) for v in labels] for k, labels in spec.items()}


def column_types(table: FeatureTable) -> list[ColumnType]:
    """The type of every column of ``table``."""
    text = text_labels(table.meta)
    values = np.asarray(table.values)
    return [column_type(values[:, j], text=j in text) for j in range(values.shape[1])]


def types_summary(types: list[ColumnType]) -> dict[str, int]:
    """How many columns of each type, e.g. ``{"decimal(2)": 5, "binary": 1}``; columns with
    missing values are counted under ``"with missing values"`` too."""
    out = dict(Counter(t.label() for t in types))
    missing = sum(1 for t in types if t.missing)
    if missing:
        out["with missing values"] = missing
    return out
