"""The synthetic generators are deterministic, well-formed and realistic where codecs care."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt

from ratecraft.data.synthetic import (
    FAMILY_SIZES,
    RecordingSimConfig,
    simulate_recording,
    simulate_table,
)
from ratecraft.errors import BadInputError


@pytest.fixture(scope="module")
def default_recording():
    return simulate_recording(seed=3)


@pytest.fixture(scope="module")
def default_table():
    return simulate_table(seed=5)


def test_recording_is_deterministic_per_seed():
    a, ta = simulate_recording(n_channels=8, duration_s=0.5, seed=11)
    b, tb = simulate_recording(RecordingSimConfig(n_channels=8, duration_s=0.5, seed=11))
    c, tc = simulate_recording(n_channels=8, duration_s=0.5, seed=12)
    assert np.array_equal(a.samples, b.samples)
    assert np.array_equal(ta.events, tb.events)
    assert not np.array_equal(a.samples, c.samples)
    assert not np.array_equal(ta.events, tc.events)


def test_recording_shapes_and_dtypes(default_recording):
    rec, truth = default_recording
    assert rec.samples.shape == (16, 60000)
    assert rec.samples.dtype == np.int16
    assert rec.sample_rate == 30000.0 and rec.uv_per_step == 0.195
    assert np.array_equal(rec.channel_positions[:, 1], np.arange(16) * 25.0)
    assert truth.n_units == 24 and truth.n_channels == 16
    assert all(t.dtype == np.int64 for t in truth.unit_times)
    assert truth.events.dtype == np.int64 and truth.events.shape[1] == 2
    wide, _ = simulate_recording(n_channels=2, duration_s=0.1, adc_bits=24, uv_per_step=0.001)
    assert wide.samples.dtype == np.int32
    assert np.abs(wide.samples).max() > 2**15  # the finer step needs more than 16 bits


def test_sparse_grid_looks_like_a_scaled_10_bit_adc():
    rec, _ = simulate_recording(sparse_grid=True, seed=1)
    values = np.unique(rec.samples).astype(np.int64)
    assert rec.samples.dtype == np.int16
    assert 90 <= values.size <= 600  # like the real implant files (90-345 codes)
    assert np.gcd.reduce(values) == 1  # not a multiple of any integer > 1
    steps = np.diff(values)
    assert steps.min() >= 64 and {64, 65} <= set(steps.tolist())  # gain 65535/1023 ≈ 64.06
    assert rec.meta["adc"]["bits"] == 10


def test_sparse_grid_keeps_microvolts_consistent():
    plain, _ = simulate_recording(n_channels=4, duration_s=0.5, seed=2)
    sparse, _ = simulate_recording(n_channels=4, duration_s=0.5, seed=2, sparse_grid=True)
    adc = sparse.meta["adc"]
    code_step_uv = adc["code_gain"] * sparse.uv_per_step
    error = sparse.microvolts() + adc["dc_offset_uv"] - plain.microvolts()
    rounding = (code_step_uv + sparse.uv_per_step + plain.uv_per_step) / 2  # three roundings
    dnl = 3 * sparse.meta["synthetic"]["adc_dnl"] * code_step_uv  # code edges off by up to 3σ
    assert np.abs(error).max() <= rounding + dnl  # the ADC's code widths vary (adc_dnl) ...
    ideal, _ = simulate_recording(
        n_channels=4, duration_s=0.5, seed=2, sparse_grid=True, adc_dnl=0.0
    )  # ... and an ideal one only rounds
    error = ideal.microvolts() + ideal.meta["adc"]["dc_offset_uv"] - plain.microvolts()
    assert np.abs(error).max() <= rounding + 1e-9


def test_spike_truth_is_consistent_and_refractory(default_recording):
    rec, truth = default_recording
    refractory = math.ceil(2e-3 * rec.sample_rate)
    for times in truth.unit_times:
        assert np.all(np.diff(times) >= refractory)
    assert np.all(np.diff(truth.events[:, 0]) >= 0)
    assert len(truth.events) == sum(t.size for t in truth.unit_times)
    per_channel = [truth.times_on_channel(ch) for ch in range(truth.n_channels)]
    assert sum(t.size for t in per_channel) == len(truth.events)
    assert all(np.all(np.diff(t) >= 0) for t in per_channel)
    rate = len(truth.events) / truth.n_units / rec.duration_s
    assert 1.0 <= rate <= 30.0
    _, short = simulate_recording(n_channels=4, duration_s=1.0, refractory_ms=1.5, seed=4)
    assert all(np.all(np.diff(t) >= 45) for t in short.unit_times)


def test_adjacent_channels_are_correlated(default_recording):
    rec, _ = default_recording
    corr = np.corrcoef(rec.microvolts())
    adjacent = np.diag(corr, 1)
    assert adjacent.mean() > 0.5


def test_crude_detector_finds_ground_truth_spikes(default_recording):
    rec, truth = default_recording
    sos = butter(3, [300.0, 6000.0], btype="band", fs=rec.sample_rate, output="sos")
    filtered = sosfiltfilt(sos, rec.microvolts(), axis=1)
    tolerance = round(0.5e-3 * rec.sample_rate)
    found = total = 0
    for ch, trace in enumerate(filtered):
        expected = truth.times_on_channel(ch)
        threshold = -4.5 * np.median(np.abs(trace)) / 0.6745
        crossings = np.flatnonzero((trace[1:] < threshold) & (trace[:-1] >= threshold)) + 1
        if expected.size == 0 or crossings.size == 0:
            total += expected.size
            continue
        right = np.clip(np.searchsorted(crossings, expected), 0, crossings.size - 1)
        left = np.clip(right - 1, 0, crossings.size - 1)
        gap = np.minimum(np.abs(crossings[right] - expected), np.abs(crossings[left] - expected))
        found += int(np.sum(gap <= tolerance))
        total += expected.size
    assert total > 0 and found / total >= 0.6


def test_spike_waveform_has_trough_then_hump(default_recording):
    rec, truth = default_recording
    unit = int(np.argmax([t.size for t in truth.unit_times]))
    trace = rec.microvolts()[truth.peak_channels[unit]]
    pre, post = 24, 54
    times = truth.unit_times[unit]
    snippets = trace[times[:, None] + np.arange(-pre, post)]
    average = snippets.mean(axis=0) - np.median(snippets[:, :8])
    assert abs(int(np.argmin(average)) - pre) <= 2
    trough = -average.min()
    assert 0.5 * truth.peak_amplitudes_uv[unit] < trough < 1.5 * truth.peak_amplitudes_uv[unit]
    assert average[pre + 3 :].max() > 0.05 * trough


def test_recording_rejects_bad_options():
    with pytest.raises(BadInputError):
        simulate_recording(n_channels=0)
    with pytest.raises(BadInputError):
        simulate_recording(sparse_grid=True, adc_bits=16)
    with pytest.raises(BadInputError):
        simulate_recording(n_chanels=4)
    with pytest.raises(BadInputError):
        simulate_recording(duration_s=float("nan"))
    _, truth = simulate_recording(n_channels=2, duration_s=0.1)
    with pytest.raises(BadInputError):
        truth.times_on_channel(2)


def test_table_is_deterministic_per_seed(default_table):
    again = simulate_table(seed=5)
    other = simulate_table(seed=6)
    assert np.array_equal(default_table.values, again.values, equal_nan=True)
    assert not np.array_equal(default_table.values, other.values, equal_nan=True)


def test_table_shapes_families_and_names(default_table):
    table = default_table
    assert table.values.shape == (2000, sum(FAMILY_SIZES.values()))
    assert table.values.dtype == np.float64
    indices = table.family_indices()
    assert list(indices) == ["initial", "summary", "temporal"]
    assert {k: v.size for k, v in indices.items()} == FAMILY_SIZES
    assert table.feature_names[12 + 7] == "summary_07"


def test_table_has_pathological_columns(default_table):
    table = default_table
    column = dict(zip(table.feature_names, table.values.T, strict=True))
    (constant,) = table.meta["constant_columns"]
    assert np.all(column[constant] == column[constant][0])
    (with_nan,) = table.meta["nan_columns"]
    assert 0.25 <= np.isnan(column[with_nan]).mean() <= 0.35
    ((copy, original),) = table.meta["duplicate_columns"].items()
    assert np.array_equal(column[copy], column[original])


def test_table_scales_and_structure(default_table):
    values = default_table.values
    medians = np.nanmedian(np.abs(values), axis=0)
    assert medians.min() <= 1e-3 and medians.max() >= 1e4
    temporal = values[:, default_table.family_indices()["temporal"]]
    neighbour = np.diag(np.corrcoef(temporal.T), 1)
    assert neighbour.mean() > 0.8
    initial = values[:, default_table.family_indices()["initial"][:10]]  # the affine ones
    z = (initial - initial.mean(axis=0)) / initial.std(axis=0)
    energy = np.linalg.svd(z, compute_uv=False) ** 2
    assert energy[:4].sum() / energy.sum() > 0.9  # four latents explain the family


def test_table_family_subset_matches_full_table(default_table):
    only = simulate_table(seed=5, families=["temporal"], n_samples=2000)
    full = default_table.values[:, default_table.family_indices()["temporal"]]
    assert np.array_equal(only.values, full)
    assert only.families == ["temporal"] * FAMILY_SIZES["temporal"]


def test_table_rejects_bad_options():
    with pytest.raises(BadInputError):
        simulate_table(families=["nope"])
    with pytest.raises(BadInputError):
        simulate_table(nan_fraction=1.0)
    with pytest.raises(BadInputError):
        simulate_table(n_sample=10)


def test_spikes_are_visible_on_neighbouring_electrodes() -> None:
    _, truth = simulate_recording(n_channels=8, duration_s=1.0, seed=4)
    u = int(np.argmax(truth.peak_amplitudes_uv))
    peak = int(truth.peak_channels[u])
    amps = truth.channel_amplitudes_uv[u]
    assert amps[peak] == pytest.approx(truth.peak_amplitudes_uv[u], rel=0.5)
    assert amps.argmax() == peak
    low = 0.2 * amps[peak]
    neighbours = [c for c in range(8) if c != peak and amps[c] >= low]
    assert neighbours, "a strong unit should reach at least one neighbour"
    seen = truth.times_on_channel(neighbours[0], min_amplitude_uv=low)
    assert np.isin(truth.unit_times[u], seen).all()
