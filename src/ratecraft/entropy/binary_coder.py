"""A binary arithmetic (range) coder in numba, for models that change after every symbol.

Why hand-written: constriction (our ANS/range coder everywhere else, :mod:`ratecraft.bitstream.ans`)
codes fast when a whole array of symbols shares models it is handed up front; a per-sample
adaptive model (`predictive --level max`: probabilities mixed from several contexts and updated
after every bit) needs one coder call per binary decision from inside a compiled loop, and
calling constriction once per bit from Python runs at well under 1 M decisions/s. So the coder
lives here as numba functions the model loop calls inline: the carry-less binary coder of the
PAQ family (32-bit low/high, a byte out whenever their top bytes agree), with 16-bit
probabilities. Integer arithmetic only, so encoder and decoder agree bit for bit on every
platform. ``tests/entropy/test_binary_coder.py`` checks it against constriction on static models
(same size within 0.1%).

State is an ``int64`` array ``[low, high, code, pos, overrun, decisions]`` and a ``uint8``
buffer. The
encoder never writes past ``len(buf)``: it stops and reports through :func:`room` so the caller
can retry with a larger buffer; the decoder reads zeros past the end and counts them, so a
truncated stream decodes to garbage that the caller refuses (``overrun``), never out of bounds.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "PROB_BITS",
    "decode_bit",
    "decoder_state",
    "encode_bit",
    "encoder_state",
    "finish",
    "room",
]

PROB_BITS = 16
_MASK = 0xFFFFFFFF
LOW, HIGH, CODE, POS, OVERRUN, DECISIONS = 0, 1, 2, 3, 4, 5


def encoder_state() -> np.ndarray:
    return np.array([0, _MASK, 0, 0, 0, 0], dtype=np.int64)


@njit(cache=True, nogil=True)
def decoder_state(buf: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    st = np.array([0, _MASK, 0, 0, 0, 0], dtype=np.int64)
    for _ in range(4):
        st[CODE] = (st[CODE] << 8) | _next_byte(st, buf)
    return st


@njit(cache=True, nogil=True, inline="always")
def _next_byte(st: np.ndarray, buf: np.ndarray) -> int:  # pragma: no cover - compiled
    pos = st[POS]
    st[POS] = pos + 1
    if pos < buf.shape[0]:
        return int(buf[pos])
    st[OVERRUN] += 1
    return 0


@njit(cache=True, nogil=True, inline="always")
def _split(st: np.ndarray, p1: int) -> int:  # pragma: no cover - compiled
    lo = st[LOW]
    span = st[HIGH] - lo
    return int(lo + (span >> PROB_BITS) * p1 + (((span & 0xFFFF) * p1) >> PROB_BITS))


@njit(cache=True, nogil=True)
def encode_bit(st: np.ndarray, buf: np.ndarray, bit: int, p1: int) -> None:  # pragma: no cover
    """Code ``bit`` with probability ``p1 / 2^16`` of a one (``1 <= p1 < 2^16``)."""
    mid = _split(st, p1)
    st[DECISIONS] += 1
    if bit:
        st[HIGH] = mid
    else:
        st[LOW] = mid + 1
    while ((st[LOW] ^ st[HIGH]) & 0xFF000000) == 0:
        pos = st[POS]
        if pos < buf.shape[0]:
            buf[pos] = np.uint8(st[HIGH] >> 24)
        else:
            st[OVERRUN] += 1
        st[POS] = pos + 1
        st[LOW] = (st[LOW] << 8) & _MASK
        st[HIGH] = ((st[HIGH] << 8) & _MASK) | 0xFF


@njit(cache=True, nogil=True)
def decode_bit(st: np.ndarray, buf: np.ndarray, p1: int) -> int:  # pragma: no cover - compiled
    """The bit :func:`encode_bit` coded with the same ``p1``."""
    mid = _split(st, p1)
    bit = 1 if st[CODE] <= mid else 0
    if bit:
        st[HIGH] = mid
    else:
        st[LOW] = mid + 1
    while ((st[LOW] ^ st[HIGH]) & 0xFF000000) == 0:
        st[LOW] = (st[LOW] << 8) & _MASK
        st[HIGH] = ((st[HIGH] << 8) & _MASK) | 0xFF
        st[CODE] = ((st[CODE] << 8) & _MASK) | _next_byte(st, buf)
    return bit


@njit(cache=True, nogil=True)
def finish(st: np.ndarray, buf: np.ndarray) -> int:  # pragma: no cover - compiled
    """Flush the encoder (four bytes of ``low``); returns the bytes written."""
    for _ in range(4):
        pos = st[POS]
        if pos < buf.shape[0]:
            buf[pos] = np.uint8((st[LOW] >> 24) & 0xFF)
        else:
            st[OVERRUN] += 1
        st[POS] = pos + 1
        st[LOW] = (st[LOW] << 8) & _MASK
    return int(st[POS])


def room(st: np.ndarray) -> bool:
    """Whether the encoder's buffer held every byte (else retry with a larger one)."""
    return int(st[OVERRUN]) == 0


@njit(cache=True, nogil=True)
def _code_static(
    bits: np.ndarray, probs: np.ndarray, buf: np.ndarray, st: np.ndarray
) -> int:  # pragma: no cover - compiled
    for i in range(bits.shape[0]):
        encode_bit(st, buf, bits[i], probs[i])
    return finish(st, buf)


@njit(cache=True, nogil=True)
def _decode_static(probs: np.ndarray, buf: np.ndarray) -> np.ndarray:  # pragma: no cover
    st = decoder_state(buf)
    out = np.empty(probs.shape[0], dtype=np.int64)
    for i in range(probs.shape[0]):
        out[i] = decode_bit(st, buf, probs[i])
    return out


def encode_static(bits: np.ndarray, probs: np.ndarray) -> bytes:
    """Code ``bits`` with the given probabilities of a one (``probs / 2^16``); for tests and
    for measuring the coder against others on static models."""
    bits = np.ascontiguousarray(bits, dtype=np.int64)
    probs = np.ascontiguousarray(probs, dtype=np.int64)
    size = max(64, bits.shape[0] // 2)
    while True:
        buf = np.zeros(size, dtype=np.uint8)
        st = encoder_state()
        n = _code_static(bits, probs, buf, st)
        if room(st):
            return buf[:n].tobytes()
        size *= 4


def decode_static(buf: bytes, probs: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_static`."""
    arr = np.frombuffer(buf, dtype=np.uint8)
    return _decode_static(np.ascontiguousarray(probs, dtype=np.int64), arr)
