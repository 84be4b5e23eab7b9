"""Entropy coding with constriction's ANS coder and integer, stream-stored symbol models.

A model is a table of integer counts over the alphabet ``0..n-1``. Counts travel in the stream
in a compact log-scale code (one byte each, see :func:`quantize_counts`), and the coder is built
from the decoded integer counts on both sides, so the decoder's probabilities are exactly the
encoder's on every platform.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from constriction import stream

from ratecraft.errors import CorruptStreamError

_COUNT_SCALE_BITS = 18
MAX_ALPHABET = 1 << 22


def _code_values() -> np.ndarray:
    """Integer value of each one-byte count code: exact below 32, 4-bit mantissa above."""
    codes = np.arange(256, dtype=np.int64)
    exp = codes // 16 - 1
    mant = codes % 16
    vals = np.where(codes < 32, codes, (16 + mant) << np.maximum(exp, 0))
    return vals.astype(np.int64)


CODE_VALUES = _code_values()


def quantize_counts(counts: np.ndarray) -> np.ndarray:
    """Map histogram counts to one-byte codes; nonzero counts stay nonzero."""
    counts = np.asarray(counts, dtype=np.int64)
    top = int(counts.max()) if counts.size else 0
    if top == 0:
        return np.zeros(counts.shape, dtype=np.uint8)
    limit = 1 << _COUNT_SCALE_BITS
    scaled = counts if top <= limit else -((-counts * limit) // top)  # ceil keeps nonzero
    idx = np.searchsorted(CODE_VALUES, scaled)  # first code with value >= scaled
    idx = np.clip(idx, 0, 255)
    lower = np.clip(idx - 1, 0, 255)
    # pick the nearer of the two neighbouring codes on a log scale, never zero for nonzero counts
    use_lower = (
        (lower != idx)
        & (CODE_VALUES[lower] > 0)
        & (scaled * scaled < CODE_VALUES[lower] * CODE_VALUES[idx])
    )
    out = np.where(use_lower, lower, idx)
    return out.astype(np.uint8)


def dequantize_counts(codes: np.ndarray) -> np.ndarray:
    """Integer counts for one-byte codes."""
    return CODE_VALUES[np.asarray(codes, dtype=np.int64)]


@dataclass(frozen=True)
class SymbolModel:
    """A categorical model over ``0..len(counts)-1`` built from integer counts."""

    counts: np.ndarray

    @property
    def trivial(self) -> bool:
        """A one-symbol alphabet: its symbols cost nothing and are not coded."""
        return len(self.counts) == 1

    def coder_model(self) -> stream.model.Categorical:
        probs = self.counts.astype(np.float64)
        if probs.sum() <= 0:
            raise CorruptStreamError("entropy model has no mass")
        return stream.model.Categorical(probs, perfect=False)

    def estimated_bits(self, symbols: np.ndarray) -> float:
        """−Σ log2 p(symbol) under this model (the rate the coder should approach)."""
        if symbols.size == 0:
            return 0.0
        return self.histogram_bits(np.bincount(symbols, minlength=len(self.counts)))

    def histogram_bits(self, hist: np.ndarray) -> float:
        """:meth:`estimated_bits` of symbols whose histogram is ``hist``."""
        p = self.counts.astype(np.float64) / float(self.counts.sum())
        nz = hist > 0
        with np.errstate(divide="ignore"):
            return float(-(hist[nz] * np.log2(np.maximum(p[nz], 2.0**-24))).sum())


_UNIFORM_MAX_BITS = 24  # constriction's Uniform model holds at most 2^24 symbols


def _pieces(bits: int) -> list[tuple[int, int]]:
    """(offset, width) of the ≤ 24-bit pieces a wide uniform group is coded in, low first."""
    return [(o, min(_UNIFORM_MAX_BITS, bits - o)) for o in range(0, bits, _UNIFORM_MAX_BITS)]


@dataclass(frozen=True)
class UniformModel:
    """Equiprobable ``bits``-bit symbols: the low bits of very wide values (coded in pieces of
    at most 24 bits, the widest uniform model the ANS coder takes)."""

    bits: int
    trivial = False

    def coder_model(self) -> stream.model.Uniform:
        return stream.model.Uniform(1 << self.bits)

    def estimated_bits(self, symbols: np.ndarray) -> float:
        return float(self.bits * symbols.size)


Model = SymbolModel | UniformModel


def fit_model(symbols: np.ndarray, alphabet: int) -> SymbolModel:
    """The stream-storable model of ``symbols``: their histogram after count quantization."""
    return fit_model_and_bits(symbols, alphabet)[0]


def fit_model_and_bits(symbols: np.ndarray, alphabet: int) -> tuple[SymbolModel, float]:
    """:func:`fit_model` and the estimated bits of ``symbols`` under it, from one histogram."""
    hist = np.bincount(symbols, minlength=alphabet)
    model = SymbolModel(dequantize_counts(quantize_counts(hist)))
    return model, model.histogram_bits(hist) if symbols.size else 0.0


def encode_groups(groups: Sequence[tuple[np.ndarray, Model]]) -> bytes:
    """Code several symbol arrays, each with its own model, into one ANS stream."""
    coder = stream.stack.AnsCoder()
    flat: list[tuple[np.ndarray, Model]] = []
    for symbols, model in groups:
        if isinstance(model, UniformModel) and model.bits > _UNIFORM_MAX_BITS:
            wide = np.asarray(symbols, dtype=np.int64)
            flat += [
                ((wide >> o) & ((1 << w) - 1), UniformModel(w)) for o, w in _pieces(model.bits)
            ]
        else:
            flat.append((symbols, model))
    for symbols, model in reversed(flat):  # a stack: last in, first out
        if symbols.size and not model.trivial:
            coder.encode_reverse(np.ascontiguousarray(symbols, dtype=np.int32), model.coder_model())
    return bytes(coder.get_compressed().tobytes())


class GroupDecoder:
    """Pops symbol groups off an ANS stream in the order :func:`encode_groups` was given them."""

    def __init__(self, buf: bytes | memoryview) -> None:
        if len(buf) % 4:
            raise CorruptStreamError("ANS stream length is not a multiple of 4 bytes")
        self._coder = stream.stack.AnsCoder(np.frombuffer(buf, dtype="<u4").astype(np.uint32))

    def take(self, n: int, model: Model) -> np.ndarray:
        if not n or model.trivial:
            return np.zeros(int(n), dtype=np.int64)
        if isinstance(model, UniformModel) and model.bits > _UNIFORM_MAX_BITS:
            out = np.zeros(int(n), dtype=np.int64)
            for o, w in _pieces(model.bits):
                out |= self.take(n, UniformModel(w)) << o
            return out
        try:
            return np.asarray(self._coder.decode(model.coder_model(), int(n)), dtype=np.int64)
        except BaseException as exc:  # constriction raises on exhausted or invalid data
            raise CorruptStreamError(f"ANS stream is corrupt: {exc}") from None


def decode_groups(buf: bytes | memoryview, groups: list[tuple[int, Model]]) -> list[np.ndarray]:
    """Inverse of :func:`encode_groups` given each group's length and model."""
    dec = GroupDecoder(buf)
    return [dec.take(n, model) for n, model in groups]
