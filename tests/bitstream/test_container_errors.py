"""Damaged or hostile .rcz files through the CLI: exit 2, one ``error:`` line, no output file.

Each test starts from a valid container made by ``ratecraft encode`` and breaks one thing.
Container layout: magic (8) | u16 format version | u32 header length | header JSON | u32 CRC-32
of the header | chunks (u32 length, u32 frames, u32 CRC-32, payload) | trailer.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ratecraft.bitstream.container import ContainerReader
from ratecraft.cli import app
from ratecraft.data.io import write_data
from ratecraft.data.types import Recording

runner = CliRunner()
_PREFIX = struct.Struct("<8sHI")


@pytest.fixture(scope="module")
def container(tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("valid")
    samples = np.random.default_rng(1).integers(-300, 300, size=(3, 4000)).astype(np.int16)
    write_data(Recording(samples=samples, sample_rate=2000.0), folder / "in.npz")
    result = runner.invoke(
        app,
        ["encode", str(folder / "in.npz"), "-o", str(folder / "x.rcz"), "--codec", "predictive"],
    )
    assert result.exit_code == 0, result.stderr
    return (folder / "x.rcz").read_bytes()


def rewrite_header(blob: bytes, change: Callable[[dict], None]) -> bytes:
    """``blob`` with its header JSON edited by ``change``, lengths and header CRC made right."""
    magic, version, hlen = _PREFIX.unpack_from(blob)
    start = _PREFIX.size
    stored = blob[start : start + hlen]
    doc = json.loads(zlib.decompress(stored) if stored[:1] == b"\x78" else stored)
    change(doc)
    body = json.dumps(doc).encode()
    reader = ContainerReader(blob)
    first = start + hlen + 4
    index_at = reader.entries[-1].offset + 12 + reader.entries[-1].length
    chunks = blob[first:index_at]
    shift = len(body) - hlen
    n = len(reader.entries)
    entries = b"".join(
        struct.pack("<QQIII", e.offset + shift, e.first_frame, e.frames, e.length, e.crc)
        for e in reader.entries
    )
    index = b"RCZI" + struct.pack("<I", n) + entries
    head = _PREFIX.pack(magic, version, len(body)) + body + struct.pack("<I", zlib.crc32(body))
    footer = struct.pack("<QI4s", index_at + shift, n, b"RCZE")
    return head + chunks + index + struct.pack("<I", zlib.crc32(index)) + footer


def flip_payload_byte(blob: bytes) -> bytes:
    offset = ContainerReader(blob).entries[0].offset
    damaged = bytearray(blob)
    damaged[offset + 12 + 5] ^= 0x40  # inside chunk 0's payload, after its 12-byte prefix
    return bytes(damaged)


def future_version(blob: bytes) -> bytes:
    damaged = bytearray(blob)
    struct.pack_into("<H", damaged, 8, 99)
    return bytes(damaged)


def huge_shape(blob: bytes) -> bytes:
    def change(doc: dict) -> None:
        doc["shape"] = [1_000_000_000, 1_000_000_000]
        doc["channel_names"] = None

    return rewrite_header(blob, change)


def unknown_codec(blob: bytes) -> bytes:
    return rewrite_header(blob, lambda doc: doc.update(codec="no-such-codec"))


CASES = {
    "corrupt payload byte": (flip_payload_byte, "chunk 0 checksum mismatch"),
    "truncated": (lambda b: b[: len(b) // 2], "truncated"),
    "wrong magic": (lambda b: b"XXXXXXXX" + b[8:], "wrong magic"),
    "future version": (future_version, "version 99 is newer"),
    "huge declared shape": (huge_shape, "exceeds the limit"),
    "unknown codec in header": (unknown_codec, "unknown codec 'no-such-codec'"),
    "empty file": (lambda b: b"", "empty file"),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("suffix", [".npz", ".wav"])
def test_decode_refuses_bad_container(tmp_path: Path, container: bytes, case: str, suffix: str):
    damage, message = CASES[case]
    bad = tmp_path / "bad.rcz"
    bad.write_bytes(damage(container))
    out = tmp_path / f"out{suffix}"
    result = runner.invoke(app, ["decode", str(bad), "-o", str(out)])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.rcz"]  # no output, no temp file


@pytest.mark.parametrize("case", list(CASES))
def test_info_refuses_bad_files(tmp_path: Path, container: bytes, case: str):
    """``info`` verifies what it reports on: every damaged file exits 2 with one line."""
    damage, message = CASES[case]
    bad = tmp_path / "bad.rcz"
    bad.write_bytes(damage(container))
    result = runner.invoke(app, ["info", str(bad)])
    assert result.exit_code == 2, result.stdout
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert message in result.stderr


def test_info_says_when_it_did_not_verify(tmp_path: Path, container: bytes):
    bad = tmp_path / "bad.rcz"
    bad.write_bytes(flip_payload_byte(container))
    result = runner.invoke(app, ["info", str(bad), "--no-verify", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["verified"] is False
    good = tmp_path / "good.rcz"
    good.write_bytes(container)
    result = runner.invoke(app, ["info", str(good), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["verified"] is True


def test_bench_of_a_bad_container_is_bad_input(tmp_path: Path, container: bytes):
    bad = tmp_path / "bad.rcz"
    bad.write_bytes(flip_payload_byte(container))
    result = runner.invoke(
        app, ["bench", str(bad), "--codecs", "zstd", "--json", str(tmp_path / "b.json")]
    )
    assert result.exit_code == 2
    assert "checksum mismatch" in result.stderr
    assert not (tmp_path / "b.json").exists()
