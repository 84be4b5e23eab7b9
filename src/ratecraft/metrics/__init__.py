"""Fidelity metrics for reconstructed recordings (waveform, spikes, LFP bands) and tables."""

from ratecraft.metrics.bands import (
    LFP_BANDS,
    band_power_error,
    lfp_band_power_error_mean,
    lfp_sndr_db,
)
from ratecraft.metrics.signal import max_abs_error, prd_percent, sndr_db
from ratecraft.metrics.spikes import (
    bandpass,
    detect_spikes,
    match_events,
    spike_f1,
    spike_f1_truth,
    spike_metrics,
    spike_thresholds,
    spike_window_sndr_db,
)
from ratecraft.metrics.summary import recording_quality
from ratecraft.metrics.table import per_family_nmse, per_feature_nmse

__all__ = [
    "LFP_BANDS",
    "band_power_error",
    "bandpass",
    "detect_spikes",
    "lfp_band_power_error_mean",
    "lfp_sndr_db",
    "match_events",
    "max_abs_error",
    "per_family_nmse",
    "per_feature_nmse",
    "prd_percent",
    "recording_quality",
    "sndr_db",
    "spike_f1",
    "spike_f1_truth",
    "spike_metrics",
    "spike_thresholds",
    "spike_window_sndr_db",
]
