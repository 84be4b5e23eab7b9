"""How one table column becomes integer symbol streams and back (the `columnar` codec's columns).

Every column is coded as what it is (:mod:`ratecraft.data.columns`):

* ``const`` — one value (its bytes), no symbols; ``dup`` — bit-identical to an earlier column;
* ``values`` — a missing-value flag stream (when any value is missing) and the present values
  as integers ``t``: a decimal's ``k`` of ``k / 10**d`` (an integer column has ``d = 0``), a rank
  in a sorted table of the distinct values, or, under an error bound, a quantized value (``q·m``
  units of ``10**-d`` on a decimal grid, ``origin + q·step`` for other floats). ``t`` is coded
  as is or as differences from the previous row (whichever is cheaper), offset to start at 0
  and split into base-256 digits (top digit first), so no stream's alphabet exceeds 256;
* ``bytes`` — any other float: its byte planes, most significant first.

A :class:`ColumnSpec` is what the decoder needs besides the symbols; the encoder builds the spec,
writes it, and calls the same :meth:`ColumnSpec.rebuild` on its own symbols to check the result
(bit-exact, or within the bound) before it commits to a representation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import zstandard

from ratecraft.bitstream.varint import Reader, Writer
from ratecraft.data.columns import decimal_scale
from ratecraft.errors import CorruptStreamError

__all__ = ["ColumnSpec", "IntSequence", "Stream", "read_spec"]

KINDS = ("const", "dup", "values", "bytes")
MAPS = ("decimal", "table", "grid", "float")
_MAX_RANGE = 1 << 62
_MAX_TABLE = 1 << 24
_MAX_SCALE = 18


@dataclass
class Stream:
    """One symbol stream: ``symbols`` (in ``0..alphabet-1``) on ``rows`` (None: every row)."""

    alphabet: int
    rows: np.ndarray | None
    symbols: np.ndarray | None = None  # None until coded / decoded


@dataclass
class IntSequence:
    """Integers ``t`` as digit symbols: ``t[0]`` then differences (``delta``) or ``t`` itself,
    offset by ``lo`` into ``0..span-1``."""

    delta: bool
    lo: int
    span: int
    first: int = 0

    @classmethod
    def of(cls, t: np.ndarray, delta: bool) -> IntSequence:
        u = np.diff(t, prepend=t[:1]) if delta else t
        lo = int(u.min()) if u.size else 0
        return cls(delta, lo, int(u.max()) - lo + 1 if u.size else 1, int(t[0]) if delta else 0)

    def low_digits(self) -> int:
        return max(0, math.ceil(((self.span - 1).bit_length() - 8) / 8))

    def alphabets(self) -> list[int]:
        m = self.low_digits()
        return [((self.span - 1) >> (8 * m)) + 1] + [256] * m

    def digits(self, t: np.ndarray) -> list[np.ndarray]:
        u = np.diff(t, prepend=t[:1]) if self.delta else t
        v = u - self.lo
        m = self.low_digits()
        return [v >> (8 * m)] + [(v >> (8 * i)) & 255 for i in range(m - 1, -1, -1)]

    def join(self, digits: list[np.ndarray]) -> np.ndarray:
        v = np.zeros(digits[0].shape, dtype=np.int64)
        for d in digits:
            v = (v << 8) | d
        u = v + self.lo
        if not self.delta:
            return u
        u[:1] = 0
        return self.first + np.cumsum(u)

    def write(self, w: Writer) -> None:
        w.uint(int(self.delta))
        w.sint(self.lo)
        w.uint(self.span)
        if self.delta:
            w.sint(self.first)

    @classmethod
    def read(cls, r: Reader) -> IntSequence:
        delta = bool(r.uint(1))
        lo = r.sint(_MAX_RANGE)
        span = r.uint(_MAX_RANGE)
        if span < 1:
            raise CorruptStreamError("empty integer range")
        return cls(delta, lo, span, r.sint(_MAX_RANGE) if delta else 0)


def _pack_table(values: np.ndarray) -> bytes:
    """A sorted value table: integer steps behind a decimal scale when it has one, else the
    byte-shuffled values; zstd either way."""
    w = Writer()
    d = decimal_scale(values) if values.dtype.kind == "f" else 0
    if d is not None:
        k = np.rint(values.astype(np.float64) * 10.0**d).astype(np.int64)
        w.uint(d + 1)
        w.sint(int(k[0]))
        for g in np.diff(k):
            w.uint(int(g))
    else:
        w.uint(0)
        w.raw(values.view(np.uint8).reshape(-1, values.itemsize).T.tobytes())
    return zstandard.ZstdCompressor(level=19, write_checksum=False).compress(w.getvalue())


def _unpack_table(buf: memoryview, count: int, dtype: np.dtype) -> np.ndarray:
    try:
        raw = zstandard.ZstdDecompressor().decompress(bytes(buf), max_output_size=count * 10 + 16)
    except zstandard.ZstdError as exc:
        raise CorruptStreamError(f"corrupt value table: {exc}") from None
    r = Reader(raw)
    d = r.uint(_MAX_SCALE + 1) - 1
    if d >= 0:
        k = np.empty(count, dtype=np.int64)
        k[0] = r.sint(_MAX_RANGE)
        for i in range(1, count):
            k[i] = k[i - 1] + r.uint(_MAX_RANGE)
        out = (k / 10.0**d).astype(dtype) if dtype.kind == "f" else k.astype(dtype)
    else:
        planes = np.frombuffer(r.raw(count * dtype.itemsize), dtype=np.uint8)
        out = planes.reshape(dtype.itemsize, count).T.copy().view(dtype).ravel()
    if not r.done():
        raise CorruptStreamError("value table has trailing bytes")
    return out


@dataclass
class ColumnSpec:
    """What decodes one column besides its symbols (see the module doc)."""

    kind: str
    n: int
    dtype: np.dtype
    missing: np.ndarray | None = None  # bool mask; decoder: from the flag stream
    has_missing: bool = False
    value: bytes = b""  # const
    source: int = 0  # dup
    mapping: str = "decimal"  # values: decimal | table | grid | float
    scale: int = 0
    factor: int = 1  # grid: step in units of 10**-scale
    origin: float = 0.0  # float: origin and step
    step: float = 1.0
    table: np.ndarray | None = None
    ints: IntSequence | None = None
    ulps: IntSequence | None = None  # decimal: each value's distance from k / 10**d in ulps
    ref: int = -1  # values: the earlier column that predicts this one (-1: none)
    slope: float = 1.0  # the prediction is slope × the reference (on this column's grid)
    planes: list[tuple[int, int]] = field(default_factory=list)  # bytes: (lo, alphabet)

    # ---- streams ----------------------------------------------------------------------------
    def streams(self) -> list[Stream]:
        """The symbol streams of this column, in coding order."""
        out: list[Stream] = []
        if self.kind in ("const", "dup"):
            return out
        if self.has_missing:
            out.append(Stream(2, None))
        rows = None if self.missing is None else np.flatnonzero(~self.missing)
        if self.kind == "bytes":
            return out + [Stream(a, rows) for _, a in self.planes]
        assert self.ints is not None
        extra = self.ulps.alphabets() if self.ulps is not None else []
        return out + [Stream(a, rows) for a in self.ints.alphabets() + extra]

    def stream_count(self) -> int:
        """How many streams :meth:`streams` gives (known before the missing flags are)."""
        if self.kind in ("const", "dup"):
            return 0
        if self.kind == "bytes":
            return len(self.planes) + int(self.has_missing)
        assert self.ints is not None
        extra = len(self.ulps.alphabets()) if self.ulps is not None else 0
        return len(self.ints.alphabets()) + extra + int(self.has_missing)

    def set_missing(self, flags: np.ndarray) -> None:
        """The decoder learned the missing-value flags (the first stream)."""
        self.missing = flags.astype(bool)

    # ---- rebuild ----------------------------------------------------------------------------
    def rebuild(self, symbols: list[np.ndarray], columns: list[np.ndarray]) -> np.ndarray:
        """The column from its streams' symbols (``columns``: the ones rebuilt before)."""
        if self.kind == "const":
            return np.full(self.n, np.frombuffer(self.value, dtype=self.dtype)[0])
        if self.kind == "dup":
            return columns[self.source].copy()
        out = np.full(self.n, np.nan if self.dtype.kind == "f" else 0, dtype=self.dtype)
        present = slice(None) if self.missing is None else ~self.missing
        digits = symbols[1:] if self.has_missing else symbols
        if self.kind == "bytes":
            planes = [d + lo for d, (lo, _) in zip(digits, self.planes, strict=True)]
            raw = np.stack(planes[::-1], axis=1).astype(np.uint8)
            out[present] = raw.view(self.dtype).ravel()
            return out
        assert self.ints is not None
        main = len(self.ints.alphabets())
        t = self.ints.join(digits[:main])
        values = self._values(t, self.prediction(columns, present))
        if self.ulps is not None:
            bits = values.view(np.int64) + self.ulps.join(digits[main:])
            values = bits.view(np.float64)
        out[present] = values
        return out

    def prediction(
        self, columns: list[np.ndarray], present: slice | np.ndarray
    ) -> np.ndarray | None:
        """The reference column's prediction of the present values: integers on this
        column's decimal grid, or floats (None: no reference)."""
        if self.ref < 0:
            return None
        if self.ref >= len(columns):
            raise CorruptStreamError("column predicted from a later column")
        r = columns[self.ref][present].astype(np.float64)
        if self.mapping == "float":
            pred = self.slope * r
        else:
            pred = np.rint(self.slope * (r * 10.0**self.scale))
        if pred.size and not (np.isfinite(pred).all() and np.abs(pred).max() < _MAX_RANGE):
            raise CorruptStreamError("column prediction out of range")
        return pred if self.mapping == "float" else pred.astype(np.int64)

    def _values(self, t: np.ndarray, pred: np.ndarray | None) -> np.ndarray:
        kind_f = self.dtype.kind == "f"
        unit = 10.0**self.scale
        if self.mapping == "table":
            assert self.table is not None
            if t.size and (t.min() < 0 or t.max() >= self.table.size):
                raise CorruptStreamError("decoded rank outside the value table")
            return self.table[t]
        if self.mapping == "float":
            base = self.origin if pred is None else pred + self.origin
            return (base + t * self.step).astype(self.dtype)
        k = t if self.mapping == "decimal" else t * self.factor
        if pred is not None:
            k = k + pred
        return (k / unit).astype(self.dtype) if kind_f else k.astype(self.dtype)

    # ---- records ----------------------------------------------------------------------------
    def write(self, w: Writer) -> None:
        w.uint(KINDS.index(self.kind) | (int(self.has_missing) << 3))
        if self.kind == "const":
            w.raw(self.value)
        elif self.kind == "dup":
            w.uint(self.source)
        elif self.kind == "bytes":
            for lo, a in self.planes:
                w.uint(lo)
                w.uint(a - 1)
        else:
            assert self.ints is not None
            w.uint(MAPS.index(self.mapping))
            if self.mapping in ("decimal", "grid"):
                w.uint(self.scale)
            if self.mapping == "grid":
                w.uint(self.factor)
            if self.mapping == "float":
                w.raw(np.float64(self.origin).tobytes() + np.float64(self.step).tobytes())
            if self.mapping == "table":
                assert self.table is not None
                w.uint(self.table.size)
                w.blob(_pack_table(self.table))
            else:
                w.uint(self.ref + 1)
                if self.ref >= 0:
                    w.raw(np.float64(self.slope).tobytes())
            self.ints.write(w)
            if self.mapping == "decimal":
                w.uint(int(self.ulps is not None))
                if self.ulps is not None:
                    self.ulps.write(w)


def read_spec(r: Reader, n: int, dtype: np.dtype, index: int) -> ColumnSpec:
    """The spec :meth:`ColumnSpec.write` wrote for column ``index`` of ``n`` rows."""
    head = r.uint(15)
    if head & 7 >= len(KINDS):
        raise CorruptStreamError(f"unknown column kind {head & 7}")
    spec = ColumnSpec(KINDS[head & 7], n, dtype, has_missing=bool(head >> 3))
    if spec.has_missing and dtype.kind != "f":
        raise CorruptStreamError("missing values in an integer column")
    if spec.kind == "const":
        spec.value = bytes(r.raw(dtype.itemsize))
    elif spec.kind == "dup":
        spec.source = r.uint()
        if spec.source >= index:
            raise CorruptStreamError("column duplicates a later column")
    elif spec.kind == "bytes":
        for _ in range(dtype.itemsize):
            lo, a = r.uint(255), r.uint(255) + 1
            if lo + a > 256:
                raise CorruptStreamError("byte plane range exceeds a byte")
            spec.planes.append((lo, a))
    else:
        spec.mapping = MAPS[r.uint(len(MAPS) - 1)]
        if spec.mapping in ("decimal", "grid"):
            spec.scale = r.uint(_MAX_SCALE)
        if spec.mapping == "grid":
            spec.factor = r.uint(_MAX_RANGE)
        if spec.mapping == "float":
            origin, step = np.frombuffer(r.raw(16), dtype="<f8")
            if not (np.isfinite(origin) and np.isfinite(step) and step > 0):
                raise CorruptStreamError("bad quantizer origin or step")
            spec.origin, spec.step = float(origin), float(step)
        if spec.mapping == "table":
            count = r.uint(min(n, _MAX_TABLE))
            if count < 1:
                raise CorruptStreamError("empty value table")
            spec.table = _unpack_table(r.blob(1 << 30), count, dtype)
        else:
            spec.ref = r.uint(index) - 1
            if spec.ref >= 0:
                slope = float(np.frombuffer(r.raw(8), dtype="<f8")[0])
                if not np.isfinite(slope):
                    raise CorruptStreamError("column prediction slope is not finite")
                spec.slope = slope
        spec.ints = IntSequence.read(r)
        if spec.mapping == "decimal" and r.uint(1):
            if dtype != np.float64:
                raise CorruptStreamError("ulp corrections of a column that is not float64")
            spec.ulps = IntSequence.read(r)
    return spec
