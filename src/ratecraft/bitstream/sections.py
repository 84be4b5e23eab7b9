"""Length-prefixed sections inside a chunk payload, read back with bounds checks."""

from __future__ import annotations

import struct

import numpy as np

from ratecraft.errors import CorruptStreamError

_U32 = struct.Struct("<I")
MAX_SECTIONS = 1 << 16


def pack_sections(parts: list[bytes]) -> bytes:
    """Concatenate byte strings behind a count and one u32 length each."""
    head = [_U32.pack(len(parts))] + [_U32.pack(len(p)) for p in parts]
    return b"".join(head + list(parts))


def unpack_sections(buf: bytes | memoryview, expect: int | None = None) -> list[memoryview]:
    """Split what :func:`pack_sections` made, checking every length against the bytes present."""
    view = memoryview(buf)
    if len(view) < 4:
        raise CorruptStreamError("truncated chunk payload")
    (count,) = _U32.unpack(view[:4])
    if count > MAX_SECTIONS or 4 + 4 * count > len(view):
        raise CorruptStreamError(f"chunk payload declares {count} sections, corrupt")
    if expect is not None and count != expect:
        raise CorruptStreamError(f"chunk payload has {count} sections, expected {expect}")
    lengths = np.frombuffer(view[4 : 4 + 4 * count], dtype="<u4").astype(np.int64)
    pos = 4 + 4 * count
    if pos + int(lengths.sum()) != len(view):
        raise CorruptStreamError("chunk payload section lengths do not match its size")
    out = []
    for n in lengths:
        out.append(view[pos : pos + int(n)])
        pos += int(n)
    return out


def array_from(buf: bytes | memoryview, dtype: str, count: int, what: str) -> np.ndarray:
    """A 1-D array of exactly ``count`` items of ``dtype`` from ``buf``, or a clear error."""
    dt = np.dtype(dtype)
    if len(buf) != count * dt.itemsize:
        raise CorruptStreamError(f"{what}: expected {count * dt.itemsize} bytes, found {len(buf)}")
    return np.frombuffer(buf, dtype=dt, count=count)
