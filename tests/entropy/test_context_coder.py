"""The adaptive conditional coder: exact round trips, real size near the adaptive estimate."""

from __future__ import annotations

import numpy as np
import pytest

from ratecraft.entropy.context_coder import (
    StreamDecoder,
    StreamModel,
    adaptive_bits,
    block_bounds,
    decode_streams,
    encode_streams,
)
from ratecraft.errors import CorruptStreamError


def test_blocks_cover_the_rows_and_grow() -> None:
    b = block_bounds(20000)
    assert b[0] == 0 and b[-1] == 20000 and len(b) < 40
    assert block_bounds(0) == [0]


def test_conditioned_streams_round_trip_near_their_estimate() -> None:
    rng = np.random.default_rng(0)
    n = 5000
    parent = rng.integers(0, 4, n)
    child = (3 * parent + rng.integers(0, 2, n)) % 12
    m1 = StreamModel(4, 2, np.zeros(n, np.int64), 1)
    m2 = StreamModel(12, 4, parent, 4)
    buf = encode_streams([(parent, m1), (child, m2)])
    est = adaptive_bits(parent, m1.contexts, 1, 4, 2) + adaptive_bits(child, parent, 4, 12, 4)
    assert abs(8 * len(buf) - est) < 0.02 * est + 64
    a, b = decode_streams(buf, [(n, m1), (n, m2)])
    np.testing.assert_array_equal(a, parent)
    np.testing.assert_array_equal(b, child)
    # conditioning pays: the child costs about one bit a symbol given its parent
    assert adaptive_bits(child, parent, 4, 12, 4) < 1.1 * n


def test_bad_streams_and_models_are_refused() -> None:
    with pytest.raises(CorruptStreamError):
        StreamDecoder(b"abc")
    dec = StreamDecoder(b"\x00" * 8)
    with pytest.raises(CorruptStreamError):
        dec.take(3, StreamModel(300, 2, np.zeros(3, np.int64), 1))
    with pytest.raises(CorruptStreamError):
        dec.take(3, StreamModel(4, 3, np.zeros(3, np.int64), 1))
