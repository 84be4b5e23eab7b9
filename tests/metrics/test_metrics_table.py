"""Per-feature and per-family NMSE on hand-made tables."""

import math

import numpy as np
import pytest

from ratecraft.errors import BadInputError
from ratecraft.metrics import per_family_nmse, per_feature_nmse


def _tables():
    original = np.array(
        [
            [1.0, 5.0, 1.0, 0.0],
            [2.0, 5.0, np.nan, 2.0],
            [3.0, 5.0, 3.0, 0.0],
            [4.0, 5.0, 5.0, 2.0],
        ]
    )
    reconstructed = np.array(
        [
            [1.0, 5.0, 1.0, 1.0],
            [2.0, 5.0, 100.0, 1.0],  # the NaN position in the original is ignored
            [3.0, 5.0, 3.0, 1.0],
            [5.0, 6.0, 5.0, 1.0],
        ]
    )
    return original, reconstructed


def test_per_feature_nmse_by_hand() -> None:
    x, y = _tables()
    nmse = per_feature_nmse(x, y)
    assert nmse[0] == pytest.approx(0.25 / 1.25)  # MSE 1/4, variance of 1..4 is 1.25
    assert nmse[1] == pytest.approx(0.25 / 26.0)  # constant 5: MSE / (1 + mean²)
    assert nmse[2] == 0.0
    assert nmse[3] == pytest.approx(1.0)  # predicting the mean gives NMSE 1


def test_identical_tables_and_nan_only_feature() -> None:
    x, _ = _tables()
    assert np.all(per_feature_nmse(x, np.nan_to_num(x)) == 0.0)
    x[:, 2] = np.nan
    assert math.isnan(per_feature_nmse(x, np.zeros_like(x))[2])


def test_per_family_nmse() -> None:
    x, y = _tables()
    families = ["a", "b", "a", "b"]
    out = per_family_nmse(x, y, families)
    assert list(out) == ["a", "b"]
    assert out["a"] == pytest.approx((0.2 + 0.0) / 2)
    assert out["b"] == pytest.approx((0.25 / 26.0 + 1.0) / 2)
    x[:, 1] = np.nan
    x[:, 3] = np.nan
    assert math.isnan(per_family_nmse(x, y, families)["b"])


def test_bad_inputs_raise() -> None:
    x, y = _tables()
    with pytest.raises(BadInputError, match="shape mismatch"):
        per_feature_nmse(x, y[:, :3])
    bad = y.copy()
    bad[0, 0] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        per_feature_nmse(x, bad)
    with pytest.raises(BadInputError, match="families"):
        per_family_nmse(x, y, ["a", "b"])
    with pytest.raises(BadInputError):
        per_feature_nmse(x[0], y[0])
