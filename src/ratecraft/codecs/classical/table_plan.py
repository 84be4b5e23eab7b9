"""The `columnar` encoder's choices: each column's representation, then each stream's parents.

1. :func:`plan_column` tries every representation :mod:`.table_columns` has for a column — a
   constant, a duplicate of an earlier column, the decimal integers (as they are or as
   differences), ranks in a value table, the byte planes and, under an error bound, the
   quantized grid — rebuilds the column from each to check it (bit-exact, or every value
   within the bound) and keeps the one with the fewest estimated bits (the streams' order-0
   adaptive code length plus the bytes of its record).
2. :func:`choose_parents` then picks, stream by stream, up to ``max_parents`` earlier streams
   to condition on, greedily, each parent's symbols bucketed to its top 1–8 bits, by the exact
   adaptive code length (:func:`ratecraft.entropy.context_coder.adaptive_bits`) — a
   Bayesian-network structure search with the marginal-likelihood score, as Squish does — and
   finally the prior weight ``W``. A parent is kept only when it saves more than its record.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ratecraft.bitstream.varint import Writer
from ratecraft.codecs.classical.table_columns import ColumnSpec, IntSequence, Stream
from ratecraft.data.columns import MAX_SCALE, decimal_scale
from ratecraft.entropy.context_coder import MAX_CONTEXTS, WEIGHTS, StreamModel, adaptive_bits

__all__ = ["StreamPlan", "choose_parents", "contexts_of", "plan_column"]

_PARENT_BITS = 16.0  # what one parent costs in the record (about two bytes)
_ROUND_CANDIDATES = 8  # parents tried again in rounds after the first
_BUCKET_BITS = (1, 2, 3, 4, 6, 8)
_MAX_SPAN = 1 << 62
_TABLE_SHARE = 2  # a value table only when at most half the rows hold distinct values
_SHRINK = 1.0 - 2.0**-16  # a float quantizer step shrinks by this when rounding breaks the bound
_TRIES = 4
_RECENT = 64  # streams just before a stream that it may condition on
_MAX_ULPS = 64  # a near-decimal is at most this many ulps off its decimal
_REFS = 3  # most correlated earlier columns tried as predictors


@dataclass
class StreamPlan:
    """How one stream is coded: prior weight and parents ``(stream index, bucket bits)``."""

    weight: int = 2
    parents: list[tuple[int, int]] = field(default_factory=list)


def _order0_bits(streams: list[Stream]) -> float:
    total = 0.0
    for s in streams:
        assert s.symbols is not None
        zeros = np.zeros(s.symbols.shape, dtype=np.int64)
        total += adaptive_bits(s.symbols, zeros, 1, s.alphabet, 2)
    return total


def _near_decimal(p: np.ndarray) -> tuple[int, np.ndarray, np.ndarray] | None:
    """Floats that are decimals give or take a few ulps (arithmetic on decimals): the fewest
    digits ``d`` with at least half the values exact and none more than :data:`_MAX_ULPS`
    off, the integers ``k`` and each value's offset in ulps from ``k / 10**d``."""
    if p.size == 0 or not np.isfinite(p).all():
        return None
    for d in range(MAX_SCALE + 1):
        k = _ints(p, d)
        if k is None:
            return None
        ulps = p.view(np.int64) - (k / 10.0**d).view(np.int64)
        if np.abs(ulps).max() <= _MAX_ULPS and 2 * np.count_nonzero(ulps) <= ulps.size:
            return d, k, ulps
    return None


def _with_symbols(
    spec: ColumnSpec, t: np.ndarray | None, planes: list[np.ndarray], ulps: np.ndarray | None = None
) -> list[Stream]:
    streams = spec.streams()
    values = planes if t is None else (spec.ints.digits(t) if spec.ints is not None else [])
    if spec.ulps is not None and ulps is not None:
        values = values + spec.ulps.digits(ulps)
    if spec.has_missing:
        assert spec.missing is not None
        streams[0].symbols = spec.missing.astype(np.int64)
        for s, v in zip(streams[1:], values, strict=True):
            s.symbols = v
    else:
        for s, v in zip(streams, values, strict=True):
            s.symbols = v
    return streams


def _bitwise(x: np.ndarray) -> np.ndarray:
    return x.view(f"u{x.dtype.itemsize}")


def _ints(p: np.ndarray, scale: int) -> np.ndarray | None:
    if p.dtype.kind in "iu":
        return p.astype(np.int64) if p.size == 0 or p.max() < _MAX_SPAN else None
    k = np.rint(p.astype(np.float64) * 10.0**scale)
    if k.size and np.abs(k).max() >= _MAX_SPAN:
        return None
    return k.astype(np.int64)


def _refs(p: np.ndarray, present: np.ndarray, earlier: list[np.ndarray]) -> list[int]:
    """Earlier columns that may predict this one: present wherever it is, most correlated
    first (at most :data:`_REFS`), and the column just before it."""
    if p.size < 2 or not np.isfinite(p).all():
        return []
    scored = []
    for i, col in enumerate(earlier):
        r = col[present].astype(np.float64)
        if not np.isfinite(r).all() or np.ptp(r) == 0:
            continue
        c = np.corrcoef(r, p.astype(np.float64))[0, 1]
        scored.append((-abs(c) if np.isfinite(c) else 0.0, i))
    best = [i for _, i in sorted(scored)[:_REFS]]
    last = len(earlier) - 1
    ok = {i for _, i in scored}
    return best + ([last] if last in ok and last not in best else [])


def _slopes(p: np.ndarray, r: np.ndarray) -> list[float]:
    """1 (a difference) and the least-squares slope of ``p`` on ``r`` (centred)."""
    rc = r - r.mean()
    var = float(rc @ rc)
    if var <= 0:
        return [1.0]
    slope = float(np.float32(float(rc @ (p - p.mean())) / var))
    return [1.0] if not np.isfinite(slope) or slope in (0.0, 1.0) else [1.0, slope]


def _candidates(
    x: np.ndarray, bound: float, earlier: list[np.ndarray]
) -> list[tuple[ColumnSpec, list[Stream]]]:
    n, dtype = x.size, x.dtype
    missing = np.isnan(x) if dtype.kind == "f" else np.zeros(n, dtype=bool)
    has_missing = bool(missing.any())
    present = ~missing
    p = x[present]
    out: list[tuple[ColumnSpec, list[Stream]]] = []

    def spec_of(mapping: str, **kw: Any) -> ColumnSpec:
        return ColumnSpec(
            "values", n, dtype, missing=missing, has_missing=has_missing, mapping=mapping, **kw
        )

    def add(
        spec: ColumnSpec, t: np.ndarray, deltas: tuple[bool, ...], ulps: np.ndarray | None = None
    ) -> None:
        if t.size == 0:
            return
        for delta in deltas:
            s = dataclasses.replace(spec, ints=IntSequence.of(t, delta))
            assert s.ints is not None
            if s.ints.span <= _MAX_SPAN:
                out.append((s, _with_symbols(s, t, [], ulps)))

    refs = _refs(p, present, earlier)
    predicted = [(-1, 1.0)] + [
        (i, a) for i in refs for a in _slopes(p.astype(np.float64), earlier[i][present])
    ]
    scale = 0 if dtype.kind in "iu" else decimal_scale(p)
    k = _ints(p, scale) if scale is not None else None
    if k is not None:
        for ref, slope in predicted:
            spec = spec_of("decimal", scale=scale, ref=ref, slope=slope)
            pred = spec.prediction(earlier, present)
            add(spec, k if pred is None else k - pred, (False, True))
    near = _near_decimal(p) if scale is None and dtype == np.float64 else None
    if near is not None:
        d, k_near, ulps = near
        seq = IntSequence.of(ulps, False)
        for ref, slope in predicted:
            spec = spec_of("decimal", scale=d, ref=ref, slope=slope, ulps=seq)
            pred = spec.prediction(earlier, present)
            add(spec, k_near if pred is None else k_near - pred, (False, True), ulps)
    uniq = np.unique(p)
    if 0 < uniq.size <= max(2, n // _TABLE_SHARE):
        rank = np.searchsorted(uniq, p)
        if np.array_equal(_bitwise(uniq[rank]), _bitwise(p)):  # e.g. -0.0 beside 0.0 is not
            add(spec_of("table", table=uniq), rank.astype(np.int64), (False,))
    planes = p.view(np.uint8).reshape(-1, dtype.itemsize)[:, ::-1].astype(np.int64).T
    lows = [int(b.min()) if b.size else 0 for b in planes]
    spans = [(int(b.max()) if b.size else 0) - lo + 1 for b, lo in zip(planes, lows, strict=True)]
    spec = ColumnSpec(
        "bytes", n, dtype, missing=missing, has_missing=has_missing,
        planes=list(zip(lows, spans, strict=True)),
    )  # fmt: skip
    out.append(
        (spec, _with_symbols(spec, None, [b - lo for b, lo in zip(planes, lows, strict=True)]))
    )
    if bound > 0 and p.size and np.isfinite(p).all():
        if k is not None and scale is not None:
            factor = 2 * int(np.floor(bound * 10.0**scale)) + 1
            if factor > 1:
                for ref, slope in predicted:
                    spec = spec_of("grid", scale=scale, factor=factor, ref=ref, slope=slope)
                    pred = spec.prediction(earlier, present)
                    r = k if pred is None else k - pred
                    add(spec, (r + factor // 2) // factor, (False, True))
        else:
            for ref, slope in predicted:
                step = 2.0 * bound
                pred = spec_of("float", ref=ref, slope=slope).prediction(earlier, present)
                r = p.astype(np.float64) if pred is None else p - pred
                origin = float(r.min())
                for _ in range(_TRIES):
                    spec = spec_of("float", origin=origin, step=step, ref=ref, slope=slope)
                    add(spec, np.rint((r - origin) / step).astype(np.int64), (False, True))
                    step *= _SHRINK
    return out


def _holds(
    spec: ColumnSpec, streams: list[Stream], x: np.ndarray, bound: float, earlier: list[np.ndarray]
) -> bool:
    """Whether the decoder's rebuild of the column is bit-exact (or within ``bound``)."""
    y = spec.rebuild([s.symbols for s in streams if s.symbols is not None], earlier)
    if y.dtype != x.dtype or y.shape != x.shape:
        return False
    if np.array_equal(_bitwise(y), _bitwise(x)):
        return True
    if bound <= 0 or spec.kind != "values" or spec.mapping not in ("grid", "float"):
        return False
    present = ~np.isnan(x) if x.dtype.kind == "f" else np.ones(x.size, dtype=bool)
    if not np.array_equal(present, ~np.isnan(y) if y.dtype.kind == "f" else present):
        return False
    err = np.abs(y[present].astype(np.float64) - x[present].astype(np.float64))
    return bool((err <= bound).all())


def plan_column(
    x: np.ndarray, bound: float, earlier: list[np.ndarray]
) -> tuple[ColumnSpec, list[Stream], float]:
    """The cheapest representation of column ``x`` (see the module doc): its spec, its streams
    (with symbols) and its estimated bits."""
    n, dtype = x.size, x.dtype
    bits = _bitwise(x)
    if n == 0 or (bits == bits[0]).all():
        value = x[:1].tobytes() if n else np.zeros(1, dtype).tobytes()
        return ColumnSpec("const", n, dtype, value=value), [], 8.0 * len(value)
    for i, y in enumerate(earlier):
        if y.dtype == dtype and np.array_equal(_bitwise(y), bits):
            return ColumnSpec("dup", n, dtype, source=i), [], 16.0
    best: tuple[ColumnSpec, list[Stream], float] | None = None
    for spec, streams in _candidates(x, bound, earlier):
        w = Writer()
        spec.write(w)
        cost = _order0_bits(streams) + 8.0 * len(w.getvalue())
        if (best is None or cost < best[2]) and _holds(spec, streams, x, bound, earlier):
            best = (spec, streams, cost)
    assert best is not None  # the byte planes always hold
    return best


def _bucket(full: np.ndarray, alphabet: int, bits: int) -> tuple[np.ndarray, int]:
    shift = max(0, (alphabet - 1).bit_length() - bits)
    return full >> shift, ((alphabet - 1) >> shift) + 1


def contexts_of(
    plan: StreamPlan, rows: np.ndarray | None, fulls: list[np.ndarray], alphabets: list[int], n: int
) -> tuple[np.ndarray, int]:
    """Context ids (one per row the stream codes) from its parents' full-length symbols."""
    size = n if rows is None else rows.size
    ctx = np.zeros(size, dtype=np.int64)
    count = 1
    for index, bits in plan.parents:
        full = fulls[index] if rows is None else fulls[index][rows]
        b, nb = _bucket(full, alphabets[index], bits)
        ctx = ctx * nb + b
        count *= nb
    return ctx, count


def choose_parents(
    streams: list[Stream], n: int, max_parents: int
) -> tuple[list[StreamPlan], list[StreamModel], float]:
    """Each stream's parents and prior (see the module doc), the models they make and the
    estimated bits of all streams under them."""
    fulls: list[np.ndarray] = []
    alphabets = [s.alphabet for s in streams]
    plans: list[StreamPlan] = []
    models: list[StreamModel] = []
    total = 0.0
    for t, s in enumerate(streams):
        assert s.symbols is not None
        full = np.zeros(n, dtype=np.int64)
        full[slice(None) if s.rows is None else s.rows] = s.symbols
        plan = StreamPlan()
        if s.alphabet > 1 and s.symbols.size:
            plan = _search(s, t, fulls, alphabets, n, max_parents)
        ctx, count = contexts_of(plan, s.rows, fulls, alphabets, n)
        bits = adaptive_bits(s.symbols, ctx, count, s.alphabet, plan.weight)
        total += bits + _PARENT_BITS * len(plan.parents) + 8.0
        plans.append(plan)
        models.append(StreamModel(s.alphabet, plan.weight, ctx, count))
        fulls.append(full)
    return plans, models, total


def _search(
    s: Stream, t: int, fulls: list[np.ndarray], alphabets: list[int], n: int, max_parents: int
) -> StreamPlan:
    assert s.symbols is not None
    sym, alphabet = s.symbols, s.alphabet
    limit = min(MAX_CONTEXTS, max(1, sym.size))
    ctx = np.zeros(sym.size, dtype=np.int64)
    count = 1
    best = adaptive_bits(sym, ctx, count, alphabet, 2)
    parents: list[tuple[int, int]] = []
    candidates = [i for i in range(max(0, t - _RECENT), t) if alphabets[i] > 1]
    views = {}
    for round_ in range(max_parents):
        scored: list[tuple[float, int, int]] = []
        for i in candidates:
            if any(i == p for p, _ in parents):
                continue
            if i not in views:
                views[i] = fulls[i] if s.rows is None else fulls[i][s.rows]
            top = (alphabets[i] - 1).bit_length()
            for bits in sorted({min(b, top) for b in _BUCKET_BITS}):
                b, nb = _bucket(views[i], alphabets[i], bits)
                if count * nb > limit:
                    break
                score = adaptive_bits(sym, ctx * nb + b, count * nb, alphabet, 2)
                scored.append((score, i, bits))
        if not scored:
            break
        scored.sort()
        score, i, bits = scored[0]
        if score + _PARENT_BITS >= best:
            break
        best = score
        parents.append((i, bits))
        b, nb = _bucket(views[i], alphabets[i], bits)
        ctx, count = ctx * nb + b, count * nb
        if round_ == 0:
            candidates = list(dict.fromkeys(j for _, j, _ in scored))[:_ROUND_CANDIDATES]
    weight = min(WEIGHTS, key=lambda w: adaptive_bits(sym, ctx, count, alphabet, w))
    return StreamPlan(weight, parents)
