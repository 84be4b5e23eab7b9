"""Adaptive conditional coding of integer streams (table columns given their parents).

A *stream* is a sequence of symbols in ``0..A-1`` (``A ≤ MAX_ALPHABET``), each with a context id
(from the symbols of other, already decoded streams of the same row: its parents, as a
Bayesian network over the columns does in Squish). The model adapts to what it has coded: the
probability of symbol ``s`` in context ``c`` is ``(W·n[c, s] + 1) / (W·n[c] + A)``, where ``n``
counts the symbols coded so far in that context and ``1/W`` is the Dirichlet prior (W = 2 is the
Krichevsky–Trofimov estimator). Nothing about the model travels in the stream but ``W`` and the
parents: a 150-row table pays for no count tables.

The counts move between blocks of rows that grow geometrically (:func:`block_bounds`: 16 rows at
first, then a quarter of the rows before), so encoder and decoder make one call to
constriction's range coder per block — not one per symbol — with the block's probability matrix,
and pay little more than a per-symbol adaptive model would. Probabilities are integer counts
divided once in float64 (IEEE division is exact-rounded), the same on every platform.

:func:`adaptive_bits` is the exact code length of the per-symbol adaptive model (the
Dirichlet-multinomial marginal likelihood, the score Bayesian-network structure search uses):
it prices a context's model cost along with its fit, so choosing parents by it does not
overfit a small table.

Why partly hand-written: constriction codes with whatever probabilities it is handed but has no
adaptive context models; this module builds the per-block probabilities and leaves the coding to
constriction.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from constriction import stream
from scipy.special import gammaln

from ratecraft.errors import CorruptStreamError

__all__ = [
    "MAX_ALPHABET",
    "MAX_CONTEXTS",
    "WEIGHTS",
    "StreamModel",
    "adaptive_bits",
    "block_bounds",
    "decode_streams",
    "encode_streams",
]

MAX_ALPHABET = 256
MAX_CONTEXTS = 4096
WEIGHTS = (1, 2, 4, 8, 16, 32)  # the priors 1/W a stream may use
_FIRST_BLOCK = 16
_GROWTH = 4  # each later block holds a quarter of the rows before it
_LN2 = float(np.log(2.0))


@dataclass(frozen=True)
class StreamModel:
    """How one stream is coded: its alphabet, prior weight and context ids (one per symbol,
    each in ``0..n_contexts-1``)."""

    alphabet: int
    weight: int
    contexts: np.ndarray
    n_contexts: int


def block_bounds(n: int) -> list[int]:
    """Row boundaries of the blocks between which the counts are updated."""
    out = [0]
    while out[-1] < n:
        out.append(min(n, out[-1] + max(_FIRST_BLOCK, out[-1] // _GROWTH)))
    return out


def adaptive_bits(
    symbols: np.ndarray, contexts: np.ndarray, n_contexts: int, alphabet: int, weight: int
) -> float:
    """Exact bits of ``symbols`` under the per-symbol adaptive model (order does not matter)."""
    if symbols.size == 0 or alphabet <= 1:
        return 0.0
    a = 1.0 / weight
    key = contexts.astype(np.int64) * alphabet + symbols
    if n_contexts * alphabet <= 1 << 20:
        joint = np.bincount(key, minlength=n_contexts * alphabet)
        joint = joint[joint > 0]
        per_context = np.bincount(contexts, minlength=n_contexts)
        per_context = per_context[per_context > 0]
    else:
        joint = np.unique(key, return_counts=True)[1]
        per_context = np.unique(contexts, return_counts=True)[1]
    nats = float(
        (gammaln(per_context + alphabet * a) - gammaln(alphabet * a)).sum()
        - (gammaln(joint + a) - gammaln(a)).sum()
    )
    return nats / _LN2


def _probabilities(counts: np.ndarray, ctx: np.ndarray, weight: int) -> np.ndarray:
    w = counts[ctx] * weight + 1
    probs: np.ndarray = w / w.sum(axis=1, keepdims=True, dtype=np.float64)
    return probs


def _check(model: StreamModel, n: int) -> None:
    if not 1 <= model.alphabet <= MAX_ALPHABET or not 1 <= model.n_contexts <= MAX_CONTEXTS:
        raise CorruptStreamError("stream model out of range")
    if model.weight not in WEIGHTS or model.contexts.shape != (n,):
        raise CorruptStreamError("stream model does not fit its stream")


def encode_streams(streams: list[tuple[np.ndarray, StreamModel]]) -> bytes:
    """Code each stream (symbols, model) in order into one range-coder stream."""
    enc = stream.queue.RangeEncoder()
    family = stream.model.Categorical(perfect=False)
    for symbols, model in streams:
        _check(model, symbols.shape[0])
        if model.alphabet == 1 or not symbols.size:
            continue
        counts = np.zeros((model.n_contexts, model.alphabet), dtype=np.int64)
        for a, b in pairwise(block_bounds(symbols.shape[0])):
            ctx, sym = model.contexts[a:b], symbols[a:b]
            enc.encode(sym.astype(np.int32), family, _probabilities(counts, ctx, model.weight))
            np.add.at(counts, (ctx, sym), 1)
    return bytes(enc.get_compressed().tobytes())


class StreamDecoder:
    """Decodes the streams :func:`encode_streams` wrote, one at a time and in order (the next
    stream's contexts may depend on the streams already decoded)."""

    def __init__(self, buf: bytes | memoryview) -> None:
        if len(buf) % 4:
            raise CorruptStreamError("range-coded stream length is not a multiple of 4 bytes")
        words = np.frombuffer(buf, dtype="<u4").astype(np.uint32)
        self._dec = stream.queue.RangeDecoder(words)
        self._family = stream.model.Categorical(perfect=False)

    def take(self, n: int, model: StreamModel) -> np.ndarray:
        _check(model, n)
        out = np.zeros(n, dtype=np.int64)
        if model.alphabet == 1 or not n:
            return out
        counts = np.zeros((model.n_contexts, model.alphabet), dtype=np.int64)
        for a, b in pairwise(block_bounds(n)):
            ctx = model.contexts[a:b]
            try:
                sym = self._dec.decode(self._family, _probabilities(counts, ctx, model.weight))
            except BaseException as exc:  # constriction raises on exhausted or invalid data
                raise CorruptStreamError(f"range-coded stream is corrupt: {exc}") from None
            sym = np.asarray(sym, dtype=np.int64)
            out[a:b] = sym
            np.add.at(counts, (ctx, sym), 1)
        return out


def decode_streams(
    buf: bytes | memoryview, models: list[tuple[int, StreamModel]]
) -> list[np.ndarray]:
    """Inverse of :func:`encode_streams` when every stream's model is known up front."""
    dec = StreamDecoder(buf)
    return [dec.take(n, model) for n, model in models]
