"""Compact byte records: unsigned LEB128 varints, zigzag signed ints, raw bytes, read back with
bounds checks (a corrupt record raises :class:`CorruptStreamError`, never reads out of range).

Codecs whose per-chunk side information must stay a few bytes on a small table (a column's
kind, offsets, parents) write it with :class:`Writer` instead of JSON.
"""

from __future__ import annotations

from ratecraft.errors import CorruptStreamError

__all__ = ["Reader", "Writer"]

_MAX_VARINT_BYTES = 10  # 64-bit values


class Writer:
    """Appends records to a byte buffer."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def uint(self, value: int) -> None:
        if value < 0:
            raise ValueError("uint of a negative value")
        while True:
            low = value & 0x7F
            value >>= 7
            if value:
                self._buf.append(low | 0x80)
            else:
                self._buf.append(low)
                return

    def sint(self, value: int) -> None:
        self.uint(value * 2 if value >= 0 else -value * 2 - 1)

    def raw(self, data: bytes) -> None:
        self._buf += data

    def blob(self, data: bytes) -> None:
        """Length-prefixed bytes."""
        self.uint(len(data))
        self._buf += data

    def getvalue(self) -> bytes:
        return bytes(self._buf)


class Reader:
    """Reads what :class:`Writer` wrote, checking every length against the bytes present."""

    def __init__(self, buf: bytes | memoryview) -> None:
        self._view = memoryview(buf)
        self._pos = 0

    def uint(self, limit: int | None = None) -> int:
        """An unsigned varint; ``limit``: the largest value allowed."""
        value = shift = 0
        for _ in range(_MAX_VARINT_BYTES):
            if self._pos >= len(self._view):
                raise CorruptStreamError("truncated record")
            byte = self._view[self._pos]
            self._pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                if limit is not None and value > limit:
                    raise CorruptStreamError(f"record value {value} exceeds {limit}")
                return value
        raise CorruptStreamError("varint too long")

    def sint(self, bound: int | None = None) -> int:
        """A zigzag signed varint with ``|value| <= bound`` when a bound is given."""
        z = self.uint(None if bound is None else 2 * bound + 1)
        return z >> 1 if not z & 1 else -((z + 1) >> 1)

    def raw(self, n: int) -> memoryview:
        if n < 0 or self._pos + n > len(self._view):
            raise CorruptStreamError("truncated record")
        out = self._view[self._pos : self._pos + n]
        self._pos += n
        return out

    def blob(self, limit: int) -> memoryview:
        return self.raw(self.uint(limit))

    def rest(self) -> memoryview:
        """Everything not read yet."""
        return self.raw(len(self._view) - self._pos)

    def done(self) -> bool:
        return self._pos == len(self._view)
