"""Find the integer alphabet behind samples so predictive coding works on small integers.

Three cases, tried in order:

* integers on a sparse set of values (an implant's 10-bit ADC codes stored as 16-bit numbers
  with a non-integer gain): each value is replaced by its rank in the sorted table of values;
* other integers: used as they are;
* floats that are exactly ``k · step`` for integer ``k`` (µV = steps · bitVolts): coded as ``k``.

Anything else (floats off any grid, integers beyond ±2^31) is not integer-codable and returns None.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import zstandard

from ratecraft.bitstream.sections import array_from
from ratecraft.errors import CorruptStreamError

MAX_ABS_INT = (1 << 31) - 1
_TABLE = struct.Struct("<qB")  # first value, bytes per gap (then the gaps), zstd-compressed
_MAX_BINCOUNT_RANGE = 1 << 24
_GRID_PROBE = 1 << 16


@dataclass
class Alphabet:
    """How integers ``k`` map back to the original samples."""

    mode: str  # "identity" | "table" | "grid"
    table: np.ndarray | None = None  # sorted distinct values, for "table"
    step: float = 1.0  # for "grid"

    def to_bytes(self) -> bytes:
        if self.mode == "identity":
            return b"I"
        if self.mode == "grid":
            return b"G" + np.float64(self.step).tobytes()
        assert self.table is not None
        gaps = np.diff(self.table)
        width = 1 if gaps.max(initial=0) < 1 << 8 else (2 if gaps.max() < 1 << 16 else 4)
        raw = _TABLE.pack(int(self.table[0]), width) + gaps.astype(f"<u{width}").tobytes()
        return b"Z" + zstandard.ZstdCompressor(level=19).compress(raw)

    @classmethod
    def from_bytes(cls, buf: memoryview) -> Alphabet:
        tag = bytes(buf[:1])
        if tag == b"I" and len(buf) == 1:
            return cls("identity")
        if tag == b"G" and len(buf) == 9:
            step = float(np.frombuffer(buf[1:9], dtype="<f8")[0])
            if not (np.isfinite(step) and step > 0):
                raise CorruptStreamError("alphabet grid step is not a positive number")
            return cls("grid", step=step)
        if tag == b"T" and len(buf) >= 9 and (len(buf) - 9) % 4 == 0:  # ratecraft 0.2
            first = array_from(buf[1:9], "<i8", 1, "alphabet table")
            gaps = array_from(buf[9:], "<u4", (len(buf) - 9) // 4, "alphabet table")
            table = np.concatenate([first, first[0] + np.cumsum(gaps, dtype=np.int64)])
            return cls("table", table=table)
        if tag == b"Z":
            return cls._table_from(buf[1:])
        raise CorruptStreamError("corrupt alphabet section")

    @classmethod
    def _table_from(cls, buf: memoryview) -> Alphabet:
        try:
            raw = zstandard.ZstdDecompressor().decompress(bytes(buf), max_output_size=1 << 26)
        except zstandard.ZstdError as exc:
            raise CorruptStreamError(f"corrupt alphabet section: {exc}") from None
        if len(raw) < _TABLE.size:
            raise CorruptStreamError("alphabet table is truncated")
        first, width = _TABLE.unpack(raw[: _TABLE.size])
        rest = len(raw) - _TABLE.size
        if width not in (1, 2, 4) or rest % width:
            raise CorruptStreamError("corrupt alphabet table")
        gaps = array_from(raw[_TABLE.size :], f"<u{width}", rest // width, "alphabet table")
        table = first + np.concatenate([[0], np.cumsum(gaps, dtype=np.int64)])
        if (gaps == 0).any() or max(abs(first), abs(int(table[-1]))) > MAX_ABS_INT:
            raise CorruptStreamError("alphabet table is not increasing or out of range")
        return cls("table", table=table)

    def restore(self, ints: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """Original samples from the integer codes."""
        if self.mode == "table":
            assert self.table is not None
            if ints.size and (ints.min() < 0 or ints.max() >= len(self.table)):
                raise CorruptStreamError("decoded symbol outside the alphabet table")
            return self.table[ints].astype(dtype)
        if self.mode == "grid":
            return (ints.astype(np.float64) * self.step).astype(dtype)
        return ints.astype(dtype)


def _integer_alphabet(x: np.ndarray) -> tuple[np.ndarray, Alphabet] | None:
    lo, hi = int(x.min()), int(x.max())
    if max(abs(lo), abs(hi)) > MAX_ABS_INT:
        return None
    span = hi - lo + 1
    if span > _MAX_BINCOUNT_RANGE:
        return x.astype(np.int64), Alphabet("identity")
    shifted = (x.astype(np.int64) - lo).ravel()
    occupied = np.bincount(shifted, minlength=span) > 0
    n_values = int(occupied.sum())
    # A table pays off when the values use a small fraction of their range.
    if n_values * 4 <= span and n_values > 1:
        rank = np.cumsum(occupied) - 1
        table = np.flatnonzero(occupied).astype(np.int64) + lo
        return rank[shifted].reshape(x.shape).astype(np.int64), Alphabet("table", table=table)
    return x.astype(np.int64), Alphabet("identity")


def _float_grid(x: np.ndarray, hint: float | None) -> tuple[np.ndarray, Alphabet] | None:
    if not np.isfinite(x).all():
        return None
    flat = x.ravel()
    candidates = []
    if hint:
        candidates.append(float(hint))
    probe = np.unique(flat[:_GRID_PROBE].astype(np.float64))
    # the grid shows best near zero, where float spacing is finest
    near_zero = np.sort(probe[np.argsort(np.abs(probe))[:256]])
    if near_zero.size > 1:
        smallest = float(np.diff(near_zero).min())
        candidates += [float(f"{smallest:.{d}g}") for d in (4, 6)] + [smallest]
    elif probe.size == 1:
        candidates.append(abs(float(probe[0])) or 1.0)
    for step in candidates:
        if not (np.isfinite(step) and step > 0):
            continue
        k = np.rint(flat.astype(np.float64) / step)
        if np.abs(k).max(initial=0) > MAX_ABS_INT:
            continue
        k = k.astype(np.int64)  # decode starts from integers, so check from them (-0.0 fails)
        back = (k.astype(np.float64) * step).astype(x.dtype)
        if np.array_equal(back.view(np.uint8), flat.view(np.uint8)):
            return k.reshape(x.shape), Alphabet("grid", step=step)
    return None


def integerize(x: np.ndarray, grid_hint: float | None = None) -> tuple[np.ndarray, Alphabet] | None:
    """Integers ``k`` and the :class:`Alphabet` that maps them back exactly, or None."""
    if x.size == 0:
        return x.astype(np.int64), Alphabet("identity")
    if x.dtype.kind in "iu":
        return _integer_alphabet(x)
    return _float_grid(x, grid_hint)
