"""`sz3`: the verified absolute error bound, ratio search and corrupt streams."""

import itertools
import sys

import numpy as np
import pytest

from ratecraft.codecs import Budget, decode, get_codec
from ratecraft.codecs.base import BlockContext
from ratecraft.data.synthetic import simulate_recording
from ratecraft.data.types import Recording
from ratecraft.errors import CorruptStreamError, MissingExtraError
from ratecraft.metrics import sndr_db

sz3_mod = pytest.importorskip("numcodecs_wasm_sz3")


@pytest.fixture(scope="module")
def rec():
    return simulate_recording(n_channels=4, duration_s=1.0, sample_rate=20000.0, seed=11)[0]


def _run(data, budget, **config):
    codec = get_codec("sz3", config).fit(data, budget)
    blob, stats = codec.encode_with_stats(data)
    return decode(blob), stats


@pytest.mark.parametrize("layout", ["rows", "block"])
@pytest.mark.parametrize("dtype", ["int16", "float32", "uint8"])
def test_round_trip_shape_and_dtype(layout, dtype):
    x = np.abs(np.cumsum(np.random.default_rng(0).normal(0, 2, (3, 777)), axis=1)).astype(dtype)
    y, _ = _run(Recording(x, 1000.0), Budget(max_error=1), layout=layout)
    assert y.samples.shape == x.shape and y.samples.dtype == x.dtype


@pytest.mark.parametrize("max_error", [0, 1, 7, 40])
def test_max_error_bound_holds(rec, max_error):
    y, _ = _run(rec, Budget(max_error=max_error))
    assert np.abs(y.samples.astype(np.int64) - rec.samples).max() <= max_error


def test_max_error_bound_holds_on_floats():
    x = np.cumsum(np.random.default_rng(2).normal(0, 3, (2, 3000)), axis=1).astype(np.float32)
    y, _ = _run(Recording(x, 1000.0), Budget(max_error=0.05))
    assert np.abs(y.samples.astype(np.float64) - x).max() <= 0.05


def test_lossless_is_bit_exact(rec):
    y, _ = _run(rec, Budget(lossless=True))
    assert np.array_equal(y.samples, rec.samples)


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


def test_corrupt_payload_raises(rec):
    codec = get_codec("sz3", error_bound=5.0)
    block = rec.samples[:, :4000]
    payload = codec.encode_block(block, BlockContext.of(*block.shape, block.dtype)).payload
    args = (*block.shape, block.dtype)
    for bad in (payload[: len(payload) // 2], payload[:-1], b"\x01" * 40, b""):
        with pytest.raises(CorruptStreamError):
            codec.decode_block(memoryview(bad), BlockContext.of(*args))
    damaged = bytearray(payload)
    damaged[-10] ^= 0x10  # inside the last SZ3 stream: its checksum fails
    with pytest.raises(CorruptStreamError, match="checksum"):
        codec.decode_block(memoryview(bytes(damaged)), BlockContext.of(*args))


def test_missing_library_names_the_extra(monkeypatch, rec):
    from ratecraft.codecs.classical import sz3

    sz3._sz3_class.cache_clear()
    monkeypatch.setitem(sys.modules, "numcodecs_wasm_sz3", None)
    try:
        with pytest.raises(MissingExtraError, match=r"ratecraft\[baselines\]"):
            get_codec("sz3").fit(rec, Budget(max_error=1))
    finally:
        sz3._sz3_class.cache_clear()
