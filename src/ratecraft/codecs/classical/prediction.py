"""The integer prediction loops that encoder and decoder must repeat bit for bit.

:func:`residuals` (lossless), :func:`quantize` (closed loop with a step) and :func:`reconstruct`
(the decoder) run the per-block integer predictors of :class:`Predictors` in 64-bit integer
arithmetic, in the C extension ``_predict`` (see its header for why C and not numba: a decode
must not pay numba's start-up). Fitting the predictors is :mod:`.lpc` (numba); nothing here
imports numba.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ratecraft.codecs.classical import _predict  # type: ignore[attr-defined]
from ratecraft.errors import CorruptStreamError

__all__ = ["COEF_SHIFT", "N_CROSS", "ORDERS", "Predictors", "quantize", "reconstruct", "residuals"]

COEF_SHIFT = 14
ORDERS = (1, 2, 4, 8, 16, 32)
N_CROSS = 2


@dataclass
class Predictors:
    """Integer predictor of every (channel, block): order, cross flag and coefficients."""

    refidx: np.ndarray  # (C,) reference channel (< c) or -1
    orders: np.ndarray  # (C, B) int64
    cross: np.ndarray  # (C, B) int64 0/1
    coefs: np.ndarray  # (C, B, N_CROSS + max order) int64
    block: int


def _model(p: Predictors, n_ch: int, n: int, lo: int, hi: int) -> tuple:
    refidx = np.ascontiguousarray(p.refidx, dtype=np.int64)
    coefs = np.ascontiguousarray(p.coefs, dtype=np.int64)
    orders = np.ascontiguousarray(p.orders, dtype=np.int64)
    cross = np.ascontiguousarray(p.cross, dtype=np.int64)
    n_blocks, width = int(coefs.shape[1]), int(coefs.shape[2])
    return (refidx, coefs, orders, cross, n_ch, n, n_blocks, width, int(p.block), lo, hi)


def residuals(x: np.ndarray, p: Predictors, lo: int, hi: int) -> np.ndarray:
    """Lossless residuals ``x − pred(x)`` of integer samples ``x`` (channels × frames)."""
    x = np.ascontiguousarray(x, dtype=np.int64)
    q = np.empty_like(x)
    _predict.residuals(x, *_model(p, *x.shape, lo, hi), q)
    return q


def quantize(
    x: np.ndarray, p: Predictors, step: int, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray]:
    """Residual codes and the reconstruction of closed-loop quantization with ``step``: every
    reconstructed sample is within ``step // 2`` of ``x``."""
    x = np.ascontiguousarray(x, dtype=np.int64)
    q, rec = np.empty_like(x), np.empty_like(x)
    _predict.quantize(x, *_model(p, *x.shape, lo, hi), int(step), q, rec)
    return q, rec


def reconstruct(q: np.ndarray, p: Predictors, step: int, lo: int, hi: int) -> np.ndarray:
    """The decoder: samples from residual codes ``q`` (inverse of :func:`quantize`)."""
    q = np.ascontiguousarray(q, dtype=np.int64)
    rec = np.empty_like(q)
    try:
        _predict.reconstruct(q, *_model(p, *q.shape, lo, hi), int(step), rec)
    except ValueError as exc:
        raise CorruptStreamError(f"predictors do not fit the stream ({exc})") from None
    return rec
