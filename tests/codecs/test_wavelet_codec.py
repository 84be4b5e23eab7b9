"""`wavelet`: round trips, rate control on the real container, the residual layer's bound."""

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
    return simulate_recording(n_channels=4, duration_s=1.0, sample_rate=20000.0, seed=11)[0]


def _run(data, budget, **config):
    codec = get_codec("wavelet", config).fit(data, budget)
    blob, stats = codec.encode_with_stats(data)
    return decode(blob), stats


@pytest.mark.parametrize("frames", [1, 3, 1001, 4096])
@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_round_trip_shape_and_dtype(frames, dtype):
    x = np.cumsum(np.random.default_rng(frames).normal(0, 20, (3, frames)), axis=1).astype(dtype)
    data = Recording(x, 1000.0)
    y = decode(get_codec("wavelet", step=7.5).encode(data))  # tiny: no ratio to search
    assert y.samples.shape == x.shape and y.samples.dtype == x.dtype


def test_size_falls_as_target_rises(rec):
    sizes = [_run(rec, Budget(ratio=r))[1].container_bytes for r in (5, 10, 20)]
    assert all(b < a for a, b in itertools.pairwise(sizes)), sizes


@pytest.mark.parametrize("target", [5.0, 12.0, 30.0])
def test_ratio_target_is_met(rec, target):
    _, stats = _run(rec, Budget(ratio=target))
    assert target <= stats.ratio <= 1.25 * target


def test_error_falls_as_ratio_falls(rec):
    sndr = [sndr_db(rec.samples, _run(rec, Budget(ratio=r))[0].samples) for r in (20, 10, 5)]
    assert sndr[0] < sndr[1] < sndr[2], sndr


@pytest.mark.parametrize("max_error", [0, 1, 4, 25])
def test_max_error_bound_holds_on_integers(rec, max_error):
    y, _ = _run(rec, Budget(max_error=max_error))
    err = np.abs(y.samples.astype(np.int64) - rec.samples).max()
    assert err <= max_error


def test_max_error_bound_holds_on_floats():
    x = np.cumsum(np.random.default_rng(1).normal(0, 3, (2, 3000)), axis=1)
    for e in (0.01, 0.7):
        y, _ = _run(Recording(x, 1000.0), Budget(max_error=e))
        assert np.abs(y.samples - x).max() <= e


def test_lossless_integers_are_bit_exact_and_floats_refused(rec):
    y, _ = _run(rec, Budget(lossless=True))
    assert np.array_equal(y.samples, rec.samples)
    with pytest.raises(BadInputError, match="losslessly"):
        get_codec("wavelet").fit(Recording(rec.samples.astype(np.float32), 1000.0))


def test_sym8_and_level_scale_change_the_bitstream(rec):
    a = get_codec("wavelet", step=40.0).encode(rec)
    b = get_codec("wavelet", step=40.0, wavelet="sym8").encode(rec)
    c = get_codec("wavelet", step=40.0, level_scale=0.7).encode(rec)
    assert len({a, b, c}) == 3


def test_bad_config_is_refused():
    with pytest.raises(BadInputError, match="wavelet"):
        get_codec("wavelet", wavelet="bior2.2")
    with pytest.raises(BadInputError):
        get_codec("wavelet", wavelet="nope")


@pytest.mark.parametrize("residual", [0.0, 3.0])
def test_corrupt_payload_raises(rec, residual):
    codec = get_codec("wavelet", step=30.0, residual_step=residual)
    block = rec.samples[:, :4000]
    payload = codec.encode_block(block, BlockContext.of(*block.shape, block.dtype)).payload
    args = (*block.shape, block.dtype)
    for bad in (payload[: len(payload) // 2], payload[:-1], b"\xff" * 12, b""):
        with pytest.raises(CorruptStreamError):
            codec.decode_block(memoryview(bad), BlockContext.of(*args))
    flipped = bytearray(payload)
    flipped[4 + 4 * (3 if residual else 2)] ^= 0x7  # the flags byte
    with pytest.raises(CorruptStreamError):
        codec.decode_block(memoryview(bytes(flipped)), BlockContext.of(*args))
