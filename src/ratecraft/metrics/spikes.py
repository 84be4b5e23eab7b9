"""Spike-level fidelity: threshold detection, event matching, spike F1 and spike-window SNDR.

Detection follows the usual extracellular recipe (Quiroga et al., 2004): band-pass 300 Hz–6 kHz,
estimate the noise as σ̂ = median(|f|) / 0.6745 of the band-passed (zero-mean) signal ``f`` —
robust to the spikes themselves — and mark a spike at each negative crossing of −k·σ̂, placed at
the trough within 0.5 ms of the crossing. Troughs closer than a refractory gap are merged into
the deepest one.

When a reconstruction is compared with its original, both are detected with the *original's*
levels: recomputing them on a noisy reconstruction would move the threshold with the noise and
hide lost or invented spikes. Event times are sample indices throughout.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import butter, sosfiltfilt

from ratecraft.errors import BadInputError
from ratecraft.metrics._validate import as_signal, check_nonnegative, check_rate, signal_pair

SPIKE_BAND_HZ = (300.0, 6000.0)
_NYQUIST_MARGIN = 0.45  # the upper band edge is clipped to this fraction of the sample rate
_MAD_TO_SIGMA = 0.6745  # median(|n|) of unit Gaussian noise
_PEAK_SEARCH_MS = 0.5


def spike_band_fits(fs: float) -> bool:
    """Whether the spike band can be realised at sample rate ``fs`` (after clipping its top)."""
    return _NYQUIST_MARGIN * fs > SPIKE_BAND_HZ[0]


def _bandpass(x: np.ndarray, fs: float, lo: float, hi: float) -> np.ndarray:
    hi = min(hi, _NYQUIST_MARGIN * fs)
    if not 0.0 < lo < hi:
        raise BadInputError(f"band {lo:g}-{hi:g} Hz is empty at sample rate {fs:g} Hz")
    sos = butter(3, [lo, hi], btype="bandpass", fs=fs, output="sos")
    padlen = min(3 * (2 * len(sos) + 1), x.shape[-1] - 1)
    return sosfiltfilt(sos, x, axis=-1, padlen=padlen)


def bandpass(
    x: np.ndarray, fs: float, lo: float = SPIKE_BAND_HZ[0], hi: float = SPIKE_BAND_HZ[1]
) -> np.ndarray:
    """Zero-phase 3rd-order Butterworth band-pass of channels × time ``x`` (float64 out).

    Zero phase (``sosfiltfilt``) keeps spike troughs where they are, so detected times can be
    compared with ground truth. ``hi`` is clipped to 0.45·fs for low sample rates.
    """
    return _bandpass(as_signal(x, "signal"), check_rate(fs), float(lo), float(hi))


def _levels(filtered: np.ndarray, k: float) -> np.ndarray:
    return -k * np.median(np.abs(filtered), axis=1) / _MAD_TO_SIGMA


def _check_k(k: float) -> float:
    k = float(k)
    if not (math.isfinite(k) and k > 0):
        raise BadInputError(f"threshold factor k must be positive, got {k}")
    return k


def spike_thresholds(x: np.ndarray, fs: float, k: float = 4.5) -> np.ndarray:
    """Per-channel detection levels −k·median(|f|)/0.6745 of the band-passed signal ``f``."""
    return _levels(bandpass(x, fs), _check_k(k))


def _merge(peaks: np.ndarray, depth: np.ndarray, gap: int) -> np.ndarray:
    """Keep the deepest trough of each run of troughs spaced less than ``gap`` apart."""
    if peaks.size < 2:
        return peaks
    run = np.concatenate(([0], np.cumsum(np.diff(peaks) >= gap)))
    order = np.lexsort((depth, run))
    first = np.concatenate(([True], run[order][1:] != run[order][:-1]))
    return peaks[order][first]


def _detect(
    filtered: np.ndarray, fs: float, levels: np.ndarray, refractory_ms: float
) -> list[np.ndarray]:
    """Trough indices per channel of the downward crossings of ``levels`` in ``filtered``."""
    n = filtered.shape[1]
    search = np.arange(max(1, round(_PEAK_SEARCH_MS * 1e-3 * fs)))
    gap = max(1, round(refractory_ms * 1e-3 * fs))
    events = []
    for row, level in zip(filtered, levels, strict=True):
        below = row < level
        onsets = np.flatnonzero(below[1:] & ~below[:-1]) + 1
        if below[0]:
            onsets = np.concatenate(([0], onsets))
        window = np.minimum(onsets[:, None] + search, n - 1)
        peaks = np.sort(window[np.arange(onsets.size), np.argmin(row[window], axis=1)])
        events.append(_merge(peaks, row[peaks], gap).astype(np.int64))
    return events


# Public name of the detector for callers that band-pass and set levels themselves (the
# ``spike-lfp`` codec runs it on its own reconstruction): the same events the metrics count.
detect_in_band = _detect


def detect_spikes(
    x: np.ndarray,
    fs: float,
    k: float = 4.5,
    refractory_ms: float = 1.0,
    thresholds: np.ndarray | float | None = None,
) -> list[np.ndarray]:
    """Spike trough sample indices per channel, by negative threshold crossing.

    ``thresholds`` (one per channel, or one for all) replaces the signal's own −k·σ̂ levels —
    pass :func:`spike_thresholds` of an original to detect on its reconstruction alike. Only their
    magnitude is used: crossings are always downward.
    """
    data = as_signal(x, "signal")
    fs = check_rate(fs)
    refractory_ms = check_nonnegative(refractory_ms, "refractory_ms")
    filtered = _bandpass(data, fs, *SPIKE_BAND_HZ)
    if thresholds is None:
        levels = _levels(filtered, _check_k(k))
    else:
        try:
            given = np.asarray(thresholds, dtype=np.float64)
        except (TypeError, ValueError):
            raise BadInputError("thresholds must be numbers") from None
        if given.ndim > 1 or given.size not in (1, data.shape[0]):
            raise BadInputError(f"need 1 or {data.shape[0]} thresholds, got shape {given.shape}")
        if not np.isfinite(given).all():
            raise BadInputError("thresholds contain NaN or infinite values")
        levels = -np.abs(np.broadcast_to(given, (data.shape[0],)))
    return _detect(filtered, fs, levels, refractory_ms)


def _as_events(times: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(times)
    if arr.ndim != 1 or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise BadInputError(f"{what} must be a 1-D array of times, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise BadInputError(f"{what} contain NaN or infinite values")
    return np.sort(arr)


def match_events(ref: np.ndarray, test: np.ndarray, tol_samples: float) -> tuple[int, int, int]:
    """Greedy one-to-one matching of event times within ±``tol_samples``: (tp, fp, fn).

    Both lists are sorted and walked with two pointers (O(n log n)); on a line this earliest-first
    greedy matching is also a maximum matching.
    """
    tol = check_nonnegative(tol_samples, "tol_samples")
    r = _as_events(ref, "reference events").tolist()
    t = _as_events(test, "test events").tolist()
    i = j = tp = 0
    while i < len(r) and j < len(t):
        d = t[j] - r[i]
        if d < -tol:
            j += 1
        elif d > tol:
            i += 1
        else:
            tp += 1
            i += 1
            j += 1
    return tp, len(t) - tp, len(r) - tp


def _f1(tp: int, fp: int, fn: int) -> float:
    """F1 = 2tp / (2tp + fp + fn); 1.0 when there is nothing to find and nothing was found."""
    total = 2 * tp + fp + fn
    return 1.0 if total == 0 else 2 * tp / total


def _pooled_f1(ref: list[np.ndarray], test: list[np.ndarray], tol: float) -> float:
    tp = fp = fn = 0
    for r, t in zip(ref, test, strict=True):
        a, b, c = match_events(r, t, tol)
        tp, fp, fn = tp + a, fp + b, fn + c
    return _f1(tp, fp, fn)


def _window_mask(events: list[np.ndarray], n: int, half: int) -> np.ndarray:
    """channels × n boolean mask of the samples within ±``half`` of any event."""
    rows = np.repeat(np.arange(len(events)), [e.size for e in events])
    ev = np.concatenate(events)
    base = rows * (n + 1)
    size = len(events) * (n + 1)
    delta = np.bincount(base + np.clip(ev - half, 0, n), minlength=size) - np.bincount(
        base + np.clip(ev + half + 1, 0, n), minlength=size
    )
    return np.cumsum(delta.reshape(len(events), n + 1), axis=1)[:, :n] > 0


def _masked_sndr(fo: np.ndarray, fr: np.ndarray, mask: np.ndarray) -> float:
    if not mask.any():
        return math.nan
    s = fo[mask]
    e = s - fr[mask]
    error = float(np.dot(e, e))
    if error == 0.0:
        return math.inf
    power = float(np.dot(s, s))
    return -math.inf if power == 0.0 else 10.0 * math.log10(power / error)


def spike_metrics(
    original: np.ndarray,
    reconstructed: np.ndarray,
    fs: float,
    k: float = 4.5,
    tol_ms: float = 0.5,
    half_width_ms: float = 1.0,
    refractory_ms: float = 1.0,
) -> dict[str, float]:
    """``spike_f1`` and ``spike_window_sndr_db`` at once, band-passing each signal only once.

    See :func:`spike_f1` and :func:`spike_window_sndr_db` for the definitions.
    """
    x, y = signal_pair(original, reconstructed)
    fs = check_rate(fs)
    tol = round(check_nonnegative(tol_ms, "tol_ms") * 1e-3 * fs)
    half = round(check_nonnegative(half_width_ms, "half_width_ms") * 1e-3 * fs)
    refractory_ms = check_nonnegative(refractory_ms, "refractory_ms")
    fo = _bandpass(x, fs, *SPIKE_BAND_HZ)
    fr = _bandpass(y, fs, *SPIKE_BAND_HZ)
    levels = _levels(fo, _check_k(k))
    ref = _detect(fo, fs, levels, refractory_ms)
    test = _detect(fr, fs, levels, refractory_ms)
    return {
        "spike_f1": _pooled_f1(ref, test, tol),
        "spike_window_sndr_db": _masked_sndr(fo, fr, _window_mask(ref, x.shape[1], half)),
    }


def spike_f1(
    original: np.ndarray,
    reconstructed: np.ndarray,
    fs: float,
    k: float = 4.5,
    tol_ms: float = 0.5,
    refractory_ms: float = 1.0,
) -> float:
    """F1 of spikes detected on the reconstruction against those detected on the original.

    Both use the original's thresholds; matches are one-to-one within ±``tol_ms``, and counts are
    pooled over channels before F1 is taken. If the original has no spikes at all the score is
    1.0 when the reconstruction has none either, else 0.0 (every detection is a false positive).
    """
    return spike_metrics(
        original, reconstructed, fs, k=k, tol_ms=tol_ms, refractory_ms=refractory_ms
    )["spike_f1"]


def spike_window_sndr_db(
    original: np.ndarray,
    reconstructed: np.ndarray,
    fs: float,
    half_width_ms: float = 1.0,
    k: float = 4.5,
    refractory_ms: float = 1.0,
) -> float:
    """SNDR (dB) over the samples within ±``half_width_ms`` of spikes detected on the original.

    Computed on the band-passed (300 Hz–6 kHz) signals, so that slow, large LFP swings neither
    dominate the power nor hide distorted spike waveforms. ``nan`` when the original has no
    spikes, ``inf`` when the windows are reproduced exactly.
    """
    return spike_metrics(
        original,
        reconstructed,
        fs,
        k=k,
        half_width_ms=half_width_ms,
        refractory_ms=refractory_ms,
    )["spike_window_sndr_db"]


def spike_f1_truth(
    truth_times_per_channel: list[np.ndarray | None],
    reconstructed: np.ndarray,
    fs: float,
    k: float = 4.5,
    tol_ms: float = 0.5,
    refractory_ms: float = 1.0,
    ignore_times_per_channel: list[np.ndarray | None] | None = None,
) -> float:
    """F1 of spikes detected on ``reconstructed`` against known spike times (sample indices).

    One entry per channel, e.g. a simulator's spike troughs on each unit's peak channel; ``None``
    leaves a channel out of the score (its detections would otherwise all count as false
    positives). The threshold comes from the reconstruction itself — there is no original here.
    Counts are pooled over the scored channels; with no true and no detected spikes (or no
    scored channel) F1 is 1.0. ``ignore_times_per_channel`` lists true spikes too faint to demand
    (e.g. distant units): a detection that matches one of them is neither a hit nor a false
    positive.
    """
    y = as_signal(reconstructed, "reconstructed")
    fs = check_rate(fs)
    if len(truth_times_per_channel) != y.shape[0]:
        raise BadInputError(
            f"{len(truth_times_per_channel)} truth spike trains for {y.shape[0]} channels"
        )
    tol = round(check_nonnegative(tol_ms, "tol_ms") * 1e-3 * fs)
    refractory_ms = check_nonnegative(refractory_ms, "refractory_ms")
    k = _check_k(k)
    scored = [c for c, t in enumerate(truth_times_per_channel) if t is not None]
    truth = [_as_events(truth_times_per_channel[c], "truth spike times") for c in scored]
    if not scored:
        return 1.0
    filtered = _bandpass(y[scored], fs, *SPIKE_BAND_HZ)
    found = _detect(filtered, fs, _levels(filtered, k), refractory_ms)
    if ignore_times_per_channel is not None:
        if len(ignore_times_per_channel) != y.shape[0]:
            raise BadInputError("ignore list needs one entry per channel")
        ignored = [
            _as_events(ignore_times_per_channel[c], "ignored spike times")
            if ignore_times_per_channel[c] is not None
            else np.zeros(0, dtype=np.int64)
            for c in scored
        ]
        found = [_drop_matched(f, i, t, tol) for f, i, t in zip(found, ignored, truth, strict=True)]
    return _pooled_f1(truth, found, tol)


def _near(found: np.ndarray, events: np.ndarray, tol: int) -> np.ndarray:
    """Which of ``found`` lie within ``tol`` samples of some of the sorted ``events``."""
    if events.size == 0:
        return np.zeros(found.size, dtype=bool)
    pos = np.searchsorted(events, found)
    left = events[np.clip(pos - 1, 0, events.size - 1)]
    right = events[np.clip(pos, 0, events.size - 1)]
    return np.minimum(np.abs(found - left), np.abs(found - right)) <= tol


def _drop_matched(found: np.ndarray, ignore: np.ndarray, truth: np.ndarray, tol: int) -> np.ndarray:
    """Detections minus those within ``tol`` of an ignored spike and of no true spike."""
    if found.size == 0:
        return found
    return found[~_near(found, ignore, tol) | _near(found, truth, tol)]
