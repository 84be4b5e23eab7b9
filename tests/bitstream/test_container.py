"""The .rcz container: writer and reader agree, the index reads only what a range needs, every
declared size and header field is checked, and format-1 files still read."""

import io
import json
import struct
import zlib

import pytest

from ratecraft.atomic import atomic_write
from ratecraft.bitstream.container import (
    MAGIC,
    ContainerHeader,
    ContainerReader,
    ContainerWriter,
    iter_chunks,
    overhead_bytes,
    read_header,
)
from ratecraft.errors import CorruptStreamError


def _header(frames=10, step=4, **kw):
    return ContainerHeader(
        codec="zstd",
        codec_version=1,
        kind="recording",
        shape=(2, frames),
        dtype="int16",
        chunk_frames=step,
        sample_rate=1000.0,
        **kw,
    )


def _container(frames=10, step=4, payloads=None, **kw):
    header = _header(frames, step, **kw)
    buf = io.BytesIO()
    w = ContainerWriter(buf, header)
    for i, n in enumerate(header.chunk_lengths()):
        w.add_chunk((payloads or {}).get(i, bytes([i]) * (i + 1)), n)
    w.close()
    return header, buf.getvalue()


def _v1(header: ContainerHeader, payloads: list[bytes]) -> bytes:
    """A format-1 file as ratecraft 0.1 wrote it (no index, a count trailer)."""
    body = header.model_dump_json().encode()
    out = MAGIC + struct.pack("<HI", 1, len(body)) + body + struct.pack("<I", zlib.crc32(body))
    for payload, n in zip(payloads, header.chunk_lengths(), strict=True):
        out += struct.pack("<III", len(payload), n, zlib.crc32(payload)) + payload
    return out + b"RCZE" + struct.pack("<I", len(payloads))


def test_round_trip():
    header, blob = _container()
    back, version = read_header(blob)
    assert back == header and version == 2
    chunks = list(iter_chunks(blob))
    assert [f for f, _ in chunks] == [4, 4, 2]
    assert [bytes(p) for _, p in chunks] == [b"\x00", b"\x01\x01", b"\x02\x02\x02"]


def test_overhead_is_the_file_less_its_payloads():
    names = [f"electrode-{i}" for i in range(2)]
    header, blob = _container(frames=100, step=7, channel_names=names, meta={"a": [1, 2]})
    payloads = sum(len(p) for _, p in iter_chunks(blob))
    assert overhead_bytes(header) == len(blob) - payloads


def test_metadata_survives_and_long_headers_are_compressed():
    names = [f"ch{i}" for i in range(2)]
    header, blob = _container(
        channel_names=names,
        channel_positions=[[0.0, 20.0], [0.0, 40.0]],
        units="uV",
        meta={"session": "x" * 2000},
    )
    assert len(blob) < 1000  # 2 kB of repeated metadata cost a few dozen bytes
    back, _ = read_header(blob)
    assert back.channel_positions == [[0.0, 20.0], [0.0, 40.0]] and back.meta == header.meta


def test_range_reads_only_the_chunks_it_needs():
    _, blob = _container(frames=1000, step=10, payloads={i: bytes(500) for i in range(100)})
    reader = ContainerReader(blob)
    _ = reader.entries
    before = reader.bytes_read
    assert reader.chunk_range(495, 512) == range(49, 52)
    for _entry, payload in reader.iter_chunks(reader.chunk_range(495, 512)):
        assert len(payload) == 500
    assert reader.bytes_read - before == 3 * (12 + 500)  # three chunks, prefixes included
    assert before < 100 * 28 + 300  # header, index and footer: no chunk was touched


def test_format_1_files_still_read():
    header = _header()
    payloads = [b"a", b"bb", b"ccc"]
    reader = ContainerReader(_v1(header, payloads))
    assert reader.version == 1
    assert [bytes(p) for _, p in reader.iter_chunks()] == payloads
    with pytest.raises(CorruptStreamError, match="trailer"):
        ContainerReader(_v1(header, payloads)[:-3]).entries  # noqa: B018


def test_writer_refuses_wrong_chunking():
    header = ContainerHeader(
        codec="x", codec_version=1, kind="recording", shape=(1, 5), dtype="int16", chunk_frames=4
    )
    w = ContainerWriter(io.BytesIO(), header)
    with pytest.raises(ValueError):
        w.add_chunk(b"", 3)
    w.add_chunk(b"", 4)
    with pytest.raises(ValueError):
        w.close()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b"XXXX" + b[4:], "wrong magic"),
        (lambda b: b[:8] + struct.pack("<H", 99) + b[10:], "newer"),
        (lambda b: b[:-3], "footer|index"),
        (lambda b: b[:40], "truncated|chunks"),
        (lambda b: b + b"junk", "footer|index"),
        (lambda b: b[:-16] + struct.pack("<QI4s", 3, 3, b"RCZE"), "index"),
    ],
)
def test_damage_is_named(mutate, message):
    _, blob = _container()
    with pytest.raises(CorruptStreamError, match=message):
        list(iter_chunks(mutate(blob)))


def test_flipped_payload_byte_fails_checksum():
    _, blob = _container()
    reader = ContainerReader(blob)
    bad = bytearray(blob)
    bad[reader.entries[2].offset + 12] ^= 0xFF  # inside the last chunk payload
    with pytest.raises(CorruptStreamError, match="checksum"):
        list(iter_chunks(bytes(bad)))


def _raw_header(doc: dict, version: int = 2) -> bytes:
    body = json.dumps(doc).encode()
    return (
        MAGIC + struct.pack("<HI", version, len(body)) + body + struct.pack("<I", zlib.crc32(body))
    )


BASE = {
    "codec": "zstd",
    "codec_version": 1,
    "kind": "recording",
    "shape": [2, 10],
    "dtype": "int16",
    "chunk_frames": 4,
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"shape": [1000000000, 1000000000]}, "exceeds"),
        ({"codec_params": 5}, "codec_params"),
        ({"codec_params": [1, 2]}, "codec_params"),
        ({"meta": "x"}, "meta"),
        ({"shape": [2, "10"]}, "shape"),
        ({"dtype": "object"}, "dtype"),
        ({"sample_rate": -1.0}, "sample_rate"),
        ({"channel_names": ["a"]}, "channel names"),
        ({"channel_positions": [[0.0], [1.0, 2.0]]}, "channel_positions"),
        ({"model_sha256": "../../etc"}, "model_sha256"),
        ({"codec": "../x"}, "codec"),
        ({"chunk_frames": 0}, "chunk_frames"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_every_header_field_is_checked_before_use(change, message):
    with pytest.raises(CorruptStreamError, match=message):
        read_header(_raw_header({**BASE, **change}) + bytes(64))


def test_chunk_counts_the_file_cannot_hold_are_refused():
    blob = _raw_header({**BASE, "shape": [1, 1 << 36], "chunk_frames": 1})
    with pytest.raises(CorruptStreamError, match="more than the file can hold"):
        read_header(blob)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.rcz"
    with pytest.raises(TypeError):
        atomic_write(target, object())  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
    atomic_write(target, b"ok")
    assert target.read_bytes() == b"ok"
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
