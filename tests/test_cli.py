"""The command line: round trips, inspection, benchmarks, and one clear line per bad input."""

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ratecraft.bitstream.container import MAGIC
from ratecraft.cli import app
from ratecraft.data.io import read_data, write_data
from ratecraft.data.synthetic import simulate_recording

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def rec_file(tmp_path_factory) -> Path:
    rec, _ = simulate_recording(n_channels=4, duration_s=0.5, sample_rate=20000.0, seed=3)
    path = tmp_path_factory.mktemp("data") / "rec.npz"
    write_data(rec, path)
    return path


@pytest.fixture(scope="module")
def rcz(rec_file, tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("enc") / "rec.rcz"
    assert run("encode", rec_file, "-o", out).exit_code == 0
    return out.read_bytes()


def _one_error_line(result) -> str:
    err = result.stderr.strip().splitlines()
    assert len(err) == 1, result.stderr
    assert err[0].startswith("error: ")
    assert "Traceback" not in result.output
    return err[0]


@pytest.mark.parametrize("ext", ["npz", "wav"])
def test_encode_decode_round_trip_is_bit_exact(rec_file, tmp_path, ext):
    rcz = tmp_path / "x.rcz"
    assert run("encode", rec_file, "-o", rcz).exit_code == 0
    back = tmp_path / f"back.{ext}"
    assert run("decode", rcz, "-o", back).exit_code == 0
    a, b = read_data(rec_file), read_data(back)
    assert a.samples.dtype == b.samples.dtype and np.array_equal(a.samples, b.samples)
    assert b.sample_rate == a.sample_rate


def test_lossy_encode_meets_the_ratio(rec_file, tmp_path):
    out = tmp_path / "lossy.rcz"
    result = run("encode", rec_file, "-o", out, "--ratio", "8", "--json")
    assert result.exit_code == 0
    raw = read_data(rec_file).samples.nbytes
    assert raw / out.stat().st_size >= 8


def test_info_on_data_and_container(rec_file, tmp_path, rcz):
    path = tmp_path / "a.rcz"
    path.write_bytes(rcz)
    data_info = run("info", rec_file, "--json")
    assert data_info.exit_code == 0
    rcz_info = run("info", path, "--json")
    assert rcz_info.exit_code == 0
    assert "predictive" in rcz_info.stdout


def test_bench_json_records(rec_file, tmp_path):
    out = tmp_path / "bench.json"
    result = run(
        "bench", rec_file, "--codecs", "predictive,quant,zstd", "--ratios", "6", "--json", out
    )
    assert result.exit_code == 0, result.output
    records = json.loads(out.read_text())
    keys = {
        "input",
        "codec",
        "setting",
        "ratio",
        "bits_per_sample",
        "sndr_db",
        "spike_f1",
        "encode_samples_per_s",
        "decode_samples_per_s",
        "lossless",
        "bit_exact",
    }
    assert records and all(keys <= set(r) for r in records)
    for r in records:
        if r["lossless"]:
            assert r["bit_exact"] is True
    lossy = [r for r in records if r["codec"] == "quant"]
    assert lossy and lossy[0]["ratio"] >= 6


def test_synth_writes_readable_files(tmp_path):
    rec = tmp_path / "s.wav"
    assert (
        run(
            "synth", "recording", "-o", rec, "--seed", "2", "--channels", "3", "--duration", "0.2"
        ).exit_code
        == 0
    )
    assert read_data(rec).samples.shape[0] == 3
    table = tmp_path / "t.csv"
    assert run("synth", "table", "-o", table, "--samples", "50").exit_code == 0
    assert read_data(table).n_samples == 50


def _damaged(blob: bytes, kind: str) -> bytes:
    b = bytearray(blob)
    if kind == "corrupt":
        b[-20] ^= 0x55  # inside the last chunk's payload
    elif kind == "truncated":
        b = b[: len(b) // 2]
    elif kind == "magic":
        b[:8] = b"NOTRCZ!!"
    elif kind == "future":
        b[8:10] = struct.pack("<H", 250)
    elif kind in ("huge", "codec"):
        (hlen,) = struct.unpack("<I", bytes(b[10:14]))
        header = json.loads(bytes(b[14 : 14 + hlen]))
        if kind == "huge":
            header["shape"] = [1_000_000_000, 1_000_000_000]
        else:
            header["codec"] = "no-such-codec"
        body = json.dumps(header).encode()
        rest = bytes(b[14 + hlen + 4 :])
        b = bytearray(
            MAGIC
            + struct.pack("<HI", 1, len(body))
            + body
            + struct.pack("<I", zlib.crc32(body))
            + rest
        )
    return bytes(b)


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("corrupt", "checksum"),
        ("truncated", "truncated"),
        ("magic", "magic"),
        ("future", "newer"),
        ("huge", "exceeds"),
        ("codec", "unknown codec"),
    ],
)
def test_bad_containers_exit_2_and_leave_nothing(rcz, tmp_path, kind, words):
    bad = tmp_path / "bad.rcz"
    bad.write_bytes(_damaged(rcz, kind))
    out = tmp_path / "out.npz"
    result = run("decode", bad, "-o", out)
    assert result.exit_code == 2
    assert words in _one_error_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.rcz"]


def test_unknown_codec_name(rec_file, tmp_path):
    out = tmp_path / "x.rcz"
    result = run("encode", rec_file, "-o", out, "--codec", "nope")
    assert result.exit_code == 2
    assert "unknown codec 'nope'" in _one_error_line(result)
    assert not out.exists()


def test_nan_refused_for_lossless(tmp_path):
    x = np.zeros((2, 100), dtype=np.float32)
    x[0, 5] = np.nan
    src = tmp_path / "nan.npz"
    np.savez(src, samples=x, fs=1000.0)
    out = tmp_path / "nan.rcz"
    result = run("encode", src, "-o", out)
    assert result.exit_code == 2
    assert "NaN" in _one_error_line(result)
    assert not out.exists()


def test_lossy_option_on_lossless_codec(rec_file, tmp_path):
    out = tmp_path / "x.rcz"
    result = run("encode", rec_file, "-o", out, "--codec", "flac", "--ratio", "10")
    assert result.exit_code == 2
    assert "lossless only" in _one_error_line(result)
    assert not out.exists()


def test_missing_input(tmp_path):
    result = run("encode", tmp_path / "missing.npz", "-o", tmp_path / "x.rcz")
    assert result.exit_code == 2
    _one_error_line(result)
    assert list(tmp_path.iterdir()) == []


def test_console_script_prints_one_line_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.rcz"
    bad.write_bytes(b"garbage" * 10)
    proc = subprocess.run(
        [sys.executable, "-m", "ratecraft.cli", "decode", str(bad), "-o", str(tmp_path / "o.npz")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: ")
