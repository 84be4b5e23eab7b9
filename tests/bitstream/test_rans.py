"""The C rANS coder of the residual streams: exact round trips of any groups, the same bytes as
constriction's ANS within 0.5% on the same models, integer-exact normalization, and a clear
refusal of truncated, padded and corrupted streams."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ratecraft.bitstream import ans, rans
from ratecraft.errors import CorruptStreamError


def _groups(seed: int, n_groups: int = 12, max_len: int = 5000):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_groups):
        if rng.random() < 0.2:
            bits = int(rng.integers(1, 41))
            out.append(
                (rng.integers(0, 1 << bits, size=int(rng.integers(0, 300))), ans.UniformModel(bits))
            )
            continue
        size = int(rng.choice([1, 2, 3, 50, 4000, 65536]))
        p = rng.dirichlet(np.full(size, 0.2))
        sym = rng.choice(size, size=int(rng.integers(0, max_len)), p=p)
        out.append((sym, ans.fit_model(sym, size)))
    return out


def _decode(blob, groups):
    dec = rans.GroupDecoder(blob)
    got = [dec.take(len(s), m) for s, m in groups]
    dec.finish()
    return got


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_any_groups_round_trip(seed):
    groups = _groups(seed)
    for got, (want, _) in zip(_decode(rans.encode_groups(groups), groups), groups, strict=True):
        np.testing.assert_array_equal(got, want)


def test_bytes_match_constriction_within_half_a_percent():
    groups = _groups(7, n_groups=30, max_len=100_000)
    ours, theirs = len(rans.encode_groups(groups)), len(ans.encode_groups(groups))
    assert abs(ours / theirs - 1) < 0.005, (ours, theirs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10**7) | st.just(0), min_size=1, max_size=3000))
def test_normalized_counts_sum_to_the_scale_and_keep_every_symbol(counts):
    counts = np.array(counts)
    if counts.sum() == 0:
        counts[0] = 1
    freq = rans.normalize_counts(counts)
    assert int(freq.sum()) == rans.MAX_SYMBOLS
    assert ((freq > 0) == (counts > 0)).all()
    np.testing.assert_array_equal(freq, rans.normalize_counts(counts.copy()))


def test_the_widest_model_and_a_one_symbol_model():
    wide = np.arange(65536)
    groups = [
        (wide, ans.fit_model(wide, 65536)),
        (np.zeros(10, int), ans.fit_model(np.zeros(10, int), 1)),
    ]
    got = _decode(rans.encode_groups(groups), groups)
    np.testing.assert_array_equal(got[0], wide)
    np.testing.assert_array_equal(got[1], np.zeros(10))


def test_a_symbol_the_model_gives_no_probability_is_refused():
    model = ans.SymbolModel(np.array([5, 0, 5]))
    with pytest.raises(ValueError, match="no probability"):
        rans.encode_groups([(np.array([0, 1, 2]), model)])


def test_truncated_padded_and_corrupted_streams_are_refused():
    groups = _groups(3, n_groups=6)
    blob = rans.encode_groups(groups)
    with pytest.raises(CorruptStreamError):
        _decode(blob[: len(blob) // 2], groups)
    with pytest.raises(CorruptStreamError, match="left over"):
        _decode(blob + b"\0\0", groups)
    with pytest.raises(CorruptStreamError):
        rans.GroupDecoder(b"\1\2")
    rng = np.random.default_rng(0)
    refused = 0
    for _ in range(50):  # a flipped byte: refused or decoded to something, never a crash
        bad = bytearray(blob)
        bad[int(rng.integers(0, len(bad)))] ^= 1 << int(rng.integers(0, 8))
        try:
            _decode(bytes(bad), groups)
        except CorruptStreamError:
            refused += 1
    assert refused > 0
