"""The .rcz container: writer and reader agree, and every declared size is checked."""

import io
import struct
import zlib

import pytest

from ratecraft.atomic import atomic_write
from ratecraft.bitstream.container import (
    MAGIC,
    ContainerHeader,
    ContainerWriter,
    iter_chunks,
    read_header,
)
from ratecraft.errors import CorruptStreamError


def _container(frames=10, step=4, payloads=None):
    header = ContainerHeader(
        codec="zstd",
        codec_version=1,
        kind="recording",
        shape=(2, frames),
        dtype="int16",
        chunk_frames=step,
        sample_rate=1000.0,
    )
    buf = io.BytesIO()
    w = ContainerWriter(buf, header)
    lengths = header.chunk_lengths()
    for i, n in enumerate(lengths):
        w.add_chunk((payloads or {}).get(i, bytes([i]) * (i + 1)), n)
    w.close()
    return header, buf.getvalue()


def test_round_trip():
    header, blob = _container()
    back, _ = read_header(blob)
    assert back == header
    chunks = list(iter_chunks(blob))
    assert [f for f, _ in chunks] == [4, 4, 2]
    assert [bytes(p) for _, p in chunks] == [b"\x00", b"\x01\x01", b"\x02\x02\x02"]


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
        (lambda b: b[:-3], "trailer"),
        (lambda b: b[:40], "truncated"),
        (lambda b: b + b"junk", "unexpected bytes"),
    ],
)
def test_damage_is_named(mutate, message):
    _, blob = _container()
    with pytest.raises(CorruptStreamError, match=message):
        list(iter_chunks(mutate(blob)))


def test_flipped_payload_byte_fails_checksum():
    _, blob = _container()
    bad = bytearray(blob)
    bad[-9] ^= 0xFF  # inside the last chunk payload
    with pytest.raises(CorruptStreamError, match="checksum"):
        list(iter_chunks(bytes(bad)))


def test_huge_declared_shape_refused_before_allocation():
    body = (
        b'{"codec":"zstd","codec_version":1,"kind":"recording","shape":[1000000000,'
        b'1000000000],"dtype":"int16","chunk_frames":1}'
    )
    blob = MAGIC + struct.pack("<HI", 1, len(body)) + body + struct.pack("<I", zlib.crc32(body))
    with pytest.raises(CorruptStreamError, match="exceeds"):
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
