"""ratecraft's numcodecs codecs in zarr arrays and SpikeInterface zarr folders: lossless bit
exact, lossy within the bound and smaller for a looser one, found by id in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ratecraft.data.synthetic import simulate_recording
from ratecraft.errors import BadInputError, CorruptStreamError

zarr = pytest.importorskip("zarr")
numcodecs = pytest.importorskip("numcodecs")
from ratecraft.integrations.numcodecs import Predictive, Quant, Wavelet  # noqa: E402

OPENEPHYS = Path(__file__).resolve().parents[3] / "shared" / "data" / "openephys-16ch"
FS = 30000


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """2.5 s of an 8-channel recording as zarr users keep it: frames × channels, int16."""
    rec, _ = simulate_recording(n_channels=8, duration_s=2.5, sample_rate=FS, seed=3)
    return np.ascontiguousarray(rec.samples.T)


def stored(x: np.ndarray, compressor: object, path: Path) -> object:
    z = zarr.open(
        str(path), mode="w", shape=x.shape, chunks=(FS, x.shape[1]), dtype=x.dtype,
        compressor=compressor,
    )  # fmt: skip
    z[:] = x
    return z


def test_predictive_is_bit_exact_and_reopens_in_a_fresh_process(
    frames: np.ndarray, tmp_path: Path
) -> None:
    path = tmp_path / "x.zarr"
    z = stored(frames, Predictive(), path)
    assert z.nbytes / z.nbytes_stored > 1.5
    meta = json.loads((path / ".zarray").read_text())
    assert meta["compressor"]["id"] == "ratecraft_predictive"
    # a fresh interpreter that imports only zarr finds the codec through the entry point
    code = (
        "import sys, hashlib, zarr; z = zarr.open(sys.argv[1], mode='r'); "
        "print(hashlib.sha256(z[:].tobytes()).hexdigest())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    import hashlib

    assert out.stdout.strip() == hashlib.sha256(frames.tobytes()).hexdigest()


@pytest.mark.parametrize("codec", [Quant, Wavelet])
def test_lossy_codecs_hold_the_bound_and_a_looser_one_is_smaller(
    codec: type, frames: np.ndarray, tmp_path: Path
) -> None:
    sizes = []
    for bound in (2.0, 8.0):
        z = stored(frames, codec(max_error=bound), tmp_path / f"{bound}.zarr")
        back = z[:]
        assert back.dtype == frames.dtype and back.shape == frames.shape
        assert np.abs(back.astype(np.int64) - frames).max() <= bound
        sizes.append(z.nbytes_stored)
    assert sizes[1] < sizes[0]


def test_partial_reads_and_other_shapes(frames: np.ndarray, tmp_path: Path) -> None:
    z = stored(frames, Predictive(), tmp_path / "p.zarr")
    np.testing.assert_array_equal(z[40000:50000, 2:5], frames[40000:50000, 2:5])
    codec = Predictive(level="max")
    for x in (frames[:4000, 0].copy(), frames[:4000].reshape(-1, 2, 4)):
        back = codec.decode(codec.encode(x))
        np.testing.assert_array_equal(np.asarray(back).reshape(x.shape), x)


def test_config_round_trips_through_the_numcodecs_registry() -> None:
    codec = numcodecs.get_codec({"id": "ratecraft_wavelet", "max_error": 3.0, "sample_rate": 2e4})
    assert isinstance(codec, Wavelet)
    assert codec.get_config() == {"id": "ratecraft_wavelet", "max_error": 3.0, "sample_rate": 2e4}


def test_bad_parameters_inputs_and_chunks_are_refused() -> None:
    with pytest.raises(BadInputError, match="max_error"):
        Quant(max_error=0)
    with pytest.raises(BadInputError, match="sample_rate"):
        Predictive(sample_rate=-1)
    with pytest.raises(BadInputError, match="level"):
        Predictive(level="best")
    with pytest.raises(BadInputError, match="cannot code"):
        Predictive().encode(np.array(["a", "b"]))
    blob = bytearray(Predictive().encode(np.arange(1000, dtype=np.int16)))
    blob[len(blob) // 2] ^= 0xFF
    with pytest.raises(CorruptStreamError):
        Predictive().decode(bytes(blob))


def test_a_store_whose_codec_is_not_installed_is_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ratecraft.cli import app

    path = tmp_path / "x.zarr"
    stored(np.zeros((100, 2), np.int16), numcodecs.Zstd(), path)
    meta = json.loads((path / ".zarray").read_text())
    meta["compressor"] = {"id": "not_a_codec"}
    (path / ".zarray").write_text(json.dumps(meta))
    result = CliRunner().invoke(app, ["info", str(path)])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert "not_a_codec" in result.output


def test_spikeinterface_zarr_save_of_the_openephys_recording(tmp_path: Path) -> None:
    si = pytest.importorskip("spikeinterface.core")
    if not OPENEPHYS.is_dir():
        pytest.skip(f"{OPENEPHYS} not present")
    from spikeinterface.extractors import read_openephys

    rec = read_openephys(OPENEPHYS)
    folder = tmp_path / "rec.zarr"
    rec.save(format="zarr", folder=folder, compressor=Predictive(sample_rate=40000), verbose=False)
    back = si.load(folder)
    np.testing.assert_array_equal(back.get_traces(), rec.get_traces())
    assert list(back.get_channel_ids()) == list(rec.get_channel_ids())
    np.testing.assert_allclose(back.get_channel_gains(), rec.get_channel_gains())
    # and ratecraft reads the saved folder like any SpikeInterface recording
    from ratecraft import api

    loaded = api.load(folder)
    np.testing.assert_array_equal(loaded.samples, rec.get_traces().T)
