"""Spike detection, event matching, spike F1 and spike-window SNDR on injected spikes."""

import math

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from ratecraft.errors import BadInputError
from ratecraft.metrics import (
    bandpass,
    detect_spikes,
    match_events,
    spike_f1,
    spike_f1_truth,
    spike_metrics,
    spike_thresholds,
    spike_window_sndr_db,
)

FS = 40_000.0
N = 60_000  # 1.5 s


def _template(depth: float = 120.0) -> tuple[np.ndarray, int]:
    """Biphasic extracellular spike (negative trough, slower positive rebound) and trough index."""
    t_ms = np.arange(-0.5, 1.5, 1e3 / FS)
    wave = -depth * np.exp(-((t_ms / 0.15) ** 2)) + 0.3 * depth * np.exp(
        -(((t_ms - 0.4) / 0.3) ** 2)
    )
    return wave, int(np.argmin(wave))


def _spike_times(rng: np.random.Generator, n_channels: int = 4) -> list[np.ndarray]:
    """About 30 spikes per channel, at least 5 ms apart and away from the edges."""
    out = []
    for _ in range(n_channels):
        gaps = rng.integers(round(5e-3 * FS), round(60e-3 * FS), size=60)
        times = round(5e-3 * FS) + np.cumsum(gaps)
        out.append(times[times < N - round(5e-3 * FS)])
    return out


def _insert(base: np.ndarray, times: list[np.ndarray], shift: int = 0) -> np.ndarray:
    wave, trough = _template()
    out = base.copy()
    for c, ts in enumerate(times):
        for t in ts + shift:
            out[c, t - trough : t - trough + wave.size] += wave
    return out


@pytest.fixture(scope="module")
def recording():
    rng = np.random.default_rng(7)
    noise = 10.0 * rng.standard_normal((4, N))
    times = _spike_times(rng)
    return noise, times, _insert(noise, times)


def test_clean_detection_matches_ground_truth(recording) -> None:
    _, times, x = recording
    assert spike_f1_truth(times, x, FS) >= 0.97
    found = detect_spikes(x, FS)
    for t, f in zip(times, found, strict=True):
        _, fp, fn = match_events(t, f, round(0.25e-3 * FS))  # troughs land within 0.25 ms
        assert fn == 0
        assert fp <= 1


def test_identical_copy_scores_one(recording) -> None:
    _, _, x = recording
    assert spike_f1(x, x, FS) == 1.0
    assert spike_window_sndr_db(x, x, FS) == math.inf
    assert spike_f1(x.astype(np.int16), x.astype(np.int16), FS) == 1.0


def test_removed_spikes_lower_f1(recording) -> None:
    noise, times, x = recording
    kept = [t[::2] for t in times]  # drop every other spike
    y = _insert(noise, kept)
    n_true = sum(t.size for t in times)
    n_kept = sum(t.size for t in kept)
    expected = 2 * n_kept / (n_true + n_kept)
    assert spike_f1(x, y, FS) == pytest.approx(expected, abs=0.05)
    assert spike_f1(x, noise, FS) < 0.1


def test_shift_beyond_tolerance_breaks_matches(recording) -> None:
    noise, times, x = recording
    small = _insert(noise, times, shift=round(0.2e-3 * FS))
    large = _insert(noise, times, shift=round(1.5e-3 * FS))
    assert spike_f1(x, small, FS) >= 0.95
    assert spike_f1(x, large, FS) < 0.1
    assert spike_f1(x, large, FS, tol_ms=2.0) >= 0.95


def test_no_spikes_in_original() -> None:
    silent = np.zeros((2, 4000))
    with_spikes = _insert(silent, [np.array([1000, 3000]), np.array([2000])])
    assert spike_f1(silent, silent, FS) == 1.0
    assert spike_f1(silent, with_spikes, FS) == 0.0
    assert math.isnan(spike_window_sndr_db(silent, with_spikes, FS))


def test_original_thresholds_are_used(recording) -> None:
    _, _, x = recording
    levels = spike_thresholds(x, FS)
    assert levels.shape == (4,)
    assert np.all(levels < 0)
    # A much noisier reconstruction detected with its own levels would hide invented spikes;
    # with the original's levels the noise crossings count as false positives.
    y = x + 30.0 * np.random.default_rng(8).standard_normal(x.shape)
    own = sum(e.size for e in detect_spikes(y, FS))
    shared = sum(e.size for e in detect_spikes(y, FS, thresholds=levels))
    assert shared > own
    assert all(e.size == 0 for e in detect_spikes(x, FS, thresholds=1e6))


def test_refractory_merge_keeps_deepest() -> None:
    wave, trough = _template()
    x = 10.0 * np.random.default_rng(9).standard_normal((1, 4000))
    first, second = 1000, 1000 + round(0.7e-3 * FS)
    x[0, first - trough : first - trough + wave.size] += 0.5 * wave
    x[0, second - trough : second - trough + wave.size] += wave
    merged = detect_spikes(x, FS, refractory_ms=1.0)[0]
    apart = detect_spikes(x, FS, refractory_ms=0.1)[0]
    assert merged.size == 1 and abs(merged[0] - second) <= 2
    assert apart.size == 2


def test_match_events_hand_cases() -> None:
    assert match_events([10, 20, 30], [11, 25, 31, 100], 2) == (2, 2, 1)
    assert match_events([10, 12], [11], 2) == (1, 0, 1)  # one-to-one
    assert match_events([], [1, 2], 1) == (0, 2, 0)
    assert match_events([5, 1], [], 1) == (0, 0, 2)
    assert match_events([30, 10], [9, 29], 1) == (2, 0, 0)  # unsorted input
    assert match_events([0, 6], [5, 11], 5) == (2, 0, 0)  # greedy still finds both


def test_match_events_is_a_maximum_matching() -> None:
    rng = np.random.default_rng(10)
    for _ in range(50):
        ref = rng.integers(0, 60, size=rng.integers(0, 12))
        test = rng.integers(0, 60, size=rng.integers(0, 12))
        adjacency = np.abs(ref[:, None] - test[None, :]) <= 3
        partner = maximum_bipartite_matching(csr_matrix(adjacency), perm_type="column")
        best = int((partner >= 0).sum())
        tp, fp, fn = match_events(ref, test, 3)
        assert (tp, fp, fn) == (best, test.size - best, ref.size - best)


def test_window_sndr_ignores_lfp_error(recording) -> None:
    _, _, x = recording
    t = np.arange(N) / FS
    noise = np.random.default_rng(11).standard_normal(x.shape)
    small = x + 2.0 * noise
    slow = small + 200.0 * np.sin(2 * np.pi * 5.0 * t)  # a big error far below the spike band
    both = spike_metrics(x, small, FS)
    assert both["spike_window_sndr_db"] == pytest.approx(spike_window_sndr_db(x, slow, FS), abs=0.5)
    worse = spike_window_sndr_db(x, x + 6.0 * noise, FS)
    assert worse < both["spike_window_sndr_db"]


def test_truth_channels_can_be_skipped(recording) -> None:
    _, times, x = recording
    assert spike_f1_truth([times[0], None, None, times[3]], x, FS) >= 0.97
    assert spike_f1_truth([None] * 4, x, FS) == 1.0
    with pytest.raises(BadInputError, match="truth spike trains"):
        spike_f1_truth(times[:2], x, FS)


def test_ignored_spikes_are_neither_hits_nor_false_positives(recording) -> None:
    _, times, x = recording
    half = [t[::2] for t in times]  # demand only every other spike...
    rest = [t[1::2] for t in times]
    without_ignore = spike_f1_truth(half, x, FS)
    assert without_ignore < 0.75  # ...so the others count as false positives
    assert spike_f1_truth(half, x, FS, ignore_times_per_channel=rest) >= 0.97


def test_bad_inputs_raise(recording) -> None:
    _, _, x = recording
    with pytest.raises(BadInputError, match="shape mismatch"):
        spike_f1(x, x[:3], FS)
    y = x.copy()
    y[2, 10] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        spike_f1(x, y, FS)
    with pytest.raises(BadInputError, match="NaN"):
        detect_spikes(y, FS)
    with pytest.raises(BadInputError, match="empty"):
        bandpass(x, 500.0)  # 300 Hz - 225 Hz: no band left
    with pytest.raises(BadInputError, match="thresholds"):
        detect_spikes(x, FS, thresholds=np.ones(3))
    with pytest.raises(BadInputError):
        match_events([1.0, np.nan], [1.0], 1)
    with pytest.raises(BadInputError):
        match_events([1], [1], -1)
