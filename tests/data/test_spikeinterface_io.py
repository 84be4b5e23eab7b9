"""Recordings read through SpikeInterface: SpikeGLX files, SpikeInterface's saved folders,
multi-segment recordings, and one clear line for each kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ratecraft import api
from ratecraft.cli import app
from ratecraft.errors import BadInputError, MissingExtraError

si = pytest.importorskip("spikeinterface.core")

runner = CliRunner()
FS = 30000


def write_spikeglx(folder: Path, n_frames: int = FS, seed: int = 0) -> tuple[Path, np.ndarray]:
    """A Neuropixels 1.0 AP file as SpikeGLX writes it: 4 saved AP channels plus the sync
    word, interleaved int16, with its ``.meta``. Returns the ``.bin`` and the AP samples
    (channels × frames)."""
    run = folder / "run_g0" / "run_g0_imec0"
    run.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    ap = rng.integers(-300, 300, size=(4, n_frames)).astype(np.int16)
    ap = np.cumsum(ap, axis=1, dtype=np.int16) // 8  # correlated in time, like a signal
    sync = np.zeros((1, n_frames), np.int16)
    frames = np.concatenate([ap, sync]).T.copy()
    path = run / "run_g0_t0.imec0.ap.bin"
    frames.tofile(path)
    meta = {
        "imAiRangeMax": "0.6",
        "imAiRangeMin": "-0.6",
        "imMaxInt": "512",
        "imSampRate": str(FS),
        "nSavedChans": "5",
        "snsApLfSy": "4,0,1",
        "snsSaveChanSubset": "0:3,768",
        "fileSizeBytes": str(path.stat().st_size),
        "fileName": path.name,
        "typeThis": "imec",
        "imDatPrb_type": "0",
        "imDatPrb_pn": "PRB_1_4_0480_1",
        "firstSample": "0",
        "~imroTbl": "(0,384)" + "".join(f"({c} 0 0 500 250 1)" for c in range(4)),
        "~snsChanMap": "(384,384,1)"
        + "".join(f"(AP{c};{c}:{c})" for c in range(4))
        + "(SY0;4:768)",
        "~snsShankMap": "(1,2,480)(0:0:0:1)(0:1:0:1)(0:0:1:1)(0:1:1:1)",
    }
    path.with_suffix(".meta").write_text("".join(f"{k}={v}\n" for k, v in meta.items()))
    return path, ap


def numpy_recording(n_segments: int = 1, frames: int = 6000, seed: int = 1) -> object:
    """A 3-channel recording with per-channel gains, offsets and probe locations."""
    rng = np.random.default_rng(seed)
    traces = [
        np.cumsum(rng.integers(-20, 20, size=(frames + 1000 * i, 3)), axis=0).astype(np.int16)
        for i in range(n_segments)
    ]
    rec = si.NumpyRecording(traces, sampling_frequency=FS, channel_ids=["a", "b", "c"])
    rec.set_channel_gains([0.195, 0.195, 0.39])
    rec.set_channel_offsets([0.0, 0.0, -5.0])
    rec.set_dummy_probe_from_locations(np.array([[0.0, 0.0], [0.0, 20.0], [16.0, 40.0]]))
    return rec


def test_spikeglx_file_round_trips_through_the_cli(tmp_path: Path) -> None:
    path, ap = write_spikeglx(tmp_path)
    info = runner.invoke(app, ["info", str(path), "--json"])
    assert info.exit_code == 0, info.output
    doc = json.loads(info.stdout)
    assert doc["format"] == "spikeglx"
    assert doc["shape"] == [4, FS] and doc["sample_rate"] == FS
    out = tmp_path / "x.rcz"
    enc = runner.invoke(app, ["encode", str(path), "-o", str(out), "--json"])
    assert enc.exit_code == 0, enc.output
    assert json.loads(enc.stdout)["ratio"] > 1.2
    rec = api.decode(out)
    np.testing.assert_array_equal(rec.samples, ap)
    assert rec.channel_names == ["AP0", "AP1", "AP2", "AP3"]
    assert rec.uv_per_step == pytest.approx(0.6 / 512 / 500 * 1e6)  # range / steps / gain
    assert rec.meta["stream"] == "imec0.ap"


def test_spikeglx_reads_by_positioned_reads_and_ranges_match(tmp_path: Path) -> None:
    path, ap = write_spikeglx(tmp_path)
    with api.open(path) as source:
        assert type(source).__name__ == "FileArraySource"
        np.testing.assert_array_equal(source.read(1234, 5678), ap[:, 1234:5678])


def test_spikeglx_format_flag_on_the_folder_with_a_stream(tmp_path: Path) -> None:
    path, ap = write_spikeglx(tmp_path)
    rec = api.load(path.parent, fmt="spikeglx", stream="imec0.ap")
    np.testing.assert_array_equal(rec.samples, ap)
    with pytest.raises(BadInputError, match=r"imec0\.lf") as err:
        api.load(path.parent, fmt="spikeglx", stream="imec0.lf")
    assert "\n" not in str(err.value)


def test_spikeglx_truncated_file_is_refused_in_one_line(tmp_path: Path) -> None:
    path, _ = write_spikeglx(tmp_path)
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - 10)
    result = runner.invoke(app, ["info", str(path)])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert "whole frames" in result.output or "declares" in result.output


def test_saved_binary_folder_keeps_ids_gains_and_locations(tmp_path: Path) -> None:
    folder = tmp_path / "saved"
    numpy_recording().save(folder=folder, format="binary", verbose=False)
    expected = numpy_recording().get_traces().T
    out = tmp_path / "s.rcz"
    enc = runner.invoke(app, ["encode", str(folder), "-o", str(out)])
    assert enc.exit_code == 0, enc.output
    rec = api.decode(out)
    np.testing.assert_array_equal(rec.samples, expected)
    assert rec.channel_names == ["a", "b", "c"]
    np.testing.assert_allclose(rec.channel_positions, [[0, 0], [0, 20], [16, 40]])
    assert rec.meta["channel_gains_uV"] == pytest.approx([0.195, 0.195, 0.39])
    assert rec.meta["channel_offsets_uV"] == pytest.approx([0.0, 0.0, -5.0])


def test_segments_are_concatenated_with_their_lengths_kept(tmp_path: Path) -> None:
    folder = tmp_path / "two"
    numpy_recording(n_segments=2).save(folder=folder, format="binary", verbose=False)
    rec = api.load(folder)
    original = numpy_recording(n_segments=2)
    expected = np.concatenate([original.get_traces(segment_index=i).T for i in range(2)], axis=1)
    np.testing.assert_array_equal(rec.samples, expected)
    assert rec.meta["segment_frames"] == [6000, 7000]


def test_unknown_format_and_unrecognised_folder_are_one_line_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (
        ["info", str(empty)],
        ["info", str(empty), "--format", "no-such-system"],
        ["info", str(empty), "--format", "intan"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1, (args, result.output)
    assert "unknown --format 'no-such-system'" in runner.invoke(
        app, ["info", str(empty), "--format", "no-such-system"]
    ).output.replace("\n", "")


def test_flags_of_other_readers_are_refused_for_spikeinterface_input(tmp_path: Path) -> None:
    path, _ = write_spikeglx(tmp_path)
    result = runner.invoke(app, ["info", str(path), "--dataset", "x"])
    assert result.exit_code == 2 and "--dataset" in result.output


def test_missing_neuro_extra_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import builtins

    real_import = builtins.__import__

    def no_spikeinterface(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("spikeinterface"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_spikeinterface)
    path, _ = write_spikeglx(tmp_path)
    with pytest.raises(MissingExtraError, match="neuro"):
        api.open(path)
