"""Cleaning finds the synthetic table's pathologies, says why, and undoes what it can exactly."""

from __future__ import annotations

import numpy as np
import pytest

from ratecraft.data.clean import (
    CleaningConfig,
    CleaningReport,
    MissingCells,
    apply_cleaning,
    clean_table,
)
from ratecraft.data.synthetic import simulate_table
from ratecraft.data.types import FeatureTable
from ratecraft.errors import BadInputError


@pytest.fixture(scope="module")
def table() -> FeatureTable:
    return simulate_table(n_samples=1000, seed=4)


@pytest.fixture(scope="module")
def cleaned(table):
    return clean_table(table)


def test_finds_constant_nan_heavy_and_duplicate_columns(table, cleaned) -> None:
    out, report = cleaned
    reasons = report.reasons()
    assert set(reasons) == {
        *table.meta["constant_columns"],
        *table.meta["nan_columns"],
        *table.meta["duplicate_columns"],
    }
    assert reasons["initial_11"] == "constant"
    assert reasons["summary_15"] == "duplicate of summary_04"
    frac = float(np.isnan(table.values[:, table.feature_names.index("summary_07")]).mean())
    assert reasons["summary_07"] == f"nan_fraction={frac:.2f} > 0.2"
    kinds = {d.name: d.kind for d in report.dropped}
    assert kinds == {
        "initial_11": "constant",
        "summary_07": "nan_fraction",
        "summary_15": "duplicate",
    }
    assert out.n_features == table.n_features - 3
    assert out.feature_names == report.kept_names
    assert out.families == [table.families[j] for j in report.kept]
    assert np.isfinite(out.values).all() and out.values.dtype == np.float64
    assert np.array_equal(out.values, table.values[:, report.kept])  # nothing else touched


def test_report_round_trips_through_json(cleaned) -> None:
    _, report = cleaned
    text = report.model_dump_json()
    again = CleaningReport.model_validate_json(text)
    assert again == report
    assert again.dropped[0].model_dump(include={"name", "reason"}) == {
        "name": "initial_11",
        "reason": "constant",
    }


def test_missing_cells_restore_nan_and_inf_exactly() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(200, 3))
    values[[3, 50, 70], 0] = [np.nan, np.inf, -np.inf]
    values[[5, 6], 2] = np.nan
    out, report = clean_table(FeatureTable(values=values))
    assert report.kept == [0, 1, 2] and report.missing.count == 5
    finite0 = values[np.isfinite(values[:, 0]), 0]
    assert out.values[3, 0] == out.values[50, 0] == np.median(finite0) == report.fill_values[0]
    assert np.array_equal(report.missing.mask(), ~np.isfinite(values))
    restored = report.missing.restore(out.values)
    assert np.array_equal(restored, values, equal_nan=True)
    assert restored[50, 0] == np.inf and restored[70, 0] == -np.inf


def test_restore_dropped_rebuilds_constant_and_duplicate_columns(table, cleaned) -> None:
    out, report = cleaned
    full = report.restore_dropped(report.missing.restore(out.values))
    names = table.feature_names
    for name in ("initial_11", "summary_15", "summary_04", "temporal_05"):
        j = names.index(name)
        assert np.array_equal(full[:, j], table.values[:, j])
    assert np.isnan(full[:, names.index("summary_07")]).all()  # not coded: comes back as NaN


def test_apply_cleaning_reuses_training_columns_and_fill_values(cleaned) -> None:
    _, report = cleaned
    other = simulate_table(n_samples=300, seed=9)
    other.values[0, 0] = np.nan
    values, missing = apply_cleaning(other, report)
    assert values.shape == (300, len(report.kept))
    assert values[0, 0] == report.fill_values[0]  # the stored median, not re-estimated
    assert missing.rows == [0] and missing.cols == [0]
    with pytest.raises(BadInputError, match="features"):
        apply_cleaning(other.values[:, :5], report)


def test_options_switch_each_check_off(table) -> None:
    _, loose = clean_table(table, {"max_nan_fraction": 0.5})
    assert "summary_07" not in loose.reasons()
    _, keep_const = clean_table(table, CleaningConfig(drop_constant=False))
    assert "initial_11" not in keep_const.reasons()
    _, keep_dup = clean_table(table, CleaningConfig(drop_duplicates=False))
    assert "summary_15" not in keep_dup.reasons()


def test_near_constant_uses_the_tolerance_and_duplicates_of_nan_heavy_columns() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(size=100)
    mostly_nan = np.where(rng.random(100) < 0.6, np.nan, base)
    values = np.column_stack([base, 5.0 + 1e-9 * base, mostly_nan, mostly_nan])
    _, strict = clean_table(FeatureTable(values=values), {"constant_tolerance": 0.0})
    assert set(strict.reasons()) == {"f2", "f3"}
    assert all(r.startswith("nan_fraction=") for r in strict.reasons().values())
    _, tolerant = clean_table(FeatureTable(values=values), {"constant_tolerance": 1e-6})
    assert tolerant.reasons()["f1"] == "constant"


def test_bad_configs_and_unusable_tables_are_one_line_errors() -> None:
    with pytest.raises(BadInputError, match="max_nan_fraction") as info:
        CleaningConfig(max_nan_fraction=1.5)
    assert "\n" not in str(info.value)
    with pytest.raises(BadInputError, match="nan_fractoin"):
        clean_table(simulate_table(n_samples=20), {"nan_fractoin": 0.1})
    with pytest.raises(BadInputError, match="dropped all"):
        clean_table(FeatureTable(values=np.ones((10, 2))))
    with pytest.raises(BadInputError):
        MissingCells(shape=(2, 2), rows=[5], cols=[0], kinds=[0])
