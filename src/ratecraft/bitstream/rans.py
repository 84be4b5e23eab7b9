"""Symbol groups in one static-model rANS stream (C, :mod:`._rans`): the residual coder of the
lossless and near-lossless recording codecs from their payload version 3 on.

Same models as :mod:`.ans` (integer counts that travel in the stream; uniform low bits), same
interface (:func:`encode_groups`, :class:`GroupDecoder` popping groups in order), a different
coder. Why not constriction here: its ANS decodes about 43 M symbols/s on this machine and holds
the GIL while it does, so it was two thirds of `predictive`'s decode time and a decode could not
use a second core; a fixed-model rANS is a table lookup and a multiply-add per symbol, decodes
several times faster and releases the GIL. Constriction stays the coder of every other stream
(and of version-2 payloads), and the rANS stream is tested against it: the same groups cost the
same bytes within 0.5% (tests/bitstream/test_rans.py).

Format: the 32-bit rANS state (little-endian) and then renormalization bytes, read forwards.
Probabilities are in 1/2^16: each model's counts are scaled to sum to 2^16 by
:func:`normalize_counts`, integer arithmetic only, so both sides build the same tables; a model
has at most 2^16 symbols, a uniform group is coded in pieces of at most 16 bits.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from ratecraft.bitstream import _rans  # type: ignore[attr-defined]
from ratecraft.bitstream.ans import Model, SymbolModel, UniformModel
from ratecraft.errors import CorruptStreamError

__all__ = ["MAX_SYMBOLS", "PROB_BITS", "GroupDecoder", "encode_groups", "normalize_counts"]

PROB_BITS = 16
MAX_SYMBOLS = 1 << PROB_BITS
_PIECE_BITS = 16

if sys.byteorder != "little":  # pragma: no cover - the C coder writes its state natively
    raise ImportError("the rANS coder needs a little-endian machine")


def normalize_counts(counts: np.ndarray) -> np.ndarray:
    """Counts scaled to sum to exactly 2^16, every nonzero count staying nonzero (integer
    arithmetic, so encoder and decoder agree on every platform)."""
    c = np.asarray(counts, dtype=np.int64)
    if c.ndim != 1 or c.size > MAX_SYMBOLS or c.min(initial=0) < 0:
        raise CorruptStreamError("entropy model does not fit the rANS coder")
    total = int(c.sum())
    nonzero = c > 0
    if total <= 0:
        raise CorruptStreamError("entropy model has no mass")
    freq = np.where(nonzero, np.maximum(1, (c << PROB_BITS) // total), 0)
    diff = MAX_SYMBOLS - int(freq.sum())
    if diff > 0:
        freq[int(np.argmax(c))] += diff
    elif diff < 0:
        # take the excess from the largest frequencies, never below 1 (stable: same on both sides)
        order = np.argsort(-freq, kind="stable")
        spare = np.maximum(freq[order] - 1, 0)
        taken = np.minimum(spare, np.maximum(0, -diff - (np.cumsum(spare) - spare)))
        freq[order] -= taken
        if int(freq.sum()) != MAX_SYMBOLS:  # pragma: no cover - more symbols than slots
            raise CorruptStreamError("entropy model has more symbols than rANS slots")
    return freq


def _pieces(bits: int) -> list[tuple[int, int]]:
    return [(o, min(_PIECE_BITS, bits - o)) for o in range(0, bits, _PIECE_BITS)]


def _flat(groups: Sequence[tuple[np.ndarray, Model]]) -> list[tuple[np.ndarray, Model]]:
    """Groups with wide uniform ones split into ≤ 16-bit pieces, low first, and trivial or
    empty ones dropped (they cost nothing and are not coded)."""
    out: list[tuple[np.ndarray, Model]] = []
    for symbols, model in groups:
        if not np.size(symbols) or model.trivial:
            continue
        if isinstance(model, UniformModel):
            wide = np.asarray(symbols, dtype=np.int64)
            out += [((wide >> o) & ((1 << w) - 1), UniformModel(w)) for o, w in _pieces(model.bits)]
        else:
            out.append((symbols, model))
    return out


def encode_groups(groups: Sequence[tuple[np.ndarray, Model]]) -> bytes:
    """Code several symbol arrays, each with its own model, into one rANS stream."""
    flat = _flat(groups)
    syms = [np.ascontiguousarray(s, dtype=np.int64).ravel() for s, _ in flat]
    lengths = np.array([s.size for s in syms], dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    kinds = np.empty(len(flat), dtype=np.int64)
    freqs: list[np.ndarray] = []
    for g, (_, model) in enumerate(flat):
        if isinstance(model, UniformModel):
            kinds[g] = -model.bits
        else:
            kinds[g] = len(freqs)
            freqs.append(normalize_counts(model.counts))
    sizes = np.array([f.size for f in freqs], dtype=np.int64)
    model_start = np.cumsum(sizes) - sizes
    freq = np.concatenate(freqs) if freqs else np.zeros(0, dtype=np.int64)
    cum = np.concatenate([np.cumsum(f) - f for f in freqs]) if freqs else freq
    try:
        return bytes(
            _rans.encode(
                np.concatenate(syms) if syms else np.zeros(0, dtype=np.int64),
                starts,
                lengths,
                kinds,
                freq.astype(np.int64),
                cum.astype(np.int64),
                model_start,
                sizes,
            )
        )
    except ValueError as exc:
        raise ValueError(f"cannot code these symbols: {exc}") from None


class GroupDecoder:
    """Pops symbol groups off a rANS stream in the order :func:`encode_groups` was given
    them; :meth:`finish` checks the stream was used up exactly."""

    def __init__(self, buf: bytes | memoryview) -> None:
        self._buf = memoryview(buf).cast("B")
        if len(self._buf) < 4:
            raise CorruptStreamError("rANS stream is shorter than its state")
        x = int.from_bytes(self._buf[:4], "little")
        self._state = np.array([x, 4], dtype=np.int64)
        self._empty = np.zeros(0, dtype=np.int64)
        self._no_table = np.zeros(MAX_SYMBOLS, dtype=np.uint16)

    def take(self, n: int, model: Model) -> np.ndarray:
        out = np.zeros(int(n), dtype=np.int64)
        if not n or model.trivial:
            return out
        if isinstance(model, UniformModel):
            for o, w in _pieces(model.bits):
                part = np.empty(int(n), dtype=np.int64)
                self._run(part, self._empty, self._empty, self._no_table, w)
                out |= part << o
            return out
        assert isinstance(model, SymbolModel)
        freq = normalize_counts(model.counts)
        table = np.repeat(np.arange(freq.size, dtype=np.uint16), freq)
        self._run(out, freq, np.cumsum(freq) - freq, table, 0)
        return out

    def _run(
        self, out: np.ndarray, freq: np.ndarray, cum: np.ndarray, table: np.ndarray, bits: int
    ) -> None:
        try:
            _rans.decode(self._buf, self._state, out, freq, cum, table, bits)
        except ValueError as exc:
            raise CorruptStreamError(str(exc)) from None

    def finish(self) -> None:
        """Refuse a stream with bytes left over or a final state the encoder never starts
        from (a corrupt or spliced stream)."""
        if int(self._state[1]) != len(self._buf) or int(self._state[0]) != 1 << 23:
            raise CorruptStreamError("rANS stream has bytes left over or a wrong final state")
