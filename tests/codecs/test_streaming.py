"""Streaming: a recording read from a file chunk by chunk, a ratio fitted on an excerpt and held
chunk by chunk by the running rate control, and interruptions that leave nothing behind."""

from __future__ import annotations

import numpy as np
import pytest

from ratecraft import api
from ratecraft.bitstream.container import ContainerReader
from ratecraft.codecs import Budget, decode, get_codec
from ratecraft.codecs.ratecontrol import ChunkControl
from ratecraft.data.io import open_source, write_data
from ratecraft.data.types import Recording


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    """64 k samples a chunk, so short test recordings span many chunks."""
    monkeypatch.setattr("ratecraft.codecs.base.DEFAULT_CHUNK_SAMPLES", 1 << 16)


def _drifting(seconds: float = 16.0, fs: float = 4000.0, channels: int = 16) -> Recording:
    """Noise whose level triples halfway: an excerpt from the start misjudges the whole."""
    rng = np.random.default_rng(3)
    n = int(seconds * fs)
    level = np.where(np.arange(n) < n // 2, 20.0, 60.0)
    x = (
        np.cumsum(rng.normal(0, 1, (channels, n)), axis=1) * 0.3
        + rng.normal(0, 1, (channels, n)) * level
    )
    return Recording(np.clip(x, -32000, 32000).astype(np.int16), fs)


@pytest.mark.parametrize("codec", ["quant", "wavelet", "pca"])
def test_running_control_holds_a_ratio_fitted_on_an_excerpt(tmp_path, codec):
    rec = _drifting()
    path = tmp_path / "rec.npy"
    np.save(path, rec.samples)
    with open_source(path, fs=rec.sample_rate) as source:
        assert source.frames == rec.n_samples
        fitted = get_codec(codec).fit(source.to_data(0, 20000), Budget(ratio=8))  # quiet start
        stats = fitted.encode_to_file(source, tmp_path / "x.rcz")
    knobs = [b["step"] for b in stats.blocks]
    assert len(knobs) >= 4 and max(knobs) > min(knobs)  # the step moved with the data
    assert abs(stats.ratio / 8 - 1) < 0.04, stats.ratio
    fixed = get_codec(codec).fit(rec.slice_time(0, 20000), Budget(ratio=8))
    fixed.fitted_samples = rec.samples.size  # as if fitted on it all: one step for every chunk
    assert abs(fixed.encode_with_stats(rec)[1].ratio / 8 - 1) > 0.2  # what the control avoided
    back = decode(tmp_path / "x.rcz")
    assert back.samples.shape == rec.samples.shape


def test_data_the_knob_was_fitted_on_keeps_the_knob():
    rec = _drifting(seconds=6.0)
    fitted = get_codec("quant").fit(rec, Budget(ratio=8))
    _, stats = fitted.encode_with_stats(rec)
    assert not any("step" in b for b in stats.blocks)  # no running control: one step
    assert abs(stats.ratio / 8 - 1) < 0.02


def test_chunk_control_moves_against_the_deficit():
    c = ChunkControl(10.0, [100.0] * 4, integer=True)
    c.update(200, 100, 100)  # overspent: a coarser step
    assert c.knob > 10
    c = ChunkControl(10.0, [100.0] * 4, integer=False)
    c.update(50, 100, 100)  # underspent: a finer step
    assert c.knob < 10
    c = ChunkControl(10.0, [100.0] * 4, integer=False)
    c.update(100.5, 100, 100)  # inside the band: unchanged
    assert c.knob == 10.0


def test_streamed_decode_into_every_sink_matches(tmp_path):
    rec = _drifting(seconds=2.0, channels=4)
    write_data(rec, tmp_path / "in.npz")
    rcz = tmp_path / "x.rcz"
    get_codec("predictive").encode_to_file(rec, rcz)
    for suffix in (".npy", ".bin", ".h5", ".nwb", ".wav", ".npz"):
        out = tmp_path / f"out{suffix}"
        api.decode_to(rcz, out, start=1000, stop=5000)
        back = api.load(out, fs=rec.sample_rate) if suffix == ".npy" else api.load(out)
        np.testing.assert_array_equal(back.samples, rec.samples[:, 1000:5000])


def test_an_interrupted_encode_leaves_nothing(tmp_path, monkeypatch):
    rec = _drifting(seconds=4.0, channels=32)
    codec = get_codec("predictive")
    calls = {"n": 0}
    original = codec.encode_block

    def failing(block, ctx):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(block, ctx)

    monkeypatch.setattr(codec, "encode_block", failing)
    with pytest.raises(KeyboardInterrupt):
        codec.encode_to_file(rec, tmp_path / "x.rcz")
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_decode_leaves_nothing(tmp_path, monkeypatch):
    rec = _drifting(seconds=4.0, channels=32)
    rcz = tmp_path / "x.rcz"
    get_codec("predictive").encode_to_file(rec, rcz)
    with ContainerReader(rcz) as reader:
        assert reader.header.n_chunks > 2
    import ratecraft.codecs.classical.predictive as predictive

    original = predictive.PredictiveCodec.decode_block
    calls = {"n": 0}

    def failing(self, payload, ctx):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return original(self, payload, ctx)

    monkeypatch.setattr(predictive.PredictiveCodec, "decode_block", failing)
    for suffix in (".npy", ".bin", ".zarr", ".h5"):
        calls["n"] = 0
        with pytest.raises(OSError):
            api.decode_to(rcz, tmp_path / f"out{suffix}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.rcz"]
