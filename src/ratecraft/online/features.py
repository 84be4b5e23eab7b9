"""What a drift detector watches on each incoming chunk of a recording.

Per chunk: the noise level (median over channels of the spike band's MAD / 0.6745, in µV),
log band powers of the LFP rhythms (theta, alpha, beta, gamma; Welch, mean over channels), the
spike rate (threshold crossings per channel per second), the bits per sample the live codec
spends at its fixed setting on this chunk (the real container), and its reconstruction SNDR.
A change in the signal shows in the first three; a model that no longer fits shows in the last
two even when the signal statistics look alike.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.signal import welch

from ratecraft.codecs.base import Codec
from ratecraft.data.types import Recording
from ratecraft.metrics.signal import sndr_db
from ratecraft.metrics.spikes import bandpass, detect_spikes, spike_band_fits

__all__ = ["FEATURES", "chunk_features"]

_MAD_TO_SIGMA = 0.6745
_BANDS = {"theta": (4.0, 8.0), "alpha": (8.0, 12.0), "beta": (13.0, 30.0), "gamma": (30.0, 80.0)}
FEATURES = (
    "noise_uv",
    *(f"log_power_{b}" for b in _BANDS),
    "spike_rate_hz",
    "bits_per_sample",
    "sndr_db",
)


def chunk_features(chunk: Recording, codec: Codec | None = None) -> dict[str, Any]:
    """The watched figures of one chunk (``codec``: the live model; None skips its two)."""
    x = chunk.samples.astype(np.float64)
    fs = float(chunk.sample_rate)
    out: dict[str, Any] = {}
    if spike_band_fits(fs):
        band = bandpass(x, fs)
        mad = np.median(np.abs(band), axis=1) / _MAD_TO_SIGMA
        out["noise_uv"] = float(np.median(mad)) * chunk.uv_per_step
        spikes = detect_spikes(x, fs)
        out["spike_rate_hz"] = float(np.mean([len(s) for s in spikes])) * fs / x.shape[1]
    freqs, psd = welch(x, fs=fs, nperseg=min(x.shape[1], int(fs)), axis=-1)
    for name, (lo, hi) in _BANDS.items():
        sel = (freqs >= lo) & (freqs < hi)
        power = float(psd[:, sel].sum(axis=1).mean()) if sel.any() else 0.0
        out[f"log_power_{name}"] = math.log10(power + 1e-12)
    if codec is not None:
        blob = codec.encode(chunk)
        out["bits_per_sample"] = 8.0 * len(blob) / x.size
        recon = codec.decode(blob)
        assert isinstance(recon, Recording)
        out["sndr_db"] = min(float(sndr_db(chunk.samples, recon.samples)), 200.0)
    return out
