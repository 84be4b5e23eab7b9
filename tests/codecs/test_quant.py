"""`quant`: the error bound always holds, rate falls as the knob rises, ratio targets are met."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ratecraft.codecs import Budget, decode, get_codec
from ratecraft.data.synthetic import simulate_recording
from ratecraft.data.types import Recording
from ratecraft.errors import BadInputError


@pytest.fixture(scope="module")
def rec():
    return simulate_recording(n_channels=4, duration_s=1.0, sample_rate=20000.0, seed=11)[0]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31), st.integers(0, 300), st.sampled_from(["int16", "int32"]))
def test_max_error_bound_holds_on_integers(seed, max_error, dtype):
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.normal(0, 50, (3, 1500)), axis=1)
    x = np.clip(x, -30000, 30000).astype(dtype)
    codec = get_codec("quant").fit(Recording(x, 1000.0), Budget(max_error=max_error))
    y = decode(codec.encode(Recording(x, 1000.0))).samples
    assert y.dtype == x.dtype
    assert np.abs(y.astype(np.int64) - x).max(initial=0) <= max_error


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31), st.floats(1e-3, 50.0))
def test_max_error_bound_holds_on_floats_off_grid(seed, max_error):
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.normal(0, 3, (2, 1000)), axis=1).astype(np.float64)
    data = Recording(x, 1000.0)
    codec = get_codec("quant").fit(data, Budget(max_error=max_error))
    y = decode(codec.encode(data)).samples
    assert np.abs(y - x).max() <= max_error * (1 + 1e-9)


def test_rate_monotone_in_max_error(rec):
    sizes = []
    for e in (0, 1, 2, 4, 8, 16, 32, 64, 128):
        codec = get_codec("quant").fit(rec, Budget(max_error=e))
        sizes.append(codec.encode_with_stats(rec)[1].container_bytes)
    assert all(b <= a for a, b in itertools.pairwise(sizes)), sizes
    assert sizes[-1] < sizes[0] / 3


def test_max_error_zero_is_lossless(rec):
    codec = get_codec("quant").fit(rec, Budget(max_error=0))
    assert np.array_equal(decode(codec.encode(rec)).samples, rec.samples)


@pytest.mark.parametrize("target", [5.0, 12.0])
def test_ratio_target_is_met_closely(rec, target):
    codec = get_codec("quant").fit(rec, Budget(ratio=target))
    stats = codec.encode_with_stats(rec)[1]
    assert target <= stats.ratio <= target * 1.25


def test_level_changes_the_bitstream(rec):
    a = get_codec("quant").fit(rec, Budget(ratio=5)).encode(rec)
    b = get_codec("quant").fit(rec, Budget(ratio=10)).encode(rec)
    assert a != b and len(b) < len(a)


def test_lossless_only_codec_refuses_lossy_budget(rec):
    with pytest.raises(BadInputError, match="lossless only"):
        get_codec("predictive").fit(rec, Budget(ratio=10))


def test_budget_needs_exactly_one_mode():
    with pytest.raises(ValueError):
        Budget(ratio=10, max_error=3)
    with pytest.raises(ValueError):
        Budget()
