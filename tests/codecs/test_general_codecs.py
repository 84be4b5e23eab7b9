"""The `zstd` and `lzma` byte codecs: exact round trips for every dtype, real ratios, corruption."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ratecraft.codecs import Budget, decode, get_codec
from ratecraft.codecs.base import BlockContext
from ratecraft.data.types import FeatureTable, Recording
from ratecraft.errors import BadInputError, CorruptStreamError

CODECS = ["zstd", "lzma"]
DTYPES = ["int8", "int16", "int32", "uint16", "float32", "float64"]
LAYOUTS = [
    {},
    {"layout": "planar"},
    {"shuffle": True},
    {"layout": "planar", "shuffle": True},
]
FAST = {"zstd": {"level": 3}, "lzma": {"preset": 1, "extreme": False}}


def _round_trip(name: str, x: np.ndarray, **cfg) -> bytes:
    blob = get_codec(name, cfg).encode(Recording(x, 1000.0))
    y = decode(blob).samples
    assert y.dtype == x.dtype
    assert y.shape == x.shape
    assert y.tobytes() == x.tobytes()  # bit-exact, NaN payloads and -0.0 included
    return blob


def _random_walk(rows: int = 8, frames: int = 20000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.integers(-8, 9, size=(rows, frames)), axis=1).astype(np.int16)


def dense_signal(kind: str, dtype: np.dtype, shape: tuple[int, int], seed: int) -> np.ndarray:
    """A full block of one kind: random walk, white noise, constant or dtype extremes."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype) if dtype.kind in "iu" else np.finfo(dtype)
    if kind == "walk":
        walk = np.cumsum(rng.integers(-3, 4, size=shape), axis=1) + (
            info.max // 2 if dtype.kind == "u" else 0
        )
        return np.clip(walk, info.min, info.max).astype(dtype)
    if kind == "noise":
        return (
            rng.integers(0, 256, size=(*shape, dtype.itemsize), dtype=np.uint8)
            .view(dtype)
            .reshape(shape)
        )  # every bit pattern, NaNs included for floats
    if kind == "constant":
        return np.full(shape, info.min, dtype=dtype)
    return rng.choice(np.array([info.min, info.max], dtype=dtype), size=shape)


@st.composite
def blocks(draw: st.DrawFn) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = (draw(st.integers(1, 20)), draw(st.integers(0, 3000)))
    kind = draw(st.sampled_from(["sparse", "walk", "noise", "constant", "extremes"]))
    if kind == "sparse":
        return draw(arrays(dtype, shape))  # hypothesis' own values: NaN and ±inf for floats
    return dense_signal(kind, dtype, shape, draw(st.integers(0, 2**32 - 1)))


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(name=st.sampled_from(CODECS), layout=st.sampled_from(LAYOUTS), x=blocks())
def test_round_trip_any_block(name: str, layout: dict, x: np.ndarray) -> None:
    _round_trip(name, x, **FAST[name], **layout)


@pytest.mark.parametrize("name", CODECS)
@pytest.mark.parametrize("dtype", [*DTYPES, "int64", "uint8", "uint32", "float16"])
def test_extremes_constant_and_one_sample(name: str, dtype: str) -> None:
    dt = np.dtype(dtype)
    info = np.iinfo(dt) if dt.kind in "iu" else np.finfo(dt)
    extremes = np.array(
        [[info.min, info.max, 0, info.max], [info.max, info.min, info.min, 1]], dtype=dt
    )
    _round_trip(name, extremes)
    _round_trip(name, np.full((5, 1000), info.max, dtype=dt), layout="planar", shuffle=True)
    _round_trip(name, np.zeros((3, 700), dtype=dt))
    _round_trip(name, np.ones((1, 1), dtype=dt))


@pytest.mark.parametrize("name", CODECS)
def test_nan_inf_and_negative_zero_are_exact(name: str) -> None:
    x = np.array([[np.nan, np.inf, -np.inf, -0.0, 1.5, np.float32(3e-45)]], dtype=np.float32)
    x = np.repeat(x, 3, axis=0)
    x.view(np.uint32)[1, 0] = 0x7FC00123  # a NaN with a payload
    _round_trip(name, x)
    _round_trip(name, x.astype(np.float64), shuffle=True)


@pytest.mark.parametrize("name", CODECS)
@pytest.mark.parametrize("shape", [(0, 0), (4, 0), (0, 5)])
def test_empty_blocks(name: str, shape: tuple[int, int]) -> None:
    _round_trip(name, np.zeros(shape, dtype=np.int16))


@pytest.mark.parametrize("name", CODECS)
def test_feature_table_round_trip(name: str) -> None:
    rng = np.random.default_rng(1)
    table = FeatureTable(
        rng.normal(size=(300, 7)).astype(np.float32), families=["a"] * 3 + ["b"] * 4
    )
    out = decode(get_codec(name).encode(table))
    assert isinstance(out, FeatureTable)
    assert out.values.tobytes() == table.values.tobytes()
    assert out.families == table.families


@pytest.mark.parametrize("name", CODECS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_ratio_on_smooth_signal(name: str, layout: dict) -> None:
    codec = get_codec(name, layout)
    _, stats = codec.encode_with_stats(Recording(_random_walk(), 30000.0))
    assert stats.ratio > 1.5
    assert stats.ratio == stats.raw_bytes / stats.container_bytes


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("zstd", {"level": 1}, {"level": 19}),
        ("lzma", {"preset": 0, "extreme": False}, {"preset": 9}),
        ("zstd", {}, {"layout": "planar"}),
        ("lzma", {}, {"shuffle": True}),
    ],
)
def test_every_knob_changes_the_bitstream(name: str, low: dict, high: dict) -> None:
    rec = Recording(_random_walk(), 30000.0)
    a, b = get_codec(name, low).encode(rec), get_codec(name, high).encode(rec)
    assert a != b
    assert np.array_equal(decode(a).samples, decode(b).samples)


@pytest.mark.parametrize("name", CODECS)
@pytest.mark.parametrize(
    "bad", [{"layout": "diagonal"}, {"level": 0}, {"preset": 10}, {"unknown": 1}]
)
def test_bad_config_is_refused(name: str, bad: dict) -> None:
    if ("level" in bad and name == "lzma") or ("preset" in bad and name == "zstd"):
        bad = {"unknown": 1}
    with pytest.raises(BadInputError):
        get_codec(name, bad)


@pytest.mark.parametrize("name", CODECS)
def test_lossy_budget_is_refused(name: str) -> None:
    with pytest.raises(BadInputError):
        get_codec(name).fit(Recording(_random_walk(2, 100), 1000.0), Budget(ratio=4.0))


@pytest.mark.parametrize("name", CODECS)
@pytest.mark.parametrize("shuffle", [False, True])
def test_corrupt_payload_is_refused(name: str, shuffle: bool) -> None:
    x = _random_walk(5, 3000, seed=3)
    codec = get_codec(name, shuffle=shuffle)
    payload = codec.encode_block(x, BlockContext.of(*x.shape, x.dtype)).payload
    dtype = np.dtype(np.int16)
    assert (
        codec.decode_block(memoryview(payload), BlockContext.of(5, 3000, dtype)).tobytes()
        == x.tobytes()
    )
    rng = np.random.default_rng(0)
    for pos in [
        0,
        1,
        len(payload) // 2,
        len(payload) - 5,
        len(payload) - 1,
        *rng.integers(0, len(payload), 20),
    ]:
        bad = bytearray(payload)
        bad[pos] ^= 0x04
        with pytest.raises(CorruptStreamError):
            codec.decode_block(memoryview(bytes(bad)), BlockContext.of(5, 3000, dtype))
    for bad in [b"", payload[:3], payload[:-1], payload + b"\0"]:
        with pytest.raises(CorruptStreamError):
            codec.decode_block(memoryview(bad), BlockContext.of(5, 3000, dtype))
    for rows, frames in [(5, 3001), (6, 3000), (5, 2999)]:  # sizes disagree with the payload
        with pytest.raises(CorruptStreamError):
            codec.decode_block(memoryview(payload), BlockContext.of(rows, frames, dtype))
    with pytest.raises(CorruptStreamError):  # bytes where no samples are declared
        codec.decode_block(memoryview(payload), BlockContext.of(0, 3000, dtype))


@pytest.mark.parametrize("name", CODECS)
def test_corrupt_container_is_refused(name: str) -> None:
    blob = bytearray(get_codec(name).encode(Recording(_random_walk(3, 2000), 1000.0)))
    blob[len(blob) // 2] ^= 0xFF
    with pytest.raises(CorruptStreamError):
        decode(bytes(blob))
