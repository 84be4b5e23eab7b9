"""Integer symbol models and the ANS group coder."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ratecraft.bitstream.ans import (
    SymbolModel,
    UniformModel,
    decode_groups,
    dequantize_counts,
    encode_groups,
    fit_model,
    quantize_counts,
)
from ratecraft.errors import CorruptStreamError


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=200))
def test_count_codes_keep_support_and_order(counts):
    counts = np.array(counts)
    back = dequantize_counts(quantize_counts(counts))
    assert ((back > 0) == (counts > 0)).all()
    order = np.argsort(counts, kind="stable")
    assert (np.diff(back[order]) >= 0).all()  # monotone: bigger counts never get smaller codes


def test_small_counts_are_exact():
    counts = np.arange(32)
    assert (dequantize_counts(quantize_counts(counts)) == counts).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3000), st.integers(1, 2000))
def test_groups_round_trip(seed, n, alphabet):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, alphabet, n)
    b = rng.geometric(0.3, n // 2 + 1) - 1
    low = rng.integers(0, 1 << 12, n)
    groups = [
        (a, fit_model(a, alphabet)),
        (b, fit_model(b, int(b.max()) + 1)),
        (low, UniformModel(12)),
    ]
    blob = encode_groups(groups)
    out = decode_groups(blob, [(len(s), m) for s, m in groups])
    for (s, _), o in zip(groups, out, strict=True):
        assert np.array_equal(s, o)


def test_rate_close_to_estimate():
    rng = np.random.default_rng(0)
    s = np.clip(np.rint(rng.laplace(0, 20, 200_000)), -300, 300).astype(np.int64) + 300
    model = fit_model(s, 601)
    blob = encode_groups([(s, model)])
    est = model.estimated_bits(s)
    assert abs(8 * len(blob) - est) / est < 0.002


def test_one_symbol_alphabet_costs_nothing():
    model = SymbolModel(np.array([7]))
    assert encode_groups([(np.zeros(1000, dtype=np.int64), model)]) == b""
    (out,) = decode_groups(b"", [(1000, model)])
    assert (out == 0).all()


def test_corrupt_stream_is_reported():
    s = np.arange(100) % 7
    with pytest.raises(CorruptStreamError):
        decode_groups(b"abc", [(100, fit_model(s, 7))])


@pytest.mark.parametrize("bits", [1, 16, 24, 25, 40])
def test_wide_uniform_groups_round_trip(bits):
    rng = np.random.default_rng(bits)
    wide = rng.integers(0, 1 << bits, size=500, dtype=np.int64)
    narrow = rng.integers(0, 4, size=300)
    model = fit_model(narrow, 4)
    blob = encode_groups([(narrow, model), (wide, UniformModel(bits))])
    back = decode_groups(blob, [(narrow.size, model), (wide.size, UniformModel(bits))])
    assert np.array_equal(back[0], narrow) and np.array_equal(back[1], wide)
