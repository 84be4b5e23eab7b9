"""LFP fidelity: how far the reconstruction moves the power in each rhythm band, and the SNDR
of the low-passed signals.

Power spectra come from Welch's method with 2 s Hann segments (0.5 Hz bins) — or the whole
signal when it is shorter — so the delta band is resolved on recordings of a few seconds. Per
channel, a band's power is the PSD summed over the bins in ``[lo, hi)``; the error is
``|P_rec − P_orig| / P_orig``, averaged over channels.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import butter, sosfiltfilt, welch

from ratecraft.errors import BadInputError
from ratecraft.metrics._validate import check_rate, signal_pair
from ratecraft.metrics.signal import sndr_db

LFP_BANDS: dict[str, tuple[float, float]] = {
    "delta": (1.0, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 12.0),
    "beta": (13.0, 30.0),
    "gamma": (30.0, 80.0),
}
LFP_CUTOFF_HZ = 300.0
_SEGMENT_S = 2.0
_MIN_BINS = 2  # a band needs at least this many PSD bins to be resolved


def _relative_error(p_orig: np.ndarray, p_rec: np.ndarray) -> np.ndarray:
    """|p_rec − p_orig| / p_orig; 0 where both are 0, inf where only the original is 0."""
    diff = np.abs(p_rec - p_orig)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p_orig > 0, diff / p_orig, np.where(diff > 0, math.inf, 0.0))


def band_power_error(
    original: np.ndarray,
    reconstructed: np.ndarray,
    fs: float,
    bands: dict[str, tuple[float, float]] | None = None,
) -> dict[str, float]:
    """Relative band-power error per band (default :data:`LFP_BANDS`), averaged over channels.

    Bands reaching above Nyquist, or holding fewer than two PSD bins because the signal is
    short, are left out of the result rather than reported from a meaningless estimate.
    """
    x, y = signal_pair(original, reconstructed)
    fs = check_rate(fs)
    bands = LFP_BANDS if bands is None else bands
    for name, (lo, hi) in bands.items():
        if not 0 <= lo < hi:
            raise BadInputError(f"band {name!r} must have 0 <= lo < hi, got {lo}-{hi} Hz")
    n = x.shape[1]
    freqs, psd = welch(
        np.concatenate([x, y]), fs=fs, nperseg=min(n, max(1, round(_SEGMENT_S * fs))), axis=-1
    )
    p_orig, p_rec = psd[: x.shape[0]], psd[x.shape[0] :]
    out: dict[str, float] = {}
    for name, (lo, hi) in bands.items():
        sel = (freqs >= lo) & (freqs < hi)
        if hi > fs / 2 or np.count_nonzero(sel) < _MIN_BINS:
            continue
        err = _relative_error(p_orig[:, sel].sum(axis=1), p_rec[:, sel].sum(axis=1))
        out[name] = float(err.mean())
    return out


def lfp_band_power_error_mean(
    original: np.ndarray,
    reconstructed: np.ndarray,
    fs: float,
    bands: dict[str, tuple[float, float]] | None = None,
) -> float:
    """Mean of :func:`band_power_error` over the resolved bands; ``nan`` when none is resolved."""
    errors = band_power_error(original, reconstructed, fs, bands)
    return float(np.mean(list(errors.values()))) if errors else math.nan


def lfp_sndr_db(
    original: np.ndarray, reconstructed: np.ndarray, fs: float, cutoff: float = LFP_CUTOFF_HZ
) -> float:
    """SNDR (dB) of both signals low-passed below ``cutoff`` (4th-order zero-phase Butterworth)."""
    sos = butter(4, cutoff, btype="lowpass", fs=fs, output="sos")
    a = sosfiltfilt(sos, np.asarray(original).astype(np.float64), axis=-1)
    b = sosfiltfilt(sos, np.asarray(reconstructed).astype(np.float64), axis=-1)
    return sndr_db(a, b)
