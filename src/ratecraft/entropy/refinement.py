"""A residual refinement layer: what a reconstruction missed, quantized with one uniform step.

``q = round(r / step)`` of the residual ``r = x − x̂`` (rows × frames), coded with the
scale-context ANS coder of :mod:`ratecraft.entropy.scale_context` (its per-block scale buckets
cost almost nothing where ``q`` is zero). Adding ``q · step`` back bounds every error by
``step / 2``; with ``step = 2⌊e⌋ + 1`` on integer data, by ``⌊e⌋``. The learned table codecs
use it to spend the budget their model leaves unused; the VAE uses it to guarantee a maximum
error; ``wavelet`` uses it for its max-error mode.
"""

from __future__ import annotations

import math

import numpy as np

from ratecraft.entropy.scale_context import decode_residuals, encode_residuals
from ratecraft.errors import BadInputError

__all__ = ["Refinement", "error_bound_step"]

DEFAULT_BLOCK = 64


def error_bound_step(max_error: float, integer: bool) -> float:
    """The coarsest step whose refinement keeps every error within ``max_error``."""
    if integer:
        return float(2 * math.floor(max_error) + 1)
    if max_error <= 0:
        raise BadInputError("a zero error bound on float data needs a lossless codec")
    return 2.0 * max_error


class Refinement:
    """Uniform quantization of residuals + scale-context coding (NumPy only)."""

    def __init__(self, step: float, block: int = DEFAULT_BLOCK) -> None:
        if not (math.isfinite(step) and step > 0):
            raise BadInputError(f"refinement step must be a finite number > 0, got {step}")
        self.step = float(step)
        self.block = int(block)

    def quantize(self, residual: np.ndarray) -> np.ndarray:
        """Integers of the residual (rows × frames) at this step."""
        return np.rint(np.asarray(residual, np.float64) / self.step).astype(np.int64)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return q.astype(np.float64) * self.step

    def compress(self, q: np.ndarray) -> tuple[bytes, float]:
        """Bytes and estimated bits of integers ``q`` (rows × frames)."""
        return encode_residuals(np.asarray(q, np.int64), self.block)

    def decompress(self, payload: memoryview | bytes, rows: int, frames: int) -> np.ndarray:
        return decode_residuals(memoryview(payload), rows, frames, self.block)

    def estimated_bits(self, q: np.ndarray) -> float:
        return self.compress(q)[1]
