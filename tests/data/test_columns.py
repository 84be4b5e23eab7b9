"""Column types: detection per column, and the summary ``ratecraft info`` shows."""

from __future__ import annotations

import numpy as np

from ratecraft.data.columns import (
    TEXT_META_KEY,
    column_type,
    column_types,
    decimal_scale,
    types_summary,
)
from ratecraft.data.types import FeatureTable


def test_each_type_is_detected() -> None:
    rng = np.random.default_rng(0)
    assert column_type(np.full(10, 3.0)).kind == "constant"
    assert column_type(np.array([0.0, 1.0, 1.0, np.nan])).kind == "binary"
    cat = column_type(rng.integers(0, 5, 100).astype(float))
    assert (cat.kind, cat.distinct, cat.scale) == ("categorical", 5, 0)
    assert column_type(rng.integers(0, 1000, 500).astype(float)).kind == "integer"
    dec = column_type(np.round(rng.normal(0, 10, 500), 3))
    assert (dec.kind, dec.scale, dec.label()) == ("decimal", 3, "decimal(3)")
    assert column_type(rng.normal(0, 1, 500)).kind == "float"
    text = column_type(np.array([0.0, 1.0, np.nan]), text=True)
    assert (text.kind, text.missing, text.label()) == ("text", 1, "text(2)")


def test_decimal_scale_is_exact_in_float64() -> None:
    assert decimal_scale(np.array([0.1, 0.25, 3.0])) == 2
    assert decimal_scale(np.array([1.0, 2.0])) == 0
    assert decimal_scale(np.array([6.0760000000000005])) is None  # a decimal plus one ulp
    assert decimal_scale(np.array([-0.0])) is None
    assert decimal_scale(np.array([np.inf])) is None


def test_table_summary_counts_types_and_missing() -> None:
    x = np.column_stack([np.arange(100.0), np.full(100, 2.0), np.r_[np.nan, np.ones(99)]])
    table = FeatureTable(values=x, meta={TEXT_META_KEY: {"1": ["only"]}})
    types = column_types(table)
    assert [t.kind for t in types] == ["integer", "text", "constant"]
    assert types_summary(types) == {
        "integer": 1,
        "text(1)": 1,
        "constant": 1,
        "with missing values": 1,
    }
