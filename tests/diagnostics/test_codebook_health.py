"""Codebook health metrics on constructed cases."""

import numpy as np
import pytest

from ratecraft.errors import BadInputError
from ratecraft.metrics.codebook import (
    code_counts,
    codebook_health,
    dead_code_fraction,
    perplexity,
    utilization,
)


def test_all_codes_used_equally():
    idx = np.tile(np.arange(16), 10)
    h = codebook_health(idx, 16)
    assert h["utilization"] == 1.0 and h["dead_fraction"] == 0.0 and h["dead_codes"] == 0
    assert h["perplexity"] == pytest.approx(16.0)


def test_one_code_used():
    counts = code_counts(np.full(100, 3), 8)
    assert utilization(counts) == 1 / 8
    assert dead_code_fraction(counts) == 7 / 8
    assert perplexity(counts) == pytest.approx(1.0)


def test_rarely_used_codes_count_as_dead():
    counts = np.array([1000, 1000, 1000, 1])  # the last one is used, far below its fair share
    assert utilization(counts) == 1.0
    assert dead_code_fraction(counts) == 0.25
    assert dead_code_fraction(counts, min_share=0.0) == 0.0
    assert dead_code_fraction(np.zeros(4)) == 1.0


def test_bad_inputs():
    with pytest.raises(BadInputError):
        code_counts(np.array([0, 9]), 8)
    with pytest.raises(BadInputError):
        code_counts(np.array([0.5]), 8)
    with pytest.raises(BadInputError):
        perplexity(np.array([]))
