"""Waveform metrics: SNDR, PRD and max error on hand-checkable signals."""

import itertools
import math

import numpy as np
import pytest

from ratecraft.errors import BadInputError
from ratecraft.metrics import max_abs_error, prd_percent, sndr_db


def _sine(n_channels: int = 4, n: int = 50_000, amp: float = 3.0, dc: float = 100.0):
    t = np.arange(n)
    cycle = np.sin(2 * np.pi * 50 * t / n)  # a whole number of periods: mean power amp²/2
    return dc + amp * np.tile(cycle, (n_channels, 1))


def test_identical_signals_are_perfect() -> None:
    x = np.random.default_rng(0).integers(-500, 500, size=(3, 1000)).astype(np.int16)
    assert sndr_db(x, x) == math.inf
    assert prd_percent(x, x) == 0.0
    assert max_abs_error(x, x) == 0.0


def test_sndr_matches_analytic_value_for_sine_plus_noise() -> None:
    amp, sigma = 3.0, 0.5
    x = _sine(amp=amp)
    noise = np.random.default_rng(1).normal(0.0, sigma, size=x.shape)
    expected = 10 * math.log10((amp**2 / 2) / sigma**2)  # DC offset removed from signal power
    assert sndr_db(x, x + noise) == pytest.approx(expected, abs=0.2)


def test_sndr_falls_and_prd_rises_with_noise() -> None:
    x = _sine()
    noise = np.random.default_rng(2).standard_normal(x.shape)
    scales = [1e-3, 1e-2, 0.1, 1.0, 10.0]
    sndr = [sndr_db(x, x + s * noise) for s in scales]
    prd = [prd_percent(x, x + s * noise) for s in scales]
    assert all(a > b for a, b in itertools.pairwise(sndr))
    assert all(a < b for a, b in itertools.pairwise(prd))
    # PRD and SNDR share a mean-removed denominator: SNDR = -20 log10(PRD / 100).
    assert sndr[2] == pytest.approx(-20 * math.log10(prd[2] / 100))


def test_max_abs_error_and_int_inputs() -> None:
    x = np.array([[0, 10, 20], [5, 5, 5]], dtype=np.int16)
    y = np.array([[1, 10, 17], [5, 6, 5]], dtype=np.int32)
    assert max_abs_error(x, y) == 3.0
    # uint wrap-around must not happen: computed in float64
    assert max_abs_error(np.array([[0]], np.uint8), np.array([[255]], np.uint8)) == 255.0


def test_constant_original_is_handled() -> None:
    x = np.full((2, 100), 7.0)
    assert sndr_db(x, x + 1) == -math.inf
    assert prd_percent(x, x + 1) == math.inf


@pytest.mark.parametrize("fn", [sndr_db, prd_percent, max_abs_error])
def test_bad_inputs_raise(fn) -> None:
    x = np.zeros((2, 10))
    with pytest.raises(BadInputError, match="shape mismatch"):
        fn(x, np.zeros((2, 11)))
    bad = x.copy()
    bad[1, 3] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        fn(x, bad)
    with pytest.raises(BadInputError, match="NaN"):
        fn(bad, x)
    with pytest.raises(BadInputError):
        fn(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
