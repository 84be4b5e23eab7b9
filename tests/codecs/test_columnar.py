"""`columnar`: round trips per mode and per column type, the bound on every value, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ratecraft.codecs import decode, get_codec
from ratecraft.codecs.base import BlockContext
from ratecraft.codecs.budget import Budget
from ratecraft.data.columns import TEXT_META_KEY
from ratecraft.data.types import FeatureTable, Recording
from ratecraft.errors import BadInputError, CorruptStreamError


def _bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x).view(f"u{x.dtype.itemsize}")


def _mixed(n: int, seed: int = 0) -> FeatureTable:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 3, n).astype(np.float64)
    decimals = np.round(rng.normal(10, 3, n) + label, 2)
    decimals[rng.random(n) < 0.1] = np.nan
    cols = {
        "constant": np.full(n, 7.5),
        "binary": rng.integers(0, 2, n).astype(np.float64),
        "category": label,
        "count": rng.poisson(40, n).astype(np.float64),
        "decimal": decimals,
        "copy": decimals.copy(),
        "float": rng.normal(0, 1, n),
        "near_decimal": np.round(rng.uniform(0, 5, n), 3) * 3.0,
        "text": rng.integers(0, 4, n).astype(np.float64),
    }
    return FeatureTable(
        values=np.column_stack(list(cols.values())),
        feature_names=list(cols),
        meta={TEXT_META_KEY: {"8": ["a", "b", "c", "d"]}},
    )


def _round_trip(
    table: FeatureTable, budget: Budget | None = None, **config: object
) -> FeatureTable:
    codec = get_codec("columnar", config or None).fit(table, budget)
    back = decode(codec.encode(table))
    assert isinstance(back, FeatureTable)
    assert back.feature_names == table.feature_names and back.meta == table.meta
    return back


def test_lossless_is_bit_exact_for_every_column_type() -> None:
    table = _mixed(500)
    back = _round_trip(table)
    np.testing.assert_array_equal(_bits(back.values), _bits(table.values))


def test_lossless_keeps_nan_infinities_and_negative_zero() -> None:
    x = np.array([[0.0, -0.0, np.inf, -np.inf, np.nan, 1e300, 5e-324, 2.5]] * 3, np.float64).T
    x[:, 2] = np.arange(8)
    back = _round_trip(FeatureTable(values=x))
    np.testing.assert_array_equal(_bits(back.values), _bits(x))


@pytest.mark.parametrize("dtype", ["int16", "int64", "uint8", "float32"])
def test_lossless_other_dtypes(dtype: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 100, (300, 4)).astype(dtype)
    if dtype == "float32":
        x = x / np.float32(7)
    back = _round_trip(FeatureTable(values=x))
    assert back.values.dtype == x.dtype
    np.testing.assert_array_equal(_bits(back.values), _bits(x))


def test_decoded_types_are_coded_as_what_they_are() -> None:
    table = _mixed(800)
    _, stats = get_codec("columnar").fit(table).encode_with_stats(table)
    kinds = stats.blocks[0]["columns"]
    assert kinds.get("const") == 1 and kinds.get("dup") == 1
    assert stats.ratio > 2.5  # 8-byte cells of a few bits each
    # the estimate (−Σ log2 p of the adaptive models) is close to the real payload
    assert stats.estimated_bits is not None
    assert abs(stats.payload_bytes * 8 - stats.estimated_bits) < 0.05 * stats.payload_bytes * 8


@pytest.mark.parametrize("rel", [1e-2, 1e-3, 1e-4])
def test_relative_bound_holds_on_every_value(rel: float) -> None:
    table = _mixed(600, seed=2)
    back = _round_trip(table, Budget(max_error=rel), bound="relative")
    x, y = table.values, back.values
    ok = np.isfinite(x)
    span = np.array([np.ptp(c[np.isfinite(c)]) for c in x.T])
    assert np.array_equal(np.isnan(x), np.isnan(y))
    assert (np.abs(y - x)[ok] <= np.broadcast_to(rel * span, x.shape)[ok]).all()
    np.testing.assert_array_equal(y[:, 8], x[:, 8])  # text stays exact
    lossless = get_codec("columnar").encode(table)
    coded = get_codec("columnar", {"bound": "relative"}).fit(table, Budget(max_error=rel))
    if rel == 1e-2:
        assert len(coded.encode(table)) < 0.8 * len(lossless)


def test_absolute_and_per_column_bounds() -> None:
    table = _mixed(400, seed=3)
    budget = Budget(max_error=0.05)
    back = _round_trip(table, budget, column_errors={"float": 0.5, "count": 0.0})
    x, y = table.values, back.values
    ok = np.isfinite(x)
    bounds = np.full(x.shape[1], 0.05)
    bounds[6], bounds[3] = 0.5, 0.0
    assert (np.abs(y - x)[ok] <= np.broadcast_to(bounds, x.shape)[ok]).all()
    np.testing.assert_array_equal(y[:, 3], x[:, 3])


def test_ratio_target_is_met_in_real_bytes() -> None:
    table = _mixed(2000, seed=4)
    codec = get_codec("columnar").fit(table, Budget(ratio=12.0))
    _, stats = codec.encode_with_stats(table)
    assert stats.ratio >= 12.0


def test_streams_several_chunks() -> None:
    table = _mixed(3000, seed=5)
    codec = get_codec("columnar")
    codec.chunk_frames = lambda rows: 1024  # type: ignore[method-assign]
    blob = codec.encode(table)
    back = decode(blob, start=1000, stop=2500)
    assert isinstance(back, FeatureTable)
    np.testing.assert_array_equal(_bits(back.values), _bits(table.values[1000:2500]))


def test_bad_inputs_get_clear_errors() -> None:
    rec = Recording(np.zeros((2, 100), np.int16), 1000.0)
    with pytest.raises(BadInputError, match="tables"):
        get_codec("columnar").encode(rec)
    table = _mixed(100)
    with pytest.raises(BadInputError, match="names no column"):
        get_codec("columnar", {"column_errors": {"nope": 1.0}}).fit(table, Budget(max_error=1.0))
    with pytest.raises(BadInputError, match="needs a max_error"):
        get_codec("columnar", {"column_errors": {"float": 1.0}}).fit(table)


def test_corrupt_payloads_are_refused() -> None:
    table = _mixed(300)
    codec = get_codec("columnar")
    payload = codec.encode_block(
        np.ascontiguousarray(table.values.T), BlockContext.of(9, 300, "float64")
    ).payload
    rng = np.random.default_rng(0)
    for _ in range(40):
        bad = bytearray(payload)
        cut = int(rng.integers(1, len(bad)))
        bad = bad[:cut] if rng.random() < 0.5 else bad
        bad[int(rng.integers(0, len(bad)))] ^= 1 << int(rng.integers(0, 8))
        try:
            out = codec.decode_block(memoryview(bytes(bad)), BlockContext.of(9, 300, "float64"))
        except CorruptStreamError:
            continue
        assert out.shape == (9, 300)


_cells = st.one_of(
    st.integers(-1000, 1000).map(float),
    st.decimals(-100, 100, places=2, allow_nan=False).map(float),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.just(np.nan),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(1, 5).flatmap(
        lambda cols: st.lists(
            st.lists(_cells, min_size=cols, max_size=cols), min_size=1, max_size=60
        )
    ),
    st.sampled_from([None, 1e-2, 1e-3]),
)
def test_mixed_tables_round_trip(rows: list[list[float]], rel: float | None) -> None:
    x = np.asarray(rows, dtype=np.float64)
    table = FeatureTable(values=x, meta={TEXT_META_KEY: {"0": ["t"] * 1000}})
    if rel is None:
        back = _round_trip(table)
        np.testing.assert_array_equal(_bits(back.values), _bits(x))
        return
    back = _round_trip(table, Budget(max_error=rel), bound="relative")
    y = back.values
    assert np.array_equal(np.isnan(x), np.isnan(y))
    span = np.array([np.ptp(c[np.isfinite(c)]) if np.isfinite(c).any() else 0.0 for c in x.T])
    ok = np.isfinite(x)
    assert (np.abs(y - x)[ok] <= np.broadcast_to(rel * span, x.shape)[ok]).all()
    np.testing.assert_array_equal(_bits(y[:, 0]), _bits(x[:, 0]))  # the text column: exact
