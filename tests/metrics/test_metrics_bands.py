"""LFP band-power error: zero for identical signals, large only in the band that changed."""

import math

import numpy as np
import pytest

from ratecraft.errors import BadInputError
from ratecraft.metrics import LFP_BANDS, band_power_error, lfp_band_power_error_mean

FS = 1000.0


def _lfp(theta_gain: float = 1.0, seconds: float = 8.0, n_channels: int = 3):
    t = np.arange(round(seconds * FS)) / FS
    rhythms = {"delta": 2.0, "theta": 6.0, "alpha": 10.0, "beta": 20.0, "gamma": 50.0}
    rng = np.random.default_rng(3)
    out = 0.3 * rng.standard_normal((n_channels, t.size))
    for name, f in rhythms.items():
        gain = theta_gain if name == "theta" else 1.0
        phase = rng.uniform(0, 2 * np.pi, size=(n_channels, 1))
        out += gain * 5.0 * np.sin(2 * np.pi * f * t + phase)
    return out


def test_identical_signals_have_zero_error() -> None:
    x = _lfp()
    errors = band_power_error(x, x, FS)
    assert set(errors) == set(LFP_BANDS)
    assert all(v == 0.0 for v in errors.values())
    assert lfp_band_power_error_mean(x, x, FS) == 0.0


def test_scaled_theta_is_detected_in_theta_only() -> None:
    x = _lfp()
    y = _lfp(theta_gain=0.5)  # same noise and phases (same seed), theta at half amplitude
    errors = band_power_error(x, y, FS)
    assert errors["theta"] == pytest.approx(0.75, abs=0.05)  # power scales by 0.25
    for name in ("delta", "alpha", "beta", "gamma"):
        assert errors[name] < 0.05


def test_unresolvable_bands_are_skipped() -> None:
    x = _lfp(seconds=4.0)
    assert "gamma" not in band_power_error(x, x, 100.0)  # 30-80 Hz is above Nyquist at 100 Hz
    short = band_power_error(x[:, :64], x[:, :64] * 1.1, FS)  # 15.6 Hz bins
    assert set(short) == {"gamma"}
    assert short["gamma"] == pytest.approx(0.21)
    assert math.isnan(lfp_band_power_error_mean(x[:, :8], x[:, :8], FS))


def test_custom_bands_and_bad_inputs() -> None:
    x = _lfp(seconds=2.0)
    assert set(band_power_error(x, 2 * x, FS, bands={"low": (1.0, 40.0)})) == {"low"}
    assert band_power_error(x, 2 * x, FS, bands={"low": (1.0, 40.0)})["low"] == pytest.approx(3.0)
    with pytest.raises(BadInputError):
        band_power_error(x, x, FS, bands={"bad": (10.0, 5.0)})
    with pytest.raises(BadInputError, match="shape mismatch"):
        band_power_error(x, x[:2], FS)
    y = x.copy()
    y[0, 0] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        band_power_error(x, y, FS)
    with pytest.raises(BadInputError, match="sample rate"):
        band_power_error(x, x, 0.0)
