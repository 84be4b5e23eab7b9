"""recording_quality: the one call behind ``ratecraft bench``."""

import math

import numpy as np
import pytest

from ratecraft.errors import BadInputError
from ratecraft.metrics import recording_quality

FS = 20_000.0
KEYS = [
    "sndr_db",
    "prd_percent",
    "max_abs_error",
    "spike_f1",
    "spike_window_sndr_db",
    "lfp_band_error",
]


def _recording() -> np.ndarray:
    """int16 µV-like data: noise, 8 Hz LFP, and a few sharp negative spikes."""
    rng = np.random.default_rng(12)
    t = np.arange(round(3 * FS)) / FS
    x = 8.0 * rng.standard_normal((3, t.size)) + 80.0 * np.sin(2 * np.pi * 8.0 * t)
    x[:, 2000::3001] -= 150.0
    x[:, 2001::3001] -= 90.0
    return np.round(x).astype(np.int16)


def test_identical_recording() -> None:
    x = _recording()
    q = recording_quality(x, x, FS)
    assert list(q) == KEYS
    assert q["sndr_db"] == math.inf and q["spike_window_sndr_db"] == math.inf
    assert q["prd_percent"] == 0.0 and q["max_abs_error"] == 0.0
    assert q["spike_f1"] == 1.0 and q["lfp_band_error"] == 0.0


def test_lossy_recording_scores_worse() -> None:
    x = _recording()
    y = x + np.random.default_rng(13).integers(-2, 3, size=x.shape)
    q = recording_quality(x, y, FS)
    assert 20.0 < q["sndr_db"] < 40.0
    assert q["max_abs_error"] == 2.0
    assert q["spike_f1"] > 0.9
    assert 0.0 < q["lfp_band_error"] < 0.05


def test_low_rate_has_no_spike_metrics() -> None:
    x = _recording()[:, :4000].astype(np.float64)
    q = recording_quality(x, x + 1.0, 500.0)
    assert math.isnan(q["spike_f1"]) and math.isnan(q["spike_window_sndr_db"])
    assert q["max_abs_error"] == 1.0


def test_bad_inputs_raise() -> None:
    x = _recording()
    with pytest.raises(BadInputError, match="shape mismatch"):
        recording_quality(x, x[:, :-1], FS)
    with pytest.raises(BadInputError, match="NaN"):
        recording_quality(x, np.full(x.shape, np.nan), FS)
    with pytest.raises(BadInputError, match="sample rate"):
        recording_quality(x, x, -1.0)
