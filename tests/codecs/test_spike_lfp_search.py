"""spike-lfp's knob choice on recordings without a spike criterion: LFP and ECoG at 1 kHz."""

from __future__ import annotations

import math

import numpy as np

from ratecraft.codecs import Budget, get_codec
from ratecraft.codecs.learned.spike_lfp_search import best_candidate
from ratecraft.data.types import Recording


def _cand(f1: float, own: float, lfp: float, sw: float = 0.0) -> dict:
    return {"spike_f1": f1, "spike_f1_own_threshold": own, "lfp_sndr_db": lfp,
            "spike_window_sndr_db": sw}  # fmt: skip


def test_conflicting_f1s_fall_back_to_the_originals_thresholds() -> None:
    tried = [_cand(0.06, 0.8, 22.3), _cand(0.5, 0.001, 21.7), _cand(0.49, 0.0, 25.0)]
    assert best_candidate(tried) is tried[2]  # near the best original F1, best SNDR


def test_nan_spike_scores_leave_the_choice_to_the_sndrs() -> None:
    nan = math.nan
    tried = [_cand(nan, nan, 20.0), _cand(nan, nan, 24.0), _cand(nan, nan, 23.0)]
    assert best_candidate(tried) is tried[1]


def test_spike_free_lfp_at_1_khz_fits_and_meets_its_ratio() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(5000) / 1000.0
    lfp = 100 * np.sin(2 * np.pi * 8 * t)[None, :] + rng.normal(0, 10, (8, t.size))
    rec = Recording(samples=lfp.astype(np.int16), sample_rate=1000.0)
    codec = get_codec("spike-lfp").fit(rec, Budget(ratio=20))
    blob, stats = codec.encode_with_stats(rec)
    assert stats.ratio >= 20 * 0.95
    back = codec.decode(blob)
    assert back.samples.shape == rec.samples.shape
