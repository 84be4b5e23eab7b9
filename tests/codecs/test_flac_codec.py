"""The `flac` codec: exact integer round trips in ≤ 8-channel streams, refusals, corruption."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ratecraft.codecs import decode, get_codec
from ratecraft.codecs.base import BlockContext
from ratecraft.codecs.classical.flac import fit_bits
from ratecraft.codecs.classical.general import seal
from ratecraft.data.types import FeatureTable, Recording
from ratecraft.errors import BadInputError, CorruptStreamError

# dtype -> the values flac can take from it (the 24-bit limit after an offset)
RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**23), 2**23 - 1),
    "int64": (-(2**23), 2**23 - 1),
    "uint32": (0, 2**24 - 1),
}


def _round_trip(x: np.ndarray, **cfg) -> bytes:
    blob = get_codec("flac", cfg).encode(Recording(x, 30000.0))
    y = decode(blob).samples
    assert y.dtype == x.dtype
    assert y.shape == x.shape
    assert y.tobytes() == x.tobytes()
    return blob


def _smooth(rows: int = 8, frames: int = 20000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.integers(-8, 9, size=(rows, frames)), axis=1)
    return np.clip(walk, -(2**15), 2**15 - 1).astype(np.int16)


@st.composite
def int_blocks(draw: st.DrawFn) -> np.ndarray:
    name = draw(st.sampled_from(sorted(RANGES)))
    lo, hi = RANGES[name]
    shape = (draw(st.integers(1, 20)), draw(st.integers(0, 3000)))
    if draw(st.booleans()):
        return draw(arrays(np.dtype(name), shape, elements=st.integers(lo, hi)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    step = draw(st.sampled_from([1, 3, 100]))
    walk = np.cumsum(rng.integers(-step, step + 1, size=shape), axis=1) + (lo + hi) // 2
    return np.clip(walk, lo, hi).astype(name)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(x=int_blocks(), per_stream=st.integers(1, 8), level=st.sampled_from([0, 5, 8]))
def test_round_trip_integer_blocks(x: np.ndarray, per_stream: int, level: int) -> None:
    _round_trip(x, channels_per_stream=per_stream, level=level)


@pytest.mark.parametrize("dtype", sorted(RANGES))
def test_extremes_constant_and_one_sample(dtype: str) -> None:
    lo, hi = RANGES[dtype]
    x = np.array([[lo, hi, lo, hi, 0 if lo < 0 else lo], [hi, hi, lo, lo, hi]], dtype=dtype)
    _round_trip(x)
    _round_trip(np.full((3, 500), hi, dtype=dtype))
    _round_trip(np.full((3, 500), lo, dtype=dtype), channels_per_stream=1)
    _round_trip(np.array([[hi]], dtype=dtype))


def test_wide_values_with_a_narrow_span_are_offset() -> None:
    base = np.int64(2**62)
    x = base + np.cumsum(np.ones((3, 1000), dtype=np.int64), axis=1)
    _round_trip(x)
    _round_trip(np.array([[2**63 - 1, 2**63 - 2**23]], dtype=np.int64))
    _round_trip(np.array([[-(2**63), -(2**63) + 5]], dtype=np.int64))
    _round_trip(np.array([[2**32 - 1, 2**32 - 2**20]], dtype=np.uint32))
    assert fit_bits(np.array([0, 65535])) == (16, 32768)  # uint16 -> int16
    assert fit_bits(np.array([-5, 100])) == (8, 0)


@pytest.mark.parametrize("per_stream", [1, 3, 8])
def test_more_rows_than_a_flac_stream_holds(per_stream: int) -> None:
    x = _smooth(19, 4000, seed=2)
    _round_trip(x, channels_per_stream=per_stream)


@pytest.mark.parametrize("shape", [(0, 0), (4, 0), (0, 7), (19, 0)])
def test_empty_blocks(shape: tuple[int, int]) -> None:
    _round_trip(np.zeros(shape, dtype=np.int16))
    codec = get_codec("flac")
    assert (
        codec.encode_block(
            np.zeros(shape, dtype=np.int16), BlockContext.of(*shape, np.int16)
        ).payload
        == b""
    )


@pytest.mark.parametrize(
    ("dtype", "step"), [("float32", 0.25), ("float64", 0.195), ("float32", 1.0), ("float64", 3.7)]
)
def test_floats_on_a_grid(dtype: str, step: float) -> None:
    rng = np.random.default_rng(4)
    k = np.cumsum(rng.integers(-20, 21, size=(10, 3000)), axis=1)
    x = (k * step).astype(dtype)
    _round_trip(x)
    _round_trip(np.full((2, 100), step, dtype=dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_floats_off_any_grid_are_refused(dtype: str) -> None:
    x = np.random.default_rng(5).normal(size=(4, 1000)).astype(dtype)
    with pytest.raises(BadInputError, match="flac needs integer samples"):
        get_codec("flac").encode(Recording(x, 1000.0))
    nz = np.array([[0.5, -0.0, 1.0]], dtype=dtype)  # -0.0 has no integer code
    with pytest.raises(BadInputError):
        get_codec("flac").encode(Recording(nz, 1000.0))
    with pytest.raises(BadInputError):
        get_codec("flac").encode(Recording(np.array([[np.nan, 1.0]], dtype=dtype), 1000.0))


@pytest.mark.parametrize(
    ("dtype", "values"),
    [
        ("int32", [-(2**23) - 1, 2**23 - 1]),
        ("int64", [0, 2**40]),
        ("uint32", [0, 2**24]),
    ],
)
def test_more_than_24_bits_is_refused(dtype: str, values: list[int]) -> None:
    x = np.array([values], dtype=dtype)
    with pytest.raises(BadInputError, match="more than 24 bits"):
        get_codec("flac").encode(Recording(x, 1000.0))


def test_ratio_and_level_are_real() -> None:
    rec = Recording(_smooth(), 30000.0)
    blobs = {}
    for level in (0, 8):
        blob, stats = get_codec("flac", level=level).encode_with_stats(rec)
        assert stats.ratio > 2.0
        blobs[level] = blob
    assert blobs[0] != blobs[8]
    assert np.array_equal(decode(blobs[0]).samples, decode(blobs[8]).samples)


def test_feature_table_round_trip() -> None:
    values = np.random.default_rng(6).integers(-50, 50, size=(400, 11)).astype(np.int16)
    out = decode(get_codec("flac").encode(FeatureTable(values)))
    assert isinstance(out, FeatureTable)
    assert np.array_equal(out.values, values)


def test_bad_config_is_refused() -> None:
    for bad in ({"channels_per_stream": 9}, {"channels_per_stream": 0}, {"level": 9}):
        with pytest.raises(BadInputError):
            get_codec("flac", bad)


def test_corrupt_payload_is_refused() -> None:
    x = _smooth(11, 3000, seed=7)
    codec = get_codec("flac")
    dtype = np.dtype(np.int16)
    payload = codec.encode_block(x, BlockContext.of(*x.shape, x.dtype)).payload
    assert (
        codec.decode_block(memoryview(payload), BlockContext.of(11, 3000, dtype)).tobytes()
        == x.tobytes()
    )
    rng = np.random.default_rng(0)
    for pos in [
        0,
        5,
        20,
        40,
        len(payload) // 2,
        len(payload) - 1,
        *rng.integers(0, len(payload), 20),
    ]:
        bad = bytearray(payload)
        bad[pos] ^= 0x01
        with pytest.raises(CorruptStreamError):
            codec.decode_block(memoryview(bytes(bad)), BlockContext.of(11, 3000, dtype))
    for bad in [b"", payload[:3], payload[:-1], payload + b"\0"]:
        with pytest.raises(CorruptStreamError):
            codec.decode_block(memoryview(bad), BlockContext.of(11, 3000, dtype))
    for rows, frames in [(11, 3001), (12, 3000), (5, 3000), (11, 2999)]:
        with pytest.raises(CorruptStreamError):
            codec.decode_block(memoryview(payload), BlockContext.of(rows, frames, dtype))
    with pytest.raises(CorruptStreamError):  # stream count differs
        get_codec("flac", channels_per_stream=4).decode_block(
            memoryview(payload), BlockContext.of(11, 3000, dtype)
        )


def test_damage_behind_a_valid_checksum_is_refused() -> None:
    """With the CRC recomputed, FLAC's own checks (STREAMINFO, MD5) still catch damage."""
    x = _smooth(3, 3000, seed=8)
    codec = get_codec("flac")
    body = codec.encode_block(x, BlockContext.of(*x.shape, x.dtype)).payload[:-4]
    rng = np.random.default_rng(1)
    caught = 0
    for pos in rng.integers(len(body) // 4, len(body), 40):  # inside the audio frames
        bad = bytearray(body)
        bad[pos] ^= 0x20
        try:
            y = codec.decode_block(memoryview(seal(bytes(bad))), BlockContext.of(3, 3000, np.int16))
        except CorruptStreamError:
            caught += 1
        else:
            assert y.tobytes() == x.tobytes()  # never silently different samples
    assert caught > 30


def test_corrupt_container_is_refused() -> None:
    blob = bytearray(get_codec("flac").encode(Recording(_smooth(3, 2000), 1000.0)))
    blob[len(blob) // 2] ^= 0xFF
    with pytest.raises(CorruptStreamError):
        decode(bytes(blob))
