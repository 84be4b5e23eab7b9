"""How a run is judged: exactness, table SNDR, budgets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ratecraft.bench import RunRecord, bit_exact, table_sndr_db
from ratecraft.bench.scoring import check_budget, quality, score
from ratecraft.codecs import Budget
from ratecraft.data.types import FeatureTable, Recording


def test_table_sndr_skips_missing_entries():
    x = np.array([[1.0, np.nan], [3.0, 4.0], [5.0, 8.0]])
    assert table_sndr_db(x, np.where(np.isnan(x), 0.0, x)) == math.inf
    y = x.copy()
    y[0, 0] += 1.0
    power = (1 - 3) ** 2 + (3 - 3) ** 2 + (5 - 3) ** 2 + (4 - 6) ** 2 + (8 - 6) ** 2
    assert table_sndr_db(x, y) == pytest.approx(10 * math.log10(power / 1.0))
    y[1, 1] = np.nan
    assert math.isnan(table_sndr_db(x, y))


def test_bit_exact_compares_type_dtype_and_nan_payloads():
    a = FeatureTable(values=np.array([[1.0, np.nan]]))
    assert bit_exact(a, FeatureTable(values=a.values.copy()))
    other_nan = a.values.copy()
    other_nan.view(np.uint64)[0, 1] ^= 1  # another NaN payload
    assert np.isnan(other_nan[0, 1]) and not bit_exact(a, FeatureTable(values=other_nan))
    assert not bit_exact(a, FeatureTable(values=a.values.astype(np.float32)))
    rec = Recording(samples=np.zeros((1, 2), np.float64), sample_rate=1000.0)
    assert not bit_exact(rec, FeatureTable(values=np.zeros((2, 1))))


def test_lost_table_cells_are_counted_and_left_out():
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    y = x.copy()
    y[:, 2] = np.nan  # a dropped feature
    q = quality(FeatureTable(values=x, families=["a", "a", "b"]), FeatureTable(values=y))
    assert q["lost_cells"] == 4 and q["sndr_db"] == math.inf
    assert q["family_nmse"]["a"] == 0.0 and math.isnan(q["family_nmse"]["b"])


def _record(**values) -> RunRecord:
    rec = Recording(samples=np.zeros((1, 10), np.int16), sample_rate=1000.0)
    return RunRecord.start("x", rec, "c", Budget(lossless=True)).set(**values)


def test_budgets():
    exact = _record(bit_exact=True)
    check_budget(exact, Budget(lossless=True))
    assert exact.budget_met and exact.status == "ok"
    off = _record(bit_exact=False)
    check_budget(off, Budget(lossless=True))
    assert off.status == "failed" and not off.budget_met
    within = _record(max_abs_error=2.0)
    check_budget(within, Budget(max_error=2))
    assert within.budget_met and within.status == "ok"
    over = _record(max_abs_error=2.5)
    check_budget(over, Budget(max_error=2))
    assert over.status == "failed" and "2.5 exceeds the budget 2" in over.error
    short = _record(container_bytes=10)  # 20 raw bytes: ratio 2
    check_budget(short, Budget(ratio=3))
    assert short.budget_met is False and short.status == "ok"


def test_exact_runs_share_their_quality():
    rec = Recording(samples=np.arange(40, dtype=np.int16).reshape(2, 20), sample_rate=1000.0)
    cache: dict = {}
    first = RunRecord.start("x", rec, "a", Budget(lossless=True))
    score(first, rec, rec, budget=Budget(lossless=True), exact_cache=cache)
    assert set(cache) == {"x"} and first.sndr_db == math.inf
    cache["x"]["sndr_db"] = 123.0  # what is cached is what the next exact run gets
    second = RunRecord.start("x", rec, "b", Budget(lossless=True))
    score(second, rec, rec, budget=Budget(lossless=True), exact_cache=cache)
    assert second.sndr_db == 123.0 and second.budget_met
