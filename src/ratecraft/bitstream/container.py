"""The `.rcz` container: a self-describing, chunked, checksummed file.

Layout (all integers little-endian)::

    magic "\\x89RCZ\\r\\n\\x1a\\n" | u16 format version | u32 header length | header (UTF-8 JSON)
    | u32 CRC-32 of the header
    | per chunk: u32 payload length | u32 frames | u32 CRC-32 of payload | payload
    | "RCZE" | u32 number of chunks

Data are 2-D (rows × frames): a recording's channels × time, or a table's features × samples.
Chunks split the frame axis, so long recordings can be written and read chunk by chunk. Every
declared size is checked against the bytes present and against fixed limits before anything is
allocated, so a corrupt or hostile file fails with a one-line :class:`CorruptStreamError`.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ratecraft.errors import CorruptStreamError

MAGIC = b"\x89RCZ\r\n\x1a\n"
TRAILER = b"RCZE"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 64 << 20
MAX_ELEMENTS = 1 << 36
MAX_CHUNK_ELEMENTS = 1 << 28
MAX_CHUNK_BYTES = 1 << 31

_PREFIX = struct.Struct("<8sHI")
_CHUNK = struct.Struct("<III")
_U32 = struct.Struct("<I")


class ContainerHeader(BaseModel):
    """Everything a decoder needs besides the chunk payloads."""

    model_config = ConfigDict(extra="forbid")

    codec: str
    codec_version: int = Field(ge=0)
    kind: str = Field(pattern="^(recording|table)$")
    shape: tuple[int, int]
    dtype: str
    chunk_frames: int = Field(gt=0)
    sample_rate: float | None = None
    uv_per_step: float | None = None
    channel_names: list[str] | None = None
    feature_names: list[str] | None = None
    families: list[str] | None = None
    codec_params: dict[str, Any] = Field(default_factory=dict)
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def n_chunks(self) -> int:
        frames = self.shape[1]
        return -(-frames // self.chunk_frames) if frames else 0

    def chunk_lengths(self) -> list[int]:
        """Frames in each chunk, as the header implies them."""
        frames, step = self.shape[1], self.chunk_frames
        return [min(step, frames - s) for s in range(0, frames, step)]


def _validate_header(header: ContainerHeader) -> None:
    rows, frames = header.shape
    if rows < 0 or frames < 0:
        raise CorruptStreamError(f"negative shape {header.shape} in header")
    if rows * frames > MAX_ELEMENTS:
        raise CorruptStreamError(
            f"declared shape {header.shape} exceeds the limit of {MAX_ELEMENTS} samples"
        )
    if rows * min(header.chunk_frames, max(frames, 1)) > MAX_CHUNK_ELEMENTS:
        raise CorruptStreamError(
            f"declared chunk of {rows}x{header.chunk_frames} exceeds {MAX_CHUNK_ELEMENTS} samples"
        )
    for names, what in ((header.channel_names, "channel"), (header.feature_names, "feature")):
        if names is not None and len(names) != rows:
            raise CorruptStreamError(f"header has {len(names)} {what} names for {rows} rows")


class ContainerWriter:
    """Writes a container to a binary stream chunk by chunk."""

    def __init__(self, stream: BinaryIO, header: ContainerHeader) -> None:
        _validate_header(header)
        self._stream = stream
        self._expected = header.chunk_lengths()
        self._written = 0
        body = header.model_dump_json().encode("utf-8")
        stream.write(_PREFIX.pack(MAGIC, FORMAT_VERSION, len(body)))
        stream.write(body)
        stream.write(_U32.pack(zlib.crc32(body)))

    def add_chunk(self, payload: bytes, frames: int) -> None:
        if self._written >= len(self._expected):
            raise ValueError("more chunks than the header declares")
        if frames != self._expected[self._written]:
            raise ValueError(
                f"chunk {self._written} has {frames} frames, header implies "
                f"{self._expected[self._written]}"
            )
        self._stream.write(_CHUNK.pack(len(payload), frames, zlib.crc32(payload)))
        self._stream.write(payload)
        self._written += 1

    def close(self) -> None:
        if self._written != len(self._expected):
            raise ValueError(f"wrote {self._written} of {len(self._expected)} chunks")
        self._stream.write(TRAILER + _U32.pack(self._written))


class _Cursor:
    """Bounds-checked reads from a buffer; every overrun is a CorruptStreamError."""

    def __init__(self, buf: bytes | memoryview) -> None:
        self.buf = memoryview(buf)
        self.pos = 0

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise CorruptStreamError(
                f"truncated file: {what} needs {n} bytes at offset {self.pos}, "
                f"only {len(self.buf) - self.pos} remain"
            )
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def read_header(buf: bytes | memoryview) -> tuple[ContainerHeader, int]:
    """Parse and check the header; returns it and the offset of the first chunk."""
    cur = _Cursor(buf)
    magic, version, hlen = _PREFIX.unpack(cur.take(_PREFIX.size, "file prefix"))
    if magic != MAGIC:
        raise CorruptStreamError("not a ratecraft .rcz file (wrong magic bytes)")
    if version > FORMAT_VERSION:
        raise CorruptStreamError(
            f"file format version {version} is newer than this ratecraft reads "
            f"({FORMAT_VERSION}); upgrade ratecraft"
        )
    if version == 0:
        raise CorruptStreamError("invalid file format version 0")
    if hlen > MAX_HEADER_BYTES:
        raise CorruptStreamError(f"declared header of {hlen} bytes exceeds {MAX_HEADER_BYTES}")
    body = bytes(cur.take(hlen, "header"))
    (crc,) = _U32.unpack(cur.take(4, "header checksum"))
    if zlib.crc32(body) != crc:
        raise CorruptStreamError("header checksum mismatch (corrupt file)")
    try:
        header = ContainerHeader.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise CorruptStreamError(f"invalid header: {first}") from None
    _validate_header(header)
    return header, cur.pos


def iter_chunks(buf: bytes | memoryview) -> Iterator[tuple[int, memoryview]]:
    """Yield ``(frames, payload)`` for each chunk after checking its length and checksum."""
    header, start = read_header(buf)
    cur = _Cursor(buf)
    cur.pos = start
    for i, expect in enumerate(header.chunk_lengths()):
        length, frames, crc = _CHUNK.unpack(cur.take(_CHUNK.size, f"chunk {i} prefix"))
        if frames != expect:
            raise CorruptStreamError(f"chunk {i} declares {frames} frames, header implies {expect}")
        if length > MAX_CHUNK_BYTES:
            raise CorruptStreamError(f"chunk {i} declares {length} bytes, over the limit")
        payload = cur.take(length, f"chunk {i} payload")
        if zlib.crc32(payload) != crc:
            raise CorruptStreamError(f"chunk {i} checksum mismatch (corrupt file)")
        yield frames, payload
    tail = bytes(cur.take(len(TRAILER) + 4, "trailer"))
    if tail[:4] != TRAILER or _U32.unpack(tail[4:])[0] != header.n_chunks:
        raise CorruptStreamError("bad trailer (corrupt or truncated file)")
    if cur.pos != len(cur.buf):
        raise CorruptStreamError(f"{len(cur.buf) - cur.pos} unexpected bytes after the trailer")
