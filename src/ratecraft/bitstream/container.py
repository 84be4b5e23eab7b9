"""The `.rcz` container: a self-describing, chunked, checksummed and indexed file.

Format version 2 (all integers little-endian)::

    magic "\\x89RCZ\\r\\n\\x1a\\n" | u16 format version | u32 header length
    | header (UTF-8 JSON, zlib-compressed when that is smaller) | u32 CRC-32 of the header
    | per chunk: u32 payload length | u32 frames | u32 CRC-32 of payload | payload
    | index: "RCZI" | u32 chunks | per chunk: u64 record offset, u64 first frame, u32 frames,
    |        u32 payload length, u32 payload CRC-32 | u32 CRC-32 of the index
    | footer: u64 index offset | u32 chunks | "RCZE"

A JSON header starts with ``{``, a compressed one with zlib's ``0x78``: long channel-name
lists and metadata cost little. Data are 2-D (rows × frames): a recording's channels × time,
or a table's features × samples. Chunks split the frame axis, so recordings of any length are
written and read chunk by chunk. The header keeps everything the data carry — channel names
and positions, units, free metadata, feature names and families — and the content hash of the
trained model a chunk payload needs.
The index at the end lets :class:`ContainerReader` read a time range without touching the
chunks outside it (a file is read with positioned reads of just the bytes asked for, so the
process's memory does not grow with the file).

Version 1 (no index; the chunks are followed by ``"RCZE" | u32 chunks``) is still read: its
chunk offsets are found by walking the chunk prefixes.

Every header field is type-checked and every declared size is checked against the bytes
present and against fixed limits before anything is allocated, so a corrupt or hostile file
fails with a one-line :class:`CorruptStreamError`.
"""

from __future__ import annotations

import json
import math
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ratecraft.config import first_error
from ratecraft.dtypes import DtypeName
from ratecraft.errors import BadInputError, CorruptStreamError

MAGIC = b"\x89RCZ\r\n\x1a\n"
TRAILER = b"RCZE"
INDEX_MAGIC = b"RCZI"
FORMAT_VERSION = 2
MAX_HEADER_BYTES = 64 << 20
MAX_ELEMENTS = 1 << 40
MAX_CHUNK_ELEMENTS = 1 << 28
MAX_CHUNK_BYTES = 1 << 31
MAX_NAME_CHARS = 256

_PREFIX = struct.Struct("<8sHI")
_CHUNK = struct.Struct("<III")
_U32 = struct.Struct("<I")
_ENTRY = struct.Struct("<QQIII")
_FOOTER = struct.Struct("<QI4s")
_V1_TRAILER = struct.Struct("<4sI")

HASH_PATTERN = "^[0-9a-f]{64}$"


def _finite_positive(value: float | None, what: str) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ValueError(f"{what} must be a finite number > 0")
    return value


class ContainerHeader(BaseModel):
    """Everything a decoder needs besides the chunk payloads; every field typed and bounded."""

    model_config = ConfigDict(extra="forbid", strict=True)

    codec: str = Field(pattern="^[a-z0-9][a-z0-9_.-]{0,63}$")
    codec_version: int = Field(ge=0, le=1 << 31)
    kind: Literal["recording", "table"]
    shape: tuple[int, int]
    dtype: DtypeName
    chunk_frames: int = Field(gt=0, le=1 << 40)
    sample_rate: float | None = None
    uv_per_step: float | None = None
    units: str | None = Field(default=None, max_length=32)
    channel_names: list[str] | None = None
    channel_positions: list[list[float]] | None = None
    feature_names: list[str] | None = None
    families: list[str] | None = None
    codec_params: dict[str, Any] = Field(default_factory=dict)
    model_sha256: str | None = Field(default=None, pattern=HASH_PATTERN)
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("sample_rate")
    @classmethod
    def _rate(cls, v: float | None) -> float | None:
        return _finite_positive(v, "sample_rate")

    @field_validator("uv_per_step")
    @classmethod
    def _scale(cls, v: float | None) -> float | None:
        return _finite_positive(v, "uv_per_step")

    @field_validator("channel_names", "feature_names", "families")
    @classmethod
    def _names(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and any(len(s) > MAX_NAME_CHARS for s in v):
            raise ValueError(f"names are limited to {MAX_NAME_CHARS} characters")
        return v

    @field_validator("channel_positions")
    @classmethod
    def _positions(cls, v: list[list[float]] | None) -> list[list[float]] | None:
        if v is None:
            return v
        dims = {len(p) for p in v}
        if len(dims) > 1 or (dims and not 1 <= dims.pop() <= 3):
            raise ValueError("channel positions must all have the same 1–3 coordinates")
        if any(not math.isfinite(c) for p in v for c in p):
            raise ValueError("channel positions must be finite")
        return v

    @property
    def rows(self) -> int:
        return self.shape[0]

    @property
    def frames(self) -> int:
        return self.shape[1]

    @property
    def n_chunks(self) -> int:
        frames = self.shape[1]
        return -(-frames // self.chunk_frames) if frames else 0

    def chunk_span(self, i: int) -> tuple[int, int]:
        """(first frame, frames) of chunk ``i`` as the header implies them."""
        start = i * self.chunk_frames
        return start, min(self.chunk_frames, self.shape[1] - start)

    def chunk_lengths(self) -> list[int]:
        """Frames in each chunk, as the header implies them."""
        return [self.chunk_span(i)[1] for i in range(self.n_chunks)]

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json(exclude_defaults=True).encode("utf-8")


def check_header(header: ContainerHeader) -> None:
    """Cross-field checks: sizes within limits and names that match the rows."""
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
    for names, what in (
        (header.channel_names, "channel names"),
        (header.feature_names, "feature names"),
        (header.families, "families"),
        (header.channel_positions, "channel positions"),
    ):
        if names is not None and len(names) != rows:
            raise CorruptStreamError(f"header has {len(names)} {what} for {rows} rows")


def pack_header(header: ContainerHeader) -> bytes:
    """The header's bytes in the file: its JSON, zlib-compressed when that is smaller."""
    text = header.to_json_bytes()
    packed = zlib.compress(text, 9)
    return packed if len(packed) < len(text) else text


def _unpack_header(body: bytes) -> bytes:
    if body[:1] != b"\x78":
        return body
    dec = zlib.decompressobj()
    try:
        text = dec.decompress(body, MAX_HEADER_BYTES)
    except zlib.error as exc:
        raise CorruptStreamError(f"invalid header: not valid compressed JSON ({exc})") from None
    if dec.unconsumed_tail or not dec.eof or dec.unused_data:
        raise CorruptStreamError("invalid header: compressed header is damaged or too large")
    return text


def parse_header(body: bytes) -> ContainerHeader:
    """The header from its stored bytes, fully type-checked (one-line error otherwise)."""
    body = _unpack_header(body)
    try:
        header = ContainerHeader.model_validate_json(body)
    except ValidationError as exc:
        raise CorruptStreamError(f"invalid header: {first_error(exc)}") from None
    except ValueError as exc:  # not UTF-8 / not JSON
        raise CorruptStreamError(f"invalid header: {str(exc).splitlines()[0]}") from None
    check_header(header)
    return header


def overhead_bytes(header: ContainerHeader) -> int:
    """Bytes of a version-2 container besides its chunk payloads (what rate control subtracts)."""
    n = header.n_chunks
    head = _PREFIX.size + len(pack_header(header)) + _U32.size
    index = len(INDEX_MAGIC) + _U32.size + n * _ENTRY.size + _U32.size
    return head + n * _CHUNK.size + index + _FOOTER.size


# ---- writing --------------------------------------------------------------------------------


class ContainerWriter:
    """Writes a version-2 container to a binary stream chunk by chunk; :meth:`close` writes the
    index and footer. The stream need not be seekable."""

    def __init__(self, stream: BinaryIO, header: ContainerHeader) -> None:
        check_header(header)
        self._stream = stream
        self._header = header
        self._written = 0
        self._entries: list[tuple[int, int, int, int, int]] = []
        body = pack_header(header)
        if len(body) > MAX_HEADER_BYTES:
            raise BadInputError(f"container header of {len(body)} bytes exceeds the limit")
        self._put(_PREFIX.pack(MAGIC, FORMAT_VERSION, len(body)))
        self._put(body)
        self._put(_U32.pack(zlib.crc32(body)))

    def _put(self, data: bytes) -> None:
        self._stream.write(data)
        self._written += len(data)

    @property
    def bytes_written(self) -> int:
        return self._written

    def add_chunk(self, payload: bytes, frames: int) -> None:
        i = len(self._entries)
        if i >= self._header.n_chunks:
            raise ValueError("more chunks than the header declares")
        first, expect = self._header.chunk_span(i)
        if frames != expect:
            raise ValueError(f"chunk {i} has {frames} frames, header implies {expect}")
        if len(payload) > MAX_CHUNK_BYTES:
            raise BadInputError(f"chunk {i} payload of {len(payload)} bytes exceeds the limit")
        crc = zlib.crc32(payload)
        self._entries.append((self._written, first, frames, len(payload), crc))
        self._put(_CHUNK.pack(len(payload), frames, crc))
        self._put(payload)

    def close(self) -> None:
        n = len(self._entries)
        if n != self._header.n_chunks:
            raise ValueError(f"wrote {n} of {self._header.n_chunks} chunks")
        at = self._written
        index = INDEX_MAGIC + _U32.pack(n) + b"".join(_ENTRY.pack(*e) for e in self._entries)
        self._put(index + _U32.pack(zlib.crc32(index)))
        self._put(_FOOTER.pack(at, n, TRAILER))


# ---- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkEntry:
    """Where one chunk's record starts, which frames it holds and its payload length."""

    offset: int
    first_frame: int
    frames: int
    length: int
    crc: int


class ContainerReader:
    """Random access to a container held in memory or in a file (memory-mapped).

    The header is checked on opening and the chunk index on first use; :meth:`payload` checks
    each chunk's checksum when it is read. ``bytes_read`` counts the bytes of the file this
    reader has looked at, so a range decode can show it read only what it needed.
    """

    def __init__(self, source: bytes | bytearray | memoryview | str | os.PathLike[str]) -> None:
        self._fd: int | None = None
        self._buf: memoryview | None = None
        self.path: Path | None = None
        if isinstance(source, bytes | bytearray | memoryview):
            self._buf = memoryview(source)
            self._size = len(self._buf)
        else:
            self.path = Path(source)
            self._size = self._open(self.path)
        self.bytes_read = 0
        try:
            self.version, self.header, self._first = self._read_head()
        except BaseException:
            self.close()
            raise
        self._entries: list[ChunkEntry] | None = None

    def _open(self, path: Path) -> int:
        try:
            self._fd = os.open(path, os.O_RDONLY)
            size = os.fstat(self._fd).st_size
        except FileNotFoundError:
            raise BadInputError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise BadInputError(f"{path}: is a folder, not an .rcz file") from None
        except OSError as exc:
            raise BadInputError(f"{path}: cannot read ({exc.strerror})") from None
        if os.path.isdir(path):
            self.close()
            raise BadInputError(f"{path}: is a folder, not an .rcz file")
        if size == 0:
            self.close()
            raise CorruptStreamError("empty file: not a ratecraft .rcz file")
        return size

    def close(self) -> None:
        """Release the file (views handed out before stay valid: they hold copies)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ContainerReader:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def size(self) -> int:
        return self._size

    def _take(self, pos: int, n: int, what: str) -> memoryview:
        if n < 0 or pos < 0 or pos + n > self._size:
            raise CorruptStreamError(
                f"truncated file: {what} needs {n} bytes at offset {pos}, "
                f"only {max(self._size - pos, 0)} remain"
            )
        self.bytes_read += n
        if self._buf is not None:
            return self._buf[pos : pos + n]
        if self._fd is None:
            raise ValueError("container reader is closed")
        data = os.pread(self._fd, n, pos)
        if len(data) != n:
            raise CorruptStreamError(f"truncated file: {what} could not be read in full")
        return memoryview(data)

    def _read_head(self) -> tuple[int, ContainerHeader, int]:
        magic, version, hlen = _PREFIX.unpack(self._take(0, _PREFIX.size, "file prefix"))
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
        body = bytes(self._take(_PREFIX.size, hlen, "header"))
        (crc,) = _U32.unpack(self._take(_PREFIX.size + hlen, 4, "header checksum"))
        if zlib.crc32(body) != crc:
            raise CorruptStreamError("header checksum mismatch (corrupt file)")
        header = parse_header(body)
        first = _PREFIX.size + hlen + 4
        # every chunk needs at least its 12-byte prefix: refuse counts the file cannot hold
        if header.n_chunks * _CHUNK.size > self._size - first:
            raise CorruptStreamError(
                f"header declares {header.n_chunks} chunks, more than the file can hold"
            )
        return version, header, first

    # ---- the index ---------------------------------------------------------------------------
    @property
    def entries(self) -> list[ChunkEntry]:
        """Every chunk's entry, from the index (version 2) or the chunk prefixes (version 1)."""
        if self._entries is None:
            self._entries = self._read_index() if self.version >= 2 else self._walk_v1()
        return self._entries

    def _entry(
        self, i: int, offset: int, first: int, frames: int, length: int, crc: int
    ) -> ChunkEntry:
        want_first, want_frames = self.header.chunk_span(i)
        if (first, frames) != (want_first, want_frames):
            raise CorruptStreamError(
                f"chunk {i} covers frames {first}+{frames}, header implies "
                f"{want_first}+{want_frames}"
            )
        if length > MAX_CHUNK_BYTES:
            raise CorruptStreamError(f"chunk {i} declares {length} bytes, over the limit")
        if offset + _CHUNK.size + length > self._size:
            raise CorruptStreamError(f"truncated file: chunk {i} payload runs past the end")
        return ChunkEntry(offset, first, frames, length, crc)

    def _prefix(self, i: int, offset: int) -> tuple[int, int, int]:
        """(payload length, frames, CRC-32) from chunk ``i``'s own 12-byte prefix."""
        return _CHUNK.unpack(self._take(offset, _CHUNK.size, f"chunk {i} prefix"))

    def _read_index(self) -> list[ChunkEntry]:
        n = self.header.n_chunks
        end = self._size
        at, count, tail = _FOOTER.unpack(self._take(end - _FOOTER.size, _FOOTER.size, "footer"))
        if tail != TRAILER:
            raise CorruptStreamError("bad footer (corrupt or truncated file)")
        if count != n:
            raise CorruptStreamError(f"footer declares {count} chunks, header implies {n}")
        size = len(INDEX_MAGIC) + _U32.size + n * _ENTRY.size
        if at < self._first or at + size + _U32.size + _FOOTER.size != end:
            raise CorruptStreamError("chunk index offset does not match the file size")
        raw = self._take(at, size, "chunk index")
        (crc,) = _U32.unpack(self._take(at + size, _U32.size, "chunk index checksum"))
        if zlib.crc32(raw) != crc:
            raise CorruptStreamError("chunk index checksum mismatch (corrupt file)")
        if bytes(raw[:4]) != INDEX_MAGIC or _U32.unpack(raw[4:8])[0] != n:
            raise CorruptStreamError("bad chunk index")
        out: list[ChunkEntry] = []
        expect_at = self._first
        for i, fields in enumerate(_ENTRY.iter_unpack(raw[8:])):
            if fields[0] != expect_at:
                raise CorruptStreamError(f"chunk {i} offset {fields[0]} is not where chunk {i} is")
            entry = self._entry(i, *fields)
            out.append(entry)
            expect_at = entry.offset + _CHUNK.size + entry.length
        if expect_at != at:
            raise CorruptStreamError(f"{at - expect_at} unexpected bytes before the chunk index")
        return out

    def _walk_v1(self) -> list[ChunkEntry]:
        pos = self._first
        out: list[ChunkEntry] = []
        for i in range(self.header.n_chunks):
            first, frames = self.header.chunk_span(i)
            length, frames_rec, crc = self._prefix(i, pos)
            if frames_rec != frames:
                raise CorruptStreamError(
                    f"chunk {i} declares {frames_rec} frames, expected {frames}"
                )
            entry = self._entry(i, pos, first, frames, length, crc)
            out.append(entry)
            pos += _CHUNK.size + entry.length
        tail, count = _V1_TRAILER.unpack(self._take(pos, _V1_TRAILER.size, "trailer"))
        if tail != TRAILER or count != self.header.n_chunks:
            raise CorruptStreamError("bad trailer (corrupt or truncated file)")
        if pos + _V1_TRAILER.size != self._size:
            extra = self._size - pos - _V1_TRAILER.size
            raise CorruptStreamError(f"{extra} unexpected bytes after the trailer")
        return out

    # ---- chunks ------------------------------------------------------------------------------
    def payload(self, i: int) -> memoryview:
        """Chunk ``i``'s payload after checking its prefix against the index and its checksum."""
        e = self.entries[i]
        if self.version >= 2 and self._prefix(i, e.offset) != (e.length, e.frames, e.crc):
            raise CorruptStreamError(f"chunk {i} prefix does not match the chunk index")
        view = self._take(e.offset + _CHUNK.size, e.length, f"chunk {i} payload")
        if zlib.crc32(view) != e.crc:
            raise CorruptStreamError(f"chunk {i} checksum mismatch (corrupt file)")
        return view

    def chunk_range(self, start: int, stop: int) -> range:
        """Indices of the chunks that hold frames ``start:stop`` (clipped to the data)."""
        frames = self.header.frames
        start, stop = max(0, min(start, frames)), max(0, min(stop, frames))
        if stop <= start:
            return range(0)
        step = self.header.chunk_frames
        return range(start // step, -(-stop // step))

    def iter_chunks(self, chunks: range | None = None) -> Iterator[tuple[ChunkEntry, memoryview]]:
        """``(entry, payload)`` of each chunk in ``chunks`` (all by default), checksums checked."""
        for i in chunks if chunks is not None else range(len(self.entries)):
            yield self.entries[i], self.payload(i)

    def verify(self) -> None:
        """Read every chunk and check every checksum (raises on the first bad one)."""
        for _ in self.iter_chunks():
            pass


def read_header(buf: bytes | memoryview) -> tuple[ContainerHeader, int]:
    """Parse and check the header of an in-memory container; returns it and its format version."""
    reader = ContainerReader(buf)
    return reader.header, reader.version


def iter_chunks(buf: bytes | memoryview) -> Iterator[tuple[int, memoryview]]:
    """Yield ``(frames, payload)`` for each chunk of an in-memory container, all checked."""
    reader = ContainerReader(buf)
    for entry, payload in reader.iter_chunks():
        yield entry.frames, payload


def header_json(header: ContainerHeader) -> dict[str, Any]:
    """The header as a JSON-able dict (for ``ratecraft info``)."""
    doc: dict[str, Any] = json.loads(header.to_json_bytes())
    return doc
