"""Waveform fidelity of a reconstructed recording: SNDR, PRD and worst-case error.

Recordings are channels × time arrays (int or float); everything is computed in float64 and
pooled over all channels. The signal power in SNDR and PRD is taken about each channel's mean,
so a DC offset — common in raw ADC data — does not make a poor reconstruction look good; the
error term is not mean-removed, so a DC error still counts as distortion.
"""

from __future__ import annotations

import math

import numpy as np

from ratecraft.metrics._validate import signal_pair


def _energies(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(Σ(x − mean_channel(x))², Σ(x − y)²) over all channels."""
    centered = (x - x.mean(axis=1, keepdims=True)).ravel()
    error = (x - y).ravel()
    return float(np.dot(centered, centered)), float(np.dot(error, error))


def sndr_db(original: np.ndarray, reconstructed: np.ndarray) -> float:
    """Signal-to-noise-and-distortion ratio in dB: 10·log10(Σx² / Σ(x − y)²).

    ``x`` is the original with each channel's mean removed (see the module docstring). Returns
    ``inf`` for an exact reconstruction and ``-inf`` when the original is constant per channel but
    the reconstruction is not.
    """
    power, error = _energies(*signal_pair(original, reconstructed))
    if error == 0.0:
        return math.inf
    if power == 0.0:
        return -math.inf
    return 10.0 * math.log10(power / error)


def prd_percent(original: np.ndarray, reconstructed: np.ndarray) -> float:
    """Percent root-mean-square difference: 100·sqrt(Σ(x − y)² / Σ(x − x̄)²).

    The denominator is mean-removed per channel, as in :func:`sndr_db`, so PRD and SNDR agree:
    ``sndr_db = −20·log10(prd_percent / 100)``. Returns 0 for an exact reconstruction and ``inf``
    when the original is constant per channel but the reconstruction is not.
    """
    power, error = _energies(*signal_pair(original, reconstructed))
    if error == 0.0:
        return 0.0
    if power == 0.0:
        return math.inf
    return 100.0 * math.sqrt(error / power)


def max_abs_error(original: np.ndarray, reconstructed: np.ndarray) -> float:
    """Largest absolute sample difference, in the input's units (the near-lossless bound)."""
    x, y = signal_pair(original, reconstructed)
    return float(np.max(np.abs(x - y)))
