"""The one codec contract: every codec keeps the data's metadata, decodes through one path,
reads only the chunks a range needs, names its trained model by hash and is saved and loaded
by the one store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ratecraft.bitstream.container import ContainerReader
from ratecraft.codecs import Budget, Codec, available_codecs, decode, get_codec, store
from ratecraft.data.synthetic import simulate_recording, simulate_table
from ratecraft.data.types import FeatureTable, Recording
from ratecraft.errors import BadInputError
from ratecraft.jsonsafe import json_safe

FAST_RECORDING = {
    "train": {"epochs": 1, "batch_size": 8},
    "max_windows": 32,
    "hidden": 8,
    "encoder_hidden": 4,
    "stages": 2,
}
FAST_TABLE = {"train": {"epochs": 1, "batch_size": 64}, "hidden": 8, "latent_dims": 4}
PLANS = {
    "predictive": (None, {}),
    "flac": (None, {}),
    "zstd": (None, {}),
    "lzma": (None, {}),
    "quant": (Budget(ratio=6), {}),
    "wavelet": (Budget(ratio=6), {}),
    "pca": (Budget(ratio=6), {}),
    "sz3": (Budget(max_error=2.0), {}),
    "columnar": (Budget(max_error=0.01), {}),
    "spike-lfp": (Budget(ratio=10), {}),
    "conv-ae": (Budget(ratio=8), FAST_RECORDING),
    "lstm-ae": (Budget(ratio=8), FAST_RECORDING),
    "transformer": (Budget(ratio=8), FAST_RECORDING),
    "spatial": (Budget(ratio=8), FAST_RECORDING),
    "vae": (Budget(max_error=40), FAST_RECORDING),
    "vqvae": (Budget(ratio=8), FAST_TABLE),
    "adaptive-bottleneck": (Budget(ratio=8), FAST_TABLE),
    "grouped-vae": (Budget(ratio=8), FAST_TABLE),
}


@pytest.fixture(scope="module")
def recording() -> Recording:
    rec, _ = simulate_recording(n_channels=4, duration_s=0.3, seed=11)
    rec.meta = {"subject": "m7", "session": {"day": 3, "note": "ünïcode"}}
    rec.units = "uV"
    rec.channel_names = [f"shank0-{i}" for i in range(rec.n_channels)]
    return rec


@pytest.fixture(scope="module")
def table() -> FeatureTable:
    t = simulate_table(n_samples=160, seed=11)
    t.meta = {"source": "simulator", "rows": 160}
    return t


def test_every_codec_has_a_plan():
    assert set(PLANS) == set(available_codecs())


@pytest.fixture(scope="module")
def fitted(recording, table) -> dict[str, tuple[Codec, object]]:
    out = {}
    for name, (budget, cfg) in PLANS.items():
        codec = get_codec(name, cfg)
        data = table if "table" in codec.kinds and "recording" not in codec.kinds else recording
        if name == "sz3":
            data = Recording(
                recording.samples.astype(np.float32),
                recording.sample_rate,
                recording.uv_per_step,
                recording.channel_names,
                recording.channel_positions,
                dict(recording.meta),
            )
        out[name] = (codec.fit(data, budget), data)
    return out


@pytest.mark.parametrize("name", sorted(PLANS))
def test_round_trip_keeps_positions_units_and_metadata(fitted, name):
    codec, data = fitted[name]
    back = decode(codec.encode(data), codec if codec.model_sha256() else None)
    assert type(back) is type(data) and back.meta == data.meta
    if isinstance(data, Recording):
        assert back.channel_names == data.channel_names and back.units == data.units
        assert back.uv_per_step == data.uv_per_step and back.sample_rate == data.sample_rate
        np.testing.assert_array_equal(back.channel_positions, data.channel_positions)
        assert back.samples.shape == data.samples.shape and back.samples.dtype == data.samples.dtype
    else:
        assert back.feature_names == data.feature_names and back.families == data.families
        assert back.values.shape == data.values.shape


@pytest.mark.parametrize("name", sorted(PLANS))
def test_store_round_trip_and_the_model_hash(fitted, name, tmp_path):
    codec, data = fitted[name]
    blob = codec.encode(data)
    codec.save(tmp_path / "m")
    loaded = Codec.load(tmp_path / "m")
    assert type(loaded) is type(codec) and loaded.model_sha256() == codec.model_sha256()
    assert loaded.encode(data) == blob  # same model, same bytes
    header = ContainerReader(blob).header
    assert header.model_sha256 == codec.model_sha256()
    if header.model_sha256 is None:  # everything the decoder needs is in the header
        assert header.codec_params == json_safe(codec.stream_params())
        assert np.array_equal(_array(decode(blob)), _array(decode(blob, codec)), equal_nan=True)
        return
    with pytest.raises(BadInputError, match=f"sha256:{header.model_sha256[:16]}"):
        decode(blob)
    assert np.array_equal(
        _array(decode(blob, tmp_path / "m")), _array(decode(blob, codec)), equal_nan=True
    )


def _array(data) -> np.ndarray:
    return data.samples if isinstance(data, Recording) else data.values


def test_encoding_leaves_nothing_behind_on_the_codec(fitted, recording):
    """Per-stream state (spike-lfp's chunk budgets and steps) lives in the encode call."""
    codec, data = fitted["spike-lfp"]
    before = {k: v for k, v in vars(codec).items() if not k.startswith("_")}
    first, stats = codec.encode_with_stats(data)
    assert codec.encode(data) == first
    after = {k: v for k, v in vars(codec).items() if not k.startswith("_")}
    assert after.keys() == before.keys()
    assert [b["step"] for b in stats.blocks]  # the steps it chose are in the stats instead


def _tamper(folder: Path, change) -> None:
    doc = json.loads((folder / "codec.json").read_text())
    change(doc)
    (folder / "codec.json").write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(store_version=99), "store version"),
        (lambda d: d.update(config_version=99), "config version 99 is newer"),
        (lambda d: d.update(config_version=0), "cannot migrate"),
        (lambda d: d.update(codec_version=99), "newer than this ratecraft"),
        (lambda d: d["weights"].update(sha256="0" * 64), "does not match its sha256"),
        (lambda d: d.update(model_sha256="0" * 64), "content hash"),
        (lambda d: d["state"].update(layout={"n_channels": 99}), "does not fit|normalization"),
        (lambda d: d.update(codec="no-such"), "unknown codec"),
    ],
)
def test_the_store_refuses_what_it_cannot_trust(fitted, tmp_path, change, message):
    codec, _ = fitted["conv-ae"]
    codec.save(tmp_path / "m")
    _tamper(tmp_path / "m", change)
    with pytest.raises(BadInputError, match=message):
        store.load(tmp_path / "m")


def test_the_store_refuses_tampered_weights(fitted, tmp_path):
    codec, _ = fitted["spike-lfp"]
    codec.save(tmp_path / "m")
    weights = tmp_path / "m" / store.WEIGHTS
    raw = bytearray(weights.read_bytes())
    raw[-1] ^= 1
    weights.write_bytes(bytes(raw))
    with pytest.raises(BadInputError, match="sha256"):
        store.load(tmp_path / "m")


def test_range_decode_reads_only_the_chunks_it_needs(tmp_path):
    """1 s from the middle of a 2-minute, 64-channel recording (2 kHz to keep it quick)."""
    rng = np.random.default_rng(0)
    fs, seconds = 2000.0, 120
    walk = np.cumsum(rng.integers(-3, 4, size=(64, int(fs * seconds))), axis=1)
    rec = Recording(walk.astype(np.int16), fs, channel_positions=np.zeros((64, 2)))
    path = tmp_path / "long.rcz"
    codec = get_codec("predictive")
    codec.encode_to_file(rec, path)
    a, b = int(60 * fs), int(61 * fs)
    with ContainerReader(path) as reader:
        entries = reader.entries
        base = reader.bytes_read  # header, index and footer
        part = decode(reader, start=a, stop=b)
        covering = [e for e in entries if e.first_frame < b and e.first_frame + e.frames > a]
        assert len(covering) < len(entries) / 4
        assert reader.bytes_read - base <= sum(12 + e.length for e in covering)
    np.testing.assert_array_equal(part.samples, rec.samples[:, a:b])
    np.testing.assert_array_equal(decode(path).samples[:, a:b], part.samples)
