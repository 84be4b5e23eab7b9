"""Input checks shared by the metrics: wrong shapes, dtypes, NaN or rates raise a one-line error."""

from __future__ import annotations

import math

import numpy as np

from ratecraft.errors import BadInputError


def as_signal(x: np.ndarray, what: str) -> np.ndarray:
    """``x`` as a finite float64 channels × time array (a 1-D array is one channel)."""
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise BadInputError(f"{what} must be channels × time, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise BadInputError(f"{what} must be numeric, got dtype {arr.dtype}")
    if arr.size == 0:
        raise BadInputError(f"{what} is empty")
    is_float = np.issubdtype(arr.dtype, np.floating)
    arr = arr.astype(np.float64, copy=False)
    if is_float and not np.isfinite(arr).all():
        raise BadInputError(f"{what} contains NaN or infinite values")
    return arr


def signal_pair(original: np.ndarray, reconstructed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both signals as float64 channels × time arrays of the same shape."""
    x = as_signal(original, "original")
    y = as_signal(reconstructed, "reconstructed")
    if x.shape != y.shape:
        raise BadInputError(f"shape mismatch: original {x.shape} vs reconstructed {y.shape}")
    return x, y


def check_rate(fs: float) -> float:
    """A positive, finite sample rate in Hz."""
    try:
        rate = float(fs)
    except (TypeError, ValueError):
        raise BadInputError(f"sample rate must be a number, got {fs!r}") from None
    if not (math.isfinite(rate) and rate > 0):
        raise BadInputError(f"sample rate must be positive, got {fs}")
    return rate


def check_nonnegative(value: float, what: str) -> float:
    """A finite, non-negative option value (tolerances, widths, thresholds)."""
    v = float(value)
    if not (math.isfinite(v) and v >= 0):
        raise BadInputError(f"{what} must be a non-negative number, got {value}")
    return v
