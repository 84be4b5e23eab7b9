"""Integer coding tables (NumPy only): what every learned density becomes before coding.

Tables are one-byte count codes (:func:`~ratecraft.bitstream.ans.quantize_counts`), so encoder
and decoder build the very same integer models from them and never consult a float density.

- :class:`CountTables`: one table per channel over ``offset .. offset + n − 1`` plus an
  **escape** symbol; a value outside the support is coded as the escape and its exact int32 in
  a side section (nothing is clamped: out-of-support values cost bits, never error).
- :class:`ScaleTables`: zero-mean Gaussian tables of a unit step over a geometric scale grid,
  picked per element by its predicted scale (the hyperprior's conditional model).
- :class:`TokenTables`: one table per token stream over ``0 .. k − 1`` (VQ codebook indices).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from ratecraft.bitstream.ans import (
    GroupDecoder,
    SymbolModel,
    dequantize_counts,
    encode_groups,
    quantize_counts,
)
from ratecraft.bitstream.sections import array_from, pack_sections, unpack_sections
from ratecraft.errors import BadInputError, CorruptStreamError

__all__ = ["PRECISION", "CountTables", "ScaleTables", "TokenTables", "counts_from_probs"]

PRECISION = 1 << 16  # total count of a table before its one-byte quantization
_INT32 = 2**31 - 1
SCALE_MIN, SCALE_MAX, SCALE_LEVELS = 0.11, 64.0, 40
_TAIL = 1e-6


def counts_from_probs(probs: np.ndarray) -> list[int]:
    """One-byte count codes of a probability vector: every symbol keeps a nonzero count."""
    counts = np.maximum(1, np.rint(np.asarray(probs, np.float64) * PRECISION)).astype(np.int64)
    return [int(v) for v in quantize_counts(counts)]


def _check_codes(codes: list[list[int]], least: int, what: str) -> list[list[int]]:
    out = []
    for c in codes:
        c = [int(v) for v in c]
        if len(c) < least or any(not 0 <= v <= 255 for v in c):
            raise BadInputError(f"{what}: count codes must be bytes, at least {least} per table")
        out.append(c)
    return out


class CountTables:
    """Per-channel integer tables: ``offsets[c]`` and one-byte count codes (escape last)."""

    def __init__(self, offsets: list[int], codes: list[list[int]]) -> None:
        if len(offsets) != len(codes) or not offsets:
            raise BadInputError("entropy tables need one offset and one count table per channel")
        self.offsets = [int(o) for o in offsets]
        self.codes = _check_codes(codes, 2, "entropy tables")
        self.models = [SymbolModel(dequantize_counts(np.asarray(c))) for c in self.codes]
        if any(int(m.counts.min()) < 1 for m in self.models):
            raise BadInputError("entropy count tables must give every symbol a nonzero count")

    @property
    def channels(self) -> int:
        return len(self.offsets)

    def to_json(self) -> dict[str, Any]:
        return {"offsets": self.offsets, "codes": self.codes}

    @classmethod
    def from_json(cls, doc: Any) -> CountTables:
        try:
            return cls(list(doc["offsets"]), list(doc["codes"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInputError(f"malformed entropy tables ({exc})") from None

    @classmethod
    def concat(cls, parts: list[CountTables]) -> CountTables:
        return cls([o for t in parts for o in t.offsets], [c for t in parts for c in t.codes])

    def _symbols(self, values: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Per-channel symbols (escape = last) and the escaped raw values, channel-major."""
        symbols, escapes = [], []
        for c in range(self.channels):
            n = len(self.codes[c]) - 1
            s = values[:, c] - self.offsets[c]
            out = (s < 0) | (s >= n)
            symbols.append(np.where(out, n, s).astype(np.int64))
            escapes.append(values[out, c])
        return symbols, np.concatenate(escapes) if escapes else np.zeros(0, np.int64)

    def _checked(self, values: np.ndarray) -> np.ndarray:
        v = np.asarray(values)
        if v.ndim != 2 or v.shape[1] != self.channels or not np.issubdtype(v.dtype, np.integer):
            raise BadInputError(f"expected integer latents × {self.channels} channels")
        if v.size and np.abs(v).max() > _INT32:
            raise BadInputError("latent values beyond ±2^31 cannot be coded")
        return v.astype(np.int64)

    def estimated_bits(self, values: np.ndarray) -> float:
        """−Σ log2 p of integer latents (samples × channels), escapes at 32 bits more each."""
        symbols, escapes = self._symbols(self._checked(values))
        est = sum(m.estimated_bits(s) for s, m in zip(symbols, self.models, strict=True))
        return float(est + 32 * escapes.size)

    def compress(self, values: np.ndarray) -> tuple[bytes, float]:
        """Code integer latents (samples × channels); returns bytes and −Σlog2 p + escape bits."""
        symbols, escapes = self._symbols(self._checked(values))
        ans = encode_groups(list(zip(symbols, self.models, strict=True)))
        est = sum(m.estimated_bits(s) for s, m in zip(symbols, self.models, strict=True))
        raw = escapes.astype("<i4").tobytes()
        return pack_sections([ans, raw]), float(est + 32 * escapes.size)

    def decompress(self, payload: bytes | memoryview, n: int) -> np.ndarray:
        """Inverse of :meth:`compress` for ``n`` samples (int64, samples × channels)."""
        ans, raw = unpack_sections(payload, expect=2)
        if len(raw) % 4 or len(raw) // 4 > n * self.channels:
            raise CorruptStreamError("entropy payload declares an impossible number of escapes")
        escapes = array_from(raw, "<i4", len(raw) // 4, "escaped latents").astype(np.int64)
        dec = GroupDecoder(ans)
        out = np.empty((n, self.channels), dtype=np.int64)
        pos = 0
        for c, model in enumerate(self.models):
            sym = dec.take(n, model)
            esc = sym == len(self.codes[c]) - 1
            k = int(esc.sum())
            if pos + k > escapes.size:
                raise CorruptStreamError("entropy payload has fewer escaped values than escapes")
            col = sym + self.offsets[c]
            col[esc] = escapes[pos : pos + k]
            pos += k
            out[:, c] = col
        if pos != escapes.size:
            raise CorruptStreamError("entropy payload has more escaped values than escapes")
        return out


class ScaleTables:
    """Integer tables of a zero-mean unit-step Gaussian per scale level (escape symbol last)."""

    def __init__(self, scales: list[float], codes: list[list[int]]) -> None:
        if len(scales) != len(codes) or not scales:
            raise BadInputError("gaussian tables need one count table per scale")
        self.codes = _check_codes(codes, 4, "gaussian tables")
        if any(len(c) % 2 for c in self.codes):
            raise BadInputError("gaussian count codes must be an even number (≥ 4) of bytes")
        self.scales = np.asarray(scales, dtype=np.float64)
        if not (np.isfinite(self.scales).all() and (np.diff(self.scales) > 0).all()):
            raise BadInputError("gaussian table scales must be finite and increasing")
        self.models = [SymbolModel(dequantize_counts(np.asarray(c))) for c in self.codes]
        self.half = [(len(c) - 2) // 2 for c in self.codes]  # support −half .. half

    @classmethod
    def build(cls) -> ScaleTables:
        """The fixed grid: 40 scales from 0.11 to 64, support out to a 1e-6 two-sided tail."""
        scales = np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), SCALE_LEVELS))
        z = float(-ndtri(_TAIL / 2))
        codes = []
        for s in scales:
            half = max(1, math.ceil(z * s))
            k = np.arange(-half, half + 1, dtype=np.float64)
            pmf = ndtr((k + 0.5) / s) - ndtr((k - 0.5) / s)
            codes.append(counts_from_probs(np.append(pmf, max(0.0, 1.0 - pmf.sum()))))
        return cls(scales.tolist(), codes)

    def to_json(self) -> dict[str, Any]:
        return {"scales": self.scales.tolist(), "codes": self.codes}

    @classmethod
    def from_json(cls, doc: Any) -> ScaleTables:
        try:
            return cls(list(doc["scales"]), list(doc["codes"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInputError(f"malformed gaussian tables ({exc})") from None

    def index(self, scales: np.ndarray) -> np.ndarray:
        """Table index per element: the smallest grid scale ≥ the predicted scale."""
        idx = np.searchsorted(self.scales, np.asarray(scales, np.float64), side="left")
        return np.clip(idx, 0, len(self.scales) - 1).astype(np.int64)

    def compress(self, values: np.ndarray, index: np.ndarray) -> tuple[bytes, float]:
        """Code int values (flat) with their table indices; returns bytes and estimated bits."""
        v = np.asarray(values, np.int64).ravel()
        idx = np.asarray(index, np.int64).ravel()
        if v.size and np.abs(v).max() > _INT32:
            raise BadInputError("latent values beyond ±2^31 cannot be coded")
        order = np.argsort(idx, kind="stable")
        v, idx = v[order], idx[order]
        bounds = np.searchsorted(idx, np.arange(len(self.models) + 1))
        groups, escapes, est = [], [], 0.0
        for i, model in enumerate(self.models):
            part = v[bounds[i] : bounds[i + 1]]
            if not part.size:
                continue
            h = self.half[i]
            out = np.abs(part) > h
            sym = np.where(out, 2 * h + 1, part + h)
            escapes.append(part[out])
            groups.append((sym, model))
            est += model.estimated_bits(sym)
        esc = np.concatenate(escapes) if escapes else np.zeros(0, np.int64)
        raw = esc.astype("<i4").tobytes()
        return pack_sections([encode_groups(groups), raw]), float(est + 32 * esc.size)

    def decompress(self, payload: bytes | memoryview, index: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`compress` given the same indices (flat int64 out)."""
        idx = np.asarray(index, np.int64).ravel()
        ans, raw = unpack_sections(payload, expect=2)
        if len(raw) % 4 or len(raw) // 4 > idx.size:
            raise CorruptStreamError("gaussian payload declares an impossible number of escapes")
        escapes = array_from(raw, "<i4", len(raw) // 4, "escaped latents").astype(np.int64)
        order = np.argsort(idx, kind="stable")
        counts = np.bincount(idx, minlength=len(self.models))
        dec = GroupDecoder(ans)
        sorted_vals = np.empty(idx.size, np.int64)
        pos = esc_pos = 0
        for i, model in enumerate(self.models):
            n = int(counts[i])
            if not n:
                continue
            h = self.half[i]
            sym = dec.take(n, model)
            vals = sym - h
            out = sym == 2 * h + 1
            k = int(out.sum())
            if esc_pos + k > escapes.size:
                raise CorruptStreamError("gaussian payload has fewer escaped values than escapes")
            vals[out] = escapes[esc_pos : esc_pos + k]
            esc_pos += k
            sorted_vals[pos : pos + n] = vals
            pos += n
        if esc_pos != escapes.size:
            raise CorruptStreamError("gaussian payload has more escaped values than escapes")
        result = np.empty_like(sorted_vals)
        result[order] = sorted_vals
        return result


class TokenTables:
    """One table per token stream over ``0 .. k − 1`` (no escape: every code is codable)."""

    def __init__(self, codes: list[list[int]]) -> None:
        if not codes:
            raise BadInputError("token tables need at least one stream")
        self.codes = _check_codes(codes, 1, "token tables")
        self.models = [SymbolModel(dequantize_counts(np.asarray(c))) for c in self.codes]
        if any(int(m.counts.min()) < 1 for m in self.models):
            raise BadInputError("token tables must give every code a nonzero count")

    @classmethod
    def fit(cls, streams: list[np.ndarray], sizes: list[int]) -> TokenTables:
        """Tables from training tokens: histogram + 1, so every code stays codable."""
        codes = []
        for tok, k in zip(streams, sizes, strict=True):
            hist = np.bincount(np.asarray(tok, np.int64), minlength=k)[:k] + 1
            codes.append([int(v) for v in quantize_counts(hist)])
        return cls(codes)

    @property
    def sizes(self) -> list[int]:
        return [len(c) for c in self.codes]

    def _checked(self, streams: list[np.ndarray]) -> list[np.ndarray]:
        if len(streams) != len(self.models):
            raise BadInputError(f"expected {len(self.models)} token streams, got {len(streams)}")
        out = []
        for tok, k in zip(streams, self.sizes, strict=True):
            t = np.asarray(tok, np.int64)
            if t.size and (t.min() < 0 or t.max() >= k):
                raise BadInputError(f"token outside its codebook of {k}")
            out.append(t)
        return out

    def estimated_bits(self, streams: list[np.ndarray]) -> float:
        toks = self._checked(streams)
        return float(sum(m.estimated_bits(t) for t, m in zip(toks, self.models, strict=True)))

    def compress(self, streams: list[np.ndarray]) -> tuple[bytes, float]:
        toks = self._checked(streams)
        est = sum(m.estimated_bits(t) for t, m in zip(toks, self.models, strict=True))
        return encode_groups(list(zip(toks, self.models, strict=True))), float(est)

    def decompress(self, payload: bytes | memoryview, n: int) -> list[np.ndarray]:
        dec = GroupDecoder(payload)
        return [dec.take(n, m) for m in self.models]
