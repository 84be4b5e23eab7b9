"""How a run is judged: bit-exactness, recording and table quality, and the budget it was given.

Scores are the same for every codec and every peer tool, so a row of one benchmark can be
compared with a row of another. Quality functions return ``{field: value}`` for
:meth:`RunRecord.set <ratecraft.bench.records.RunRecord.set>`.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ratecraft.bench.records import RunRecord
from ratecraft.codecs.budget import Budget
from ratecraft.data.types import Data, FeatureTable, Recording, as_block

if TYPE_CHECKING:
    from ratecraft.data.synthetic import SpikeTruth


def bit_exact(original: Data, reconstructed: Data) -> bool:
    """Same type, shape, dtype and bytes (NaN payloads included)."""
    if type(original) is not type(reconstructed):
        return False
    a, b = as_block(original), as_block(reconstructed)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def quality(original: Data, recon: Data, truth: SpikeTruth | None = None) -> dict[str, Any]:
    """Fidelity fields of ``recon`` against ``original`` (recording or table)."""
    if isinstance(original, Recording):
        if not isinstance(recon, Recording):
            raise TypeError(f"a recording decoded to a {type(recon).__name__}")
        return recording_quality(original, recon, truth)
    if not isinstance(recon, FeatureTable):
        raise TypeError(f"a table decoded to a {type(recon).__name__}")
    return table_quality(original, recon)


def recording_quality(
    original: Recording, recon: Recording, truth: SpikeTruth | None = None
) -> dict[str, Any]:
    """SNDR, PRD, max error, spike F1 and spike-window SNDR, LFP band error; and the spike F1
    against the simulator's ``truth`` when it is given and the sample rate holds the spike band."""
    from ratecraft.metrics import recording_quality as measure
    from ratecraft.metrics.spikes import spike_band_fits

    out: dict[str, Any] = dict(measure(original.samples, recon.samples, original.sample_rate))
    if truth is not None and spike_band_fits(original.sample_rate):
        out["spike_f1_truth"] = truth_f1(original, recon, truth)
    return out


def table_quality(original: FeatureTable, recon: FeatureTable) -> dict[str, Any]:
    """SNDR, max error and per-family NMSE over the cells that came back.

    Cells a codec did not code (a learned codec drops mostly-missing features) are counted in
    ``lost_cells`` and left out of the errors.
    """
    from ratecraft.metrics import per_family_nmse

    x = original.values.astype(np.float64)
    y = recon.values.astype(np.float64)
    lost = ~np.isnan(x) & ~np.isfinite(y)
    if lost.any():
        x = np.where(lost, np.nan, x)
    families = list(original.families or ["all"] * original.n_features)
    fam = per_family_nmse(x, y, families)
    finite = [v for v in fam.values() if math.isfinite(v)]
    valid = ~np.isnan(x)
    return {
        "sndr_db": table_sndr_db(x, y),
        "prd_percent": None,
        "max_abs_error": float(np.max(np.abs(x - y)[valid])) if valid.any() else None,
        "family_nmse": fam,
        "nmse_mean": float(np.mean(finite)) if finite else math.nan,
        "lost_cells": int(lost.sum()),
    }


def truth_f1(original: Recording, recon: Recording, truth: SpikeTruth) -> float:
    """Spike F1 of the reconstruction against the simulator's spikes, electrode by electrode.

    A channel must find the spikes whose trough there is at least twice its detection threshold
    (measured on the original); spikes between half and twice the threshold may be found or
    missed without penalty, since whether they cross depends on the noise, not on the codec.
    """
    from ratecraft.metrics import spike_f1_truth
    from ratecraft.metrics.spikes import spike_thresholds

    fs = original.sample_rate
    levels_uv = np.abs(spike_thresholds(original.samples, fs)) * original.uv_per_step
    must, may = [], []
    for c, level in enumerate(levels_uv):
        strong = truth.times_on_channel(c, min_amplitude_uv=2.0 * level)
        must.append(strong if strong.size else None)
        may.append(truth.times_on_channel(c, min_amplitude_uv=0.5 * level))
    return spike_f1_truth(must, recon.samples, fs, ignore_times_per_channel=may)


def table_sndr_db(x: np.ndarray, y: np.ndarray) -> float:
    """SNDR (dB) of a samples × features table over the entries the original has (not NaN).

    Signal power is taken about each feature's mean, as :func:`ratecraft.metrics.sndr_db` does
    per channel; ``inf`` for an exact reconstruction, ``nan`` when the reconstruction is not
    finite where the original is.
    """
    valid = ~np.isnan(x)
    if not valid.any():
        return math.nan
    if not np.isfinite(y[valid]).all():
        return math.nan
    counts = valid.sum(axis=0)
    means = np.where(valid, x, 0.0).sum(axis=0) / np.maximum(counts, 1)
    power = float(np.sum(np.where(valid, x - means, 0.0) ** 2))
    error = float(np.sum(np.where(valid, x - y, 0.0) ** 2))
    if error == 0.0:
        return math.inf
    if power == 0.0:
        return -math.inf
    return 10.0 * math.log10(power / error)


def check_budget(record: RunRecord, budget: Budget) -> None:
    """Set ``budget_met``; a lossless run that is not bit-exact and a max-error run over its
    bound become failures. A missed ratio target is reported, never a failure."""
    if budget.lossless:
        record.budget_met = bool(record.bit_exact)
        if not record.bit_exact:
            record.set(status="failed", error="lossless round trip is not bit-exact")
    elif budget.max_error is not None:
        err = record.max_abs_error
        met = err is not None and err <= budget.max_error * (1 + 1e-12) + 1e-300
        record.budget_met = bool(met)
        if not met:
            shown = "none" if err is None else f"{err:.6g}"
            record.set(
                status="failed",
                error=f"max abs error {shown} exceeds the budget {budget.max_error:g}",
            )
    elif budget.ratio is not None:
        record.budget_met = record.ratio is not None and record.ratio >= budget.ratio


def score(
    record: RunRecord,
    original: Data,
    recon: Data,
    *,
    budget: Budget | None = None,
    truth: SpikeTruth | None = None,
    measure: bool = True,
    exact_cache: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Judge ``recon``: bit-exactness, then (``measure``) its quality, then ``budget``.

    A bit-exact reconstruction is identical to the input, so its quality is the same for every
    codec: ``exact_cache`` (keyed by input name) keeps it once computed. ``measure=False``
    stops at bit-exactness (a lossless benchmark needs nothing else). A max-error budget
    needs the quality: it is measured then whatever ``measure`` says.
    """
    record.bit_exact = bit_exact(original, recon)
    if measure or (budget is not None and budget.max_error is not None):
        if record.bit_exact and exact_cache is not None:
            if record.input not in exact_cache:
                exact_cache[record.input] = quality(original, recon, truth)
            record.set(**copy.deepcopy(exact_cache[record.input]))
        else:
            record.set(**quality(original, recon, truth))
    if budget is not None:
        check_budget(record, budget)
