"""One call that scores a reconstructed recording on every axis ``ratecraft bench`` reports."""

from __future__ import annotations

import math

import numpy as np

from ratecraft.metrics._validate import check_rate, signal_pair
from ratecraft.metrics.bands import lfp_band_power_error_mean
from ratecraft.metrics.signal import max_abs_error, prd_percent, sndr_db
from ratecraft.metrics.spikes import spike_band_fits, spike_metrics

RECORDING_QUALITY_KEYS = frozenset(
    (
        "sndr_db",
        "prd_percent",
        "max_abs_error",
        "spike_f1",
        "spike_window_sndr_db",
        "lfp_band_error",
    )
)  # what recording_quality returns


def recording_quality(
    original: np.ndarray, reconstructed: np.ndarray, fs: float
) -> dict[str, float]:
    """Waveform, spike and LFP fidelity of ``reconstructed`` (channels × time) at ``fs`` Hz.

    Keys: ``sndr_db``, ``prd_percent``, ``max_abs_error``, ``spike_f1``,
    ``spike_window_sndr_db``, ``lfp_band_error`` (mean relative band-power error). The spike
    metrics are ``nan`` when ``fs`` is too low for the spike band, and ``lfp_band_error`` when no
    LFP band is resolvable.
    """
    x, y = signal_pair(original, reconstructed)
    fs = check_rate(fs)
    if spike_band_fits(fs):
        spikes = spike_metrics(x, y, fs)
    else:
        spikes = {"spike_f1": math.nan, "spike_window_sndr_db": math.nan}
    return {
        "sndr_db": sndr_db(x, y),
        "prd_percent": prd_percent(x, y),
        "max_abs_error": max_abs_error(x, y),
        **spikes,
        "lfp_band_error": lfp_band_power_error_mean(x, y, fs),
    }
