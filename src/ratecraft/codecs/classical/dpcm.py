"""Predict-then-entropy-code integer blocks: the shared engine of `predictive` and `quant`.

A block of integers (rows × frames) becomes: the range of values, the integer predictors of
every (row, predictor block), and the scale-context coded residuals. ``step == 1`` is lossless;
``step > 1`` is closed-loop near-lossless quantization with error at most ``step // 2``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import zstandard

from ratecraft.bitstream.sections import array_from, pack_sections, unpack_sections
from ratecraft.codecs.classical.prediction import (
    N_CROSS,
    ORDERS,
    Predictors,
    quantize,
    reconstruct,
    residuals,
)
from ratecraft.entropy.scale_context import Coder, decode_residuals, encode_residuals
from ratecraft.errors import CorruptStreamError

_RANGE = struct.Struct("<qq")
_MAX_SIDE_BYTES = 1 << 28


@dataclass(frozen=True)
class DpcmSettings:
    """Knobs of the predictive engine (all stored in the stream's codec parameters)."""

    max_order: int = 16
    predictor_block: int = 8192
    context_block: int = 64
    neighbours: bool = True


def _pack_predictors(p: Predictors) -> bytes:
    used = p.orders + N_CROSS * p.cross
    mask = np.arange(p.coefs.shape[2])[None, None, :] < used[..., None]
    raw = b"".join(
        [
            p.refidx.astype("<i4").tobytes(),
            p.orders.astype("u1").tobytes(),
            p.cross.astype("u1").tobytes(),
            p.coefs[mask].astype("<i4").tobytes(),
        ]
    )
    return zstandard.ZstdCompressor(level=10).compress(raw)


def _unpack_predictors(buf: memoryview, rows: int, n: int, s: DpcmSettings) -> Predictors:
    try:
        raw = memoryview(
            zstandard.ZstdDecompressor().decompress(bytes(buf), max_output_size=_MAX_SIDE_BYTES)
        )
    except zstandard.ZstdError as exc:
        raise CorruptStreamError(f"predictor section is corrupt: {exc}") from None
    nb = -(-n // s.predictor_block)
    fixed = 4 * rows + 2 * rows * nb
    if len(raw) < fixed:
        raise CorruptStreamError("predictor section is truncated")
    refidx = array_from(raw[: 4 * rows], "<i4", rows, "reference channels").astype(np.int64)
    orders = array_from(raw[4 * rows : 4 * rows + rows * nb], "u1", rows * nb, "orders")
    cross = array_from(raw[4 * rows + rows * nb : fixed], "u1", rows * nb, "cross flags")
    orders = orders.astype(np.int64).reshape(rows, nb)
    cross = cross.astype(np.int64).reshape(rows, nb)
    allowed = np.array([0, *ORDERS])
    if not np.isin(orders, allowed[allowed <= s.max_order]).all() or cross.max(initial=0) > 1:
        raise CorruptStreamError("invalid predictor order or cross flag")
    if ((refidx >= np.arange(rows)) | (refidx < -1)).any():
        raise CorruptStreamError("invalid reference channel")
    if (cross.astype(bool) & (refidx < 0)[:, None]).any():
        raise CorruptStreamError("cross-channel taps without a reference channel")
    used = orders + N_CROSS * cross
    total = int(used.sum())
    flat = array_from(raw[fixed:], "<i4", total, "predictor coefficients").astype(np.int64)
    coefs = np.zeros((rows, nb, s.max_order + N_CROSS), dtype=np.int64)
    mask = np.arange(coefs.shape[2])[None, None, :] < used[..., None]
    coefs[mask] = flat
    return Predictors(refidx, orders, cross, coefs, s.predictor_block)


def encode_ints(
    k: np.ndarray, step: int, s: DpcmSettings, coder: Coder = "ans"
) -> tuple[bytes, float, np.ndarray]:
    """Code integers ``k``; returns payload, estimated bits and the decoder's reconstruction
    (residuals entropy-coded with ``coder``, see :mod:`ratecraft.entropy.scale_context`)."""
    from ratecraft.codecs.classical.lpc import choose_references, fit_predictors  # numba

    lo, hi = (int(k.min()), int(k.max())) if k.size else (0, 0)
    refidx = choose_references(k, s.neighbours)
    preds = fit_predictors(
        k, refidx, s.predictor_block, s.max_order, noise_var=(step * step - 1) / 12.0
    )
    if step == 1:
        q, rec = residuals(k, preds, lo, hi), k
    else:
        q, rec = quantize(k, preds, step, lo, hi)
    side = _pack_predictors(preds)
    resid, est = encode_residuals(q, s.context_block, coder)
    payload = pack_sections([_RANGE.pack(lo, hi), side, resid])
    return payload, est + 8.0 * (len(side) + _RANGE.size), rec


def decode_ints(
    buf: memoryview, rows: int, n: int, step: int, s: DpcmSettings, coder: Coder = "ans"
) -> np.ndarray:
    """Inverse of :func:`encode_ints` (with the same ``coder``)."""
    rng, side, resid = unpack_sections(buf, expect=3)
    if len(rng) != _RANGE.size:
        raise CorruptStreamError("corrupt value range section")
    lo, hi = _RANGE.unpack(rng)
    if lo > hi:
        raise CorruptStreamError("corrupt value range")
    preds = _unpack_predictors(side, rows, n, s)
    q = decode_residuals(resid, rows, n, s.context_block, coder)
    return reconstruct(q, preds, step, lo, hi)
