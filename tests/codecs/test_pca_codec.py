"""`pca`: KLT over electrodes — round trips, rate control on the real container, refusals."""

import itertools

import numpy as np
import pytest

from ratecraft.codecs import Budget, decode, get_codec
from ratecraft.codecs.base import BlockContext
from ratecraft.data.synthetic import simulate_recording
from ratecraft.data.types import Recording
from ratecraft.errors import BadInputError, CorruptStreamError
from ratecraft.metrics import sndr_db


@pytest.fixture(scope="module")
def rec():
    return simulate_recording(n_channels=8, duration_s=1.0, sample_rate=20000.0, seed=11)[0]


def _run(data, budget, **config):
    codec = get_codec("pca", config).fit(data, budget)
    blob, stats = codec.encode_with_stats(data)
    return decode(blob), stats


@pytest.mark.parametrize("shape", [(1, 500), (5, 1), (6, 2001)])
@pytest.mark.parametrize("dtype", ["int16", "float64"])
def test_round_trip_shape_and_dtype(shape, dtype):
    x = np.cumsum(np.random.default_rng(shape[1]).normal(0, 20, shape), axis=1).astype(dtype)
    data = Recording(x, 1000.0)
    y = decode(get_codec("pca", step=7.5).encode(data))  # tiny: no ratio to search
    assert y.samples.shape == x.shape and y.samples.dtype == x.dtype


def test_size_falls_as_target_rises(rec):
    sizes = [_run(rec, Budget(ratio=r))[1].container_bytes for r in (5, 10, 20)]
    assert all(b < a for a, b in itertools.pairwise(sizes)), sizes


@pytest.mark.parametrize("target", [5.0, 12.0])
def test_ratio_target_is_met(rec, target):
    _, stats = _run(rec, Budget(ratio=target))
    assert target <= stats.ratio <= 1.25 * target


def test_error_falls_as_ratio_falls(rec):
    sndr = [sndr_db(rec.samples, _run(rec, Budget(ratio=r))[0].samples) for r in (20, 10, 5)]
    assert sndr[0] < sndr[1] < sndr[2], sndr


def test_basis_is_in_the_stream_and_counts(rec):
    coarse = (
        get_codec("pca", step=1e9)
        .encode_block(rec.samples, BlockContext.of(*rec.samples.shape, rec.samples.dtype))
        .payload
    )  # all components zero
    fine = (
        get_codec("pca", step=5.0)
        .encode_block(rec.samples, BlockContext.of(*rec.samples.shape, rec.samples.dtype))
        .payload
    )
    assert len(fine) - len(coarse) > 8 * 8 * 4  # 8 × 8 float32 basis (and much more)


@pytest.mark.parametrize("budget", [Budget(max_error=3), Budget(lossless=True)])
def test_error_bounds_and_lossless_refused(rec, budget):
    with pytest.raises(BadInputError, match="only ratio budgets"):
        get_codec("pca").fit(rec, budget)


def test_corrupt_payload_raises(rec):
    codec = get_codec("pca", step=30.0)
    block = rec.samples[:, :4000]
    payload = codec.encode_block(block, BlockContext.of(*block.shape, block.dtype)).payload
    args = (*block.shape, block.dtype)
    for bad in (payload[: len(payload) // 2], payload[:-1], b"\x05" + b"\x00" * 23, b""):
        with pytest.raises(CorruptStreamError):
            codec.decode_block(memoryview(bad), BlockContext.of(*args))
    damaged = bytearray(payload)
    damaged[4 + 4 * 5] = 0xFF  # component count far above the rows
    with pytest.raises(CorruptStreamError):
        codec.decode_block(memoryview(bytes(damaged)), BlockContext.of(*args))
