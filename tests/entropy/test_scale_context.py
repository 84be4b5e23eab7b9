"""Scale-context residual coding: round trips for both coders whatever the shape, the
whole-block grouping equal to the per-sample one, estimates near the real size, and
corrupt streams refused."""

from __future__ import annotations

import numpy as np
import pytest

from ratecraft.entropy.scale_context import (
    _buckets,
    _by_bucket,
    _sample_order,
    decode_residuals,
    encode_residuals,
)
from ratecraft.errors import CorruptStreamError


def _residuals(shape: tuple[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    loud = 1 + 40 * (rng.random((shape[0], 1)) > 0.5)  # quiet and loud rows: several buckets
    return np.rint(rng.laplace(0, 6, shape) * loud).astype(np.int64)


@pytest.mark.parametrize("coder", ["ans", "rans"])
@pytest.mark.parametrize("shape", [(4, 4096), (3, 1000), (1, 64), (2, 1), (6, 130)])
def test_round_trip(shape, coder):
    q = _residuals(shape, 1)
    q[0, 0] = -(1 << 35)  # wider than the model: top bits modelled, low bits uniform
    blob, est = encode_residuals(q, 64, coder)
    np.testing.assert_array_equal(decode_residuals(memoryview(blob), *shape, 64, coder), q)
    assert est > 0


@pytest.mark.parametrize("n", [4096, 4100])
def test_whole_blocks_group_like_single_samples(n):
    q = _residuals((5, n), 2)
    buckets = _buckets(q, 64)
    order, counts = _sample_order(buckets, 64, n)
    values, got = _by_bucket(q, buckets, 64)
    np.testing.assert_array_equal(values, q.ravel()[order])
    np.testing.assert_array_equal(got, counts)


def test_estimate_is_near_the_coded_size():
    q = _residuals((8, 16384), 3)
    blob, est = encode_residuals(q, 64, "rans")
    assert abs(8 * len(blob) - est) < 0.02 * est


def test_a_damaged_stream_is_refused():
    q = _residuals((4, 4096), 4)
    blob = bytearray(encode_residuals(q, 64, "rans")[0])
    blob[len(blob) // 2] ^= 0xFF
    with pytest.raises(CorruptStreamError):
        decode_residuals(memoryview(bytes(blob)), 4, 4096, 64, "rans")
