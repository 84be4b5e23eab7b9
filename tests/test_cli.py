"""The ``ratecraft`` command line: round trips, info, synth, bench and one-line bad-input errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ratecraft.cli import app
from ratecraft.codecs import available_codecs
from ratecraft.codecs import base as codec_base
from ratecraft.codecs.base import BlockResult, Codec, codec_class
from ratecraft.data.io import read_data, write_data
from ratecraft.data.synthetic import simulate_recording
from ratecraft.data.types import FeatureTable, Recording

runner = CliRunner()


def run(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stdout + result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def recording() -> Recording:
    rec, _ = simulate_recording(n_channels=4, duration_s=0.25, seed=5)
    return rec


@pytest.fixture
def npz(tmp_path: Path, recording: Recording) -> Path:
    path = tmp_path / "rec.npz"
    write_data(recording, path)
    return path


@pytest.mark.parametrize("suffix", [".npz", ".wav"])
def test_encode_decode_round_trip_is_bit_exact(tmp_path, recording, suffix):
    src = tmp_path / f"in{suffix}"
    write_data(recording, src)
    rcz, back = tmp_path / "x.rcz", tmp_path / f"back{suffix}"
    result = run("encode", src, "-o", rcz)
    assert result.exit_code == 0, result.stderr
    assert "ratio" in result.stdout and "estimated" in result.stdout
    result = run("decode", rcz, "-o", back)
    assert result.exit_code == 0, result.stderr
    original, decoded = read_data(src), read_data(back)
    assert decoded.samples.dtype == original.samples.dtype
    assert np.array_equal(decoded.samples, original.samples)
    assert decoded.sample_rate == original.sample_rate


def test_encode_json_reports_real_and_estimated_rate(tmp_path, npz):
    rcz = tmp_path / "x.rcz"
    result = run("encode", npz, "-o", rcz, "--codec", "predictive", "--lossless", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["container_bytes"] == rcz.stat().st_size
    assert doc["ratio"] == pytest.approx(doc["raw_bytes"] / doc["container_bytes"])
    assert doc["est_bits_per_sample"] is not None and doc["bits_per_sample"] > 0


@pytest.mark.skipif("quant" not in available_codecs(), reason="quant codec not registered")
def test_lossy_encode_defaults_to_quant(tmp_path, npz):
    result = run("encode", npz, "-o", tmp_path / "x.rcz", "--ratio", "8", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["codec"] == "quant" and doc["setting"] == "ratio=8"


def test_info_on_data_and_container(tmp_path, npz):
    result = run("info", npz, "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["kind"] == "recording" and doc["shape"] == [4, 7500] and doc["dtype"] == "int16"

    rcz = tmp_path / "x.rcz"
    assert run("encode", npz, "-o", rcz).exit_code == 0
    result = run("info", rcz, "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["codec"] == "predictive" and doc["format_version"] == 2 and doc["verified"]
    assert doc["shape"] == [4, 7500] and doc["sample_rate"] == 30000.0
    assert doc["file_bytes"] == rcz.stat().st_size
    assert doc["ratio"] == pytest.approx(doc["raw_bytes"] / doc["file_bytes"])
    human = run("info", rcz)
    assert human.exit_code == 0 and "predictive" in human.stdout and "ratio" in human.stdout


def test_synth_writes_readable_files(tmp_path):
    rec = tmp_path / "r.npz"
    result = run(
        "synth", "recording", "-o", rec, "--channels", "3", "--duration", "0.1", "--seed", "2"
    )
    assert result.exit_code == 0, result.stderr
    data = read_data(rec)
    assert isinstance(data, Recording) and data.samples.shape == (3, 3000)

    implant = tmp_path / "i.wav"
    result = run(
        "synth",
        "recording",
        "-o",
        implant,
        "--channels",
        "1",
        "--duration",
        "0.2",
        "--fs",
        "19531",
        "--sparse-grid",
    )
    assert result.exit_code == 0, result.stderr
    assert read_data(implant).sample_rate == 19531

    table = tmp_path / "t.csv"
    result = run("synth", "table", "-o", table, "--samples", "50")
    assert result.exit_code == 0, result.stderr
    assert read_data(table).values.shape[0] == 50

    bad = run("synth", "table", "-o", tmp_path / "u.npz", "--channels", "3")
    assert_one_line_error(bad, 2, "--channels")
    assert not (tmp_path / "u.npz").exists()


def test_bench_json_fields_and_bit_exact(tmp_path, npz):
    out = tmp_path / "bench.json"
    lossless = [c for c in available_codecs() if not codec_class(c).supports_lossy]
    result = run("bench", npz, "--codecs", ",".join(lossless), "--json", out)
    assert result.exit_code == 0, result.stderr
    assert "| input | codec | setting |" in result.stdout
    records = json.loads(out.read_text())
    assert {r["codec"] for r in records} == set(lossless)
    keys = {
        "input",
        "codec",
        "setting",
        "ratio",
        "bits_per_sample",
        "est_bits_per_sample",
        "sndr_db",
        "spike_f1",
        "encode_samples_per_s",
        "decode_samples_per_s",
        "lossless",
        "bit_exact",
    }
    for r in records:
        assert keys <= set(r)
        assert r["lossless"] and r["setting"] == "lossless"
        assert r["bit_exact"] is True and r["status"] == "ok"
        assert r["sndr_db"] == 1e308  # inf written as 1e308 (JSON has no infinity)
        assert r["spike_f1"] == 1.0


def test_bench_bad_ratio_list_is_bad_input(npz):
    assert_one_line_error(run("bench", npz, "--ratios", "10,abc"), 2, "abc")
    assert_one_line_error(run("bench", npz, "--ratios", "0.5"), 2, "ratio")


# ---- bad input: exit 2, one line, no output file ---------------------------------------------


def test_unknown_codec_name(tmp_path, npz):
    out = tmp_path / "x.rcz"
    assert_one_line_error(
        run("encode", npz, "-o", out, "--codec", "nope"), 2, "unknown codec 'nope'"
    )
    assert not out.exists()
    assert_one_line_error(run("bench", npz, "--codecs", "zstd,nope"), 2, "unknown codec 'nope'")


def test_nan_input_for_lossless(tmp_path):
    values = np.random.default_rng(0).standard_normal((2, 500))
    values[1, 17] = np.nan
    src, out = tmp_path / "nan.npz", tmp_path / "x.rcz"
    write_data(Recording(samples=values, sample_rate=1000.0), src)
    assert_one_line_error(run("encode", src, "-o", out, "--lossless"), 2, "NaN")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.npz"]


def test_lossy_option_on_lossless_codec(tmp_path, npz):
    out = tmp_path / "x.rcz"
    result = run("encode", npz, "-o", out, "--codec", "predictive", "--ratio", "10")
    assert_one_line_error(result, 2, "lossless only", "ratio=10")
    assert not out.exists()


def test_two_budgets_at_once(tmp_path, npz):
    result = run("encode", npz, "-o", tmp_path / "x.rcz", "--ratio", "10", "--max-error", "2")
    assert_one_line_error(result, 2, "only one of")


def test_missing_input_file(tmp_path):
    out = tmp_path / "x.rcz"
    assert_one_line_error(run("encode", tmp_path / "missing.npz", "-o", out), 2, "missing.npz")
    assert not out.exists()
    assert_one_line_error(
        run("decode", tmp_path / "missing.rcz", "-o", tmp_path / "y.npz"), 2, "missing.rcz"
    )
    assert_one_line_error(run("info", tmp_path / "missing.npz"), 2, "missing.npz")


def test_output_folder_must_exist(tmp_path, npz):
    result = run("encode", npz, "-o", tmp_path / "no" / "such" / "x.rcz")
    assert_one_line_error(result, 2, "does not exist")


def test_entry_point_prints_one_line_not_a_traceback(tmp_path):
    exe = Path(sys.executable).with_name("ratecraft")
    if not exe.exists():
        pytest.skip("console script not installed")
    bad = tmp_path / "bad.rcz"
    bad.write_bytes(b"not a container at all")
    proc = subprocess.run(
        [str(exe), "decode", str(bad), "-o", str(tmp_path / "o.npz")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {bad}: not a ratecraft .rcz file (wrong magic bytes)"
    ]
    assert not (tmp_path / "o.npz").exists()


class _Damaging(Codec):
    """Lossless on paper, off by one in practice: the bench must call that a failure."""

    name = "test-cli-damaging"

    def encode_block(self, block, ctx):
        return BlockResult(block.tobytes())

    def decode_block(self, payload, ctx):
        out = np.frombuffer(bytes(payload), dtype=ctx.dtype).reshape(ctx.rows, ctx.frames).copy()
        out[0, 0] += 1
        return out


def test_bench_exits_1_when_a_lossless_codec_is_not_bit_exact(tmp_path, npz, monkeypatch):
    monkeypatch.setitem(codec_base.CODECS._loaded, _Damaging.name, _Damaging)
    out = tmp_path / "bench.json"
    result = run("bench", npz, "--codecs", f"zstd,{_Damaging.name}", "--json", out)
    assert_one_line_error(result, 1, "1 of 2 run(s) failed", "not bit-exact")
    records = json.loads(out.read_text())  # results are still written
    assert [r["bit_exact"] for r in records] == [True, False]
    assert "FAILED" in result.stdout


def test_warnings_and_verbose_logs_go_to_stderr(tmp_path, npz):
    quiet = run("encode", npz, "-o", tmp_path / "x.dat")
    assert quiet.exit_code == 0
    assert quiet.stderr.startswith("warning: ") and "*.rcz" in quiet.stderr
    table = tmp_path / "t.npz"
    values = np.ones((20, 3))
    values[0, 0] = np.nan
    write_data(FeatureTable(values=values), table)
    loud = run("--verbose", "bench", table, "--codecs", "predictive,zstd")
    assert loud.exit_code == 0, loud.stderr
    assert "info: ratecraft.bench.runner:" in loud.stderr and "refused" in loud.stderr


def test_decode_a_time_range(tmp_path, npz, recording):
    rcz = tmp_path / "x.rcz"
    assert run("encode", npz, "-o", rcz).exit_code == 0
    out = tmp_path / "part.npz"
    result = run("decode", rcz, "-o", out, "--start", "50ms", "--stop", "0.1s")
    assert result.exit_code == 0, result.stderr
    part = read_data(out)
    fs = recording.sample_rate
    np.testing.assert_array_equal(
        part.samples, recording.samples[:, round(0.05 * fs) : round(0.1 * fs)]
    )
    result = run("decode", rcz, "-o", tmp_path / "f.npz", "--start", "100", "--stop", "164")
    assert result.exit_code == 0 and read_data(tmp_path / "f.npz").samples.shape == (4, 64)
    for start, stop, words in (("2s", "1s", "must come after"), ("abc", None, "not a time")):
        args = ["decode", rcz, "-o", tmp_path / "bad.npz", "--start", start]
        assert_one_line_error(run(*args, *(["--stop", stop] if stop else [])), 2, words)
    assert not (tmp_path / "bad.npz").exists()


def test_decode_of_a_trained_codec_names_the_model_it_needs(tmp_path, npz):
    rcz, model = tmp_path / "x.rcz", tmp_path / "model"
    result = run(
        "encode", npz, "-o", rcz, "--codec", "spike-lfp", "--ratio", "10", "--save-model", model
    )
    assert result.exit_code == 0, result.stderr
    assert_one_line_error(
        run("encode", npz, "-o", tmp_path / "y.rcz", "--codec", "spike-lfp", "--ratio", "10"),
        2,
        "--save-model",
    )
    need = json.loads(run("info", rcz, "--json").stdout)["model_sha256"]
    assert_one_line_error(run("decode", rcz, "-o", tmp_path / "a.npz"), 2, f"sha256:{need[:16]}")
    assert run("decode", rcz, "-o", tmp_path / "a.npz", "--model", model).exit_code == 0
    other = tmp_path / "other"
    run("fit", npz, "--codec", "quant", "--ratio", "5", "-o", other)
    assert_one_line_error(
        run("decode", rcz, "-o", tmp_path / "b.npz", "--model", other), 2, need[:16]
    )
    # a fitted classical codec saves and replays through the same store and flag
    assert run("encode", npz, "-o", tmp_path / "q.rcz", "--model", other).exit_code == 0
    assert run("decode", tmp_path / "q.rcz", "-o", tmp_path / "q.npz").exit_code == 0
