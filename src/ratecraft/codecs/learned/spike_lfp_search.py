"""Fit-time knob search of the ``spike-lfp`` codec.

With ``Budget(ratio=R)`` every chunk gets a byte budget (``BlockContext.target_bytes``: its raw
bytes / R less its share of the container overhead) and the encoder searches the layer's step
(stored in the chunk) with the one rate control (:func:`ratecraft.codecs.ratecontrol.search`)
on the real payload size until it fills 99.5–100% of it — a per-window adjustment that holds on
unseen data. ``fit`` chooses the knobs on an excerpt of the
training data against real container sizes (:func:`fit_candidates`): codebook size and mode, and
keeps the pair with the best LFP SNDR + spike-window SNDR among those keeping spike F1 — with
the original's thresholds and with the decoded signal's own — near the best
(:func:`best_candidate`). Kept apart from the codec so the bitstream code reads on its own.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ratecraft.codecs.learned.spike_events import TOL_MS
from ratecraft.data.types import Recording
from ratecraft.metrics.bands import lfp_sndr_db
from ratecraft.metrics.spikes import detect_spikes, match_events, spike_band_fits, spike_metrics

if TYPE_CHECKING:
    from ratecraft.codecs.learned.spike_lfp import SpikeLfpCodec


def _finite(value: float) -> float:
    return value if math.isfinite(value) else -math.inf


def best_candidate(tried: list[dict[str, Any]]) -> dict[str, Any]:
    """The candidate with the best LFP SNDR + spike-window SNDR among those whose spike F1 —
    with the original's thresholds, and with the decoded signal's own — is near the best.

    A spike F1 that is nan for every candidate (a rate too low for the spike band) sets no
    condition: the choice is then on the SNDRs alone. When no candidate is near the best on
    both F1s (LFP or ECoG, where "spikes" are noise crossings), the original's F1 decides.
    """

    def near_best(key: str, slack: float) -> set[int]:
        values = [t[key] for t in tried if math.isfinite(t[key])]
        if not values:
            return set(range(len(tried)))
        top = max(values)
        return {i for i, t in enumerate(tried) if math.isfinite(t[key]) and t[key] >= top - slack}

    primary = near_best("spike_f1", 0.02)
    # the two F1s can disagree (events at the edge of detection, where few or no spikes are):
    # then the original's thresholds decide
    keep = (primary & near_best("spike_f1_own_threshold", 0.05)) or primary
    pool = [tried[i] for i in sorted(keep)]
    return max(pool, key=lambda t: _finite(t["lfp_sndr_db"]) + _finite(t["spike_window_sndr_db"]))


def fit_candidates(codec: SpikeLfpCodec, x: np.ndarray, probe: Recording) -> list[dict[str, Any]]:
    """Codebook sizes in LFP mode, then the best size in residual mode at each spike step
    scale: every candidate coded for real on ``probe`` and scored."""
    lfp_mode = [_try(codec, x, probe, k, False, 1.0) for k in codec.config.codebook_sizes]
    k = best_candidate(lfp_mode)["codebook_size"]
    scales = codec.config.spike_step_scales
    return lfp_mode + [_try(codec, x, probe, k, True, sc) for sc in scales]


def _try(
    codec: SpikeLfpCodec, x: np.ndarray, probe: Recording, k: int, residual: bool, scale: float
) -> dict[str, Any]:
    """One candidate: fit with these knobs, code ``probe`` for real, decode and score it."""
    codec._set(residual=residual, spike_step_scale=scale)
    codec._fit_model(x, k)
    blob, stats = codec.encode_with_stats(probe)
    recon = codec.decode(blob)
    assert isinstance(recon, Recording) and codec.fs is not None
    lfp = lfp_sndr_db(probe.samples, recon.samples, codec.fs)
    if not spike_band_fits(codec.fs):  # LFP / ECoG rates: no spike criterion, LFP SNDR decides
        return _scored(codec, residual, scale, stats, math.nan, 0.0, math.nan, lfp)
    m = spike_metrics(probe.samples, recon.samples, codec.fs)
    sw = m["spike_window_sndr_db"]
    # a sorter thresholds the decoded signal itself: its spikes must match the original's
    ref, own = detect_spikes(probe.samples, codec.fs), detect_spikes(recon.samples, codec.fs)
    tol = round(TOL_MS * 1e-3 * codec.fs)
    tp, fp, fn = np.sum([match_events(a, b, tol) for a, b in zip(ref, own, strict=True)], 0)
    own_f1 = float(2 * tp / max(2 * tp + fp + fn, 1))
    return _scored(
        codec, residual, scale, stats, m["spike_f1"], sw if math.isfinite(sw) else 0.0, own_f1, lfp
    )


def _scored(
    codec: SpikeLfpCodec,
    residual: bool,
    scale: float,
    stats: Any,
    f1: float,
    spike_window: float,
    own_f1: float,
    lfp: float,
) -> dict[str, Any]:
    return {
        "codebook_size": codec.config.codebook_size,
        "residual": residual,
        "spike_step_scale": scale,
        "step": float(np.median([b["step"] for b in stats.blocks])),
        "ratio": stats.ratio,
        "spike_f1": f1,
        "spike_window_sndr_db": spike_window,
        "spike_f1_own_threshold": own_f1,
        "lfp_sndr_db": lfp,
    }
