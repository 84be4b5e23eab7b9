"""Normalization: exact inverse, heavy tails tamed, choices reported, stats serializable."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ratecraft.data.clean import clean_table
from ratecraft.data.normalize import NormalizeConfig, Normalizer, gaussian_score
from ratecraft.data.synthetic import simulate_table
from ratecraft.errors import BadInputError

HEAVY = [f"summary_{i:02d}" for i in (0, 1, 3, 4, 5, 6, 8, 10, 11, 12, 14)]  # log-normal ones


@pytest.fixture(scope="module")
def cleaned():
    table, _ = clean_table(simulate_table(n_samples=2000, seed=1))
    return table


@pytest.fixture(scope="module")
def normalizer(cleaned) -> Normalizer:
    return Normalizer.fit(cleaned.values, cleaned.feature_names)


def _close(x: np.ndarray, y: np.ndarray) -> bool:
    """Equal to 1e-9 relative, with an absolute floor tied to each feature's magnitude."""
    floor = 1e-12 * np.abs(x).max(axis=0, keepdims=True)
    return bool(np.all(np.abs(x - y) <= 1e-9 * np.abs(x) + floor))


def test_inverse_is_exact_on_kept_features(cleaned, normalizer) -> None:
    x = cleaned.values
    assert _close(x, normalizer.inverse(normalizer.transform(x)))
    fresh, _ = clean_table(simulate_table(n_samples=500, seed=7))  # unseen data, same features
    assert _close(fresh.values, normalizer.inverse(normalizer.transform(fresh.values)))


def test_heavy_tails_get_asinh_and_a_unit_robust_scale(cleaned, normalizer) -> None:
    choices = normalizer.choices()
    assert all(choices[name] == "asinh" for name in HEAVY)
    assert all(choices[f"initial_{i:02d}"] == "identity" for i in range(10))  # Gaussian already
    z = normalizer.transform(cleaned.values)
    q25, q50, q75 = np.quantile(z, [0.25, 0.5, 0.75], axis=0)
    assert np.allclose((q75 - q25) / 1.3489795, 1.0, atol=1e-9)
    assert np.allclose(q50, 0.0, atol=1e-9)
    linear = Normalizer.fit(cleaned.values, cleaned.feature_names, {"transform": "identity"})
    zl = linear.transform(cleaned.values)
    heavy = [cleaned.feature_names.index(n) for n in HEAVY]
    assert np.abs(z[:, heavy]).max() < 10.0  # log-like: the tails are a few robust units out
    assert np.abs(zl[:, heavy]).max() > 30.0  # linear: the same tails are far out
    assert np.abs(z[:, heavy]).std(axis=0).max() < 1.5


def test_scales_from_1e_minus_3_to_1e4_look_alike_after_normalizing() -> None:
    rng = np.random.default_rng(3)
    core = rng.standard_normal((4000, 1))
    x = np.exp(core + 0.3 * rng.standard_normal((4000, 3))) * np.array([1e-3, 1.0, 1e4])
    norm = Normalizer.fit(x)
    assert norm.choices() == {"f0": "asinh", "f1": "asinh", "f2": "asinh"}
    z = norm.transform(x)
    assert np.allclose(z.std(axis=0), z.std(axis=0)[0], rtol=0.05)  # same shape at any scale
    assert _close(x, norm.inverse(z))


def test_stats_round_trip_through_json_bit_exactly(cleaned, normalizer) -> None:
    again = Normalizer.model_validate_json(normalizer.model_dump_json())
    assert again == normalizer
    assert np.array_equal(again.transform(cleaned.values), normalizer.transform(cleaned.values))
    rows = normalizer.report()
    assert {r["transform"] for r in rows} == {"identity", "asinh"}
    assert rows[0].keys() >= {"name", "transform", "asinh_scale", "center", "scale"}


def test_degenerate_features_fall_back_to_std_then_one() -> None:
    rng = np.random.default_rng(0)
    sparse = np.where(rng.random(500) < 0.9, 0.0, rng.normal(size=500))  # IQR = 0
    x = np.column_stack([np.full(500, 7.0), sparse, rng.normal(size=500)])
    norm = Normalizer.fit(x)
    assert norm.features[0].scale == 1.0
    f = norm.features[1]
    y = np.arcsinh(sparse / f.asinh_scale) if f.transform == "asinh" else sparse
    assert f.scale == pytest.approx(y.std())  # IQR is 0, so the standard deviation is used
    assert _close(x, norm.inverse(norm.transform(x)))
    assert np.isnan(norm.transform(np.full((1, 3), np.nan))).all()  # NaN passes through


def test_gaussian_score_orders_shapes() -> None:
    rng = np.random.default_rng(5)
    g = rng.standard_normal(20000)
    assert gaussian_score(g) < 0.05
    assert gaussian_score(np.exp(g)) > 1.0
    assert gaussian_score(np.zeros(10)) == float("inf")


def test_bad_input_is_rejected() -> None:
    x = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(BadInputError, match="NaN"):
        Normalizer.fit(np.where(x > 2, np.nan, x))
    with pytest.raises(BadInputError, match="2 samples"):
        Normalizer.fit(x[:1])
    with pytest.raises(BadInputError, match="expected 2 features"):
        Normalizer.fit(x).transform(np.ones((3, 5)))
    with pytest.raises(BadInputError, match="transform"):
        NormalizeConfig(transform="log")
    with pytest.raises(BadInputError, match="names"):
        Normalizer.fit(x, ["a"])


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float64, (30, 3), elements=st.floats(-1e6, 1e6, allow_nan=False, width=64)),
    st.sampled_from(["auto", "asinh", "identity"]),
)
def test_round_trip_property(x: np.ndarray, transform: str) -> None:
    norm = Normalizer.fit(x, config={"transform": transform})
    assert _close(x, norm.inverse(norm.transform(x)))
