"""The benchmark runner: one honest record per input × codec × setting."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ratecraft import bench
from ratecraft.bench import RunRecord
from ratecraft.codecs import Budget, default_codecs, get_codec
from ratecraft.codecs import base as codec_base
from ratecraft.data.synthetic import simulate_recording
from ratecraft.data.types import Recording


def test_lossless_codecs_run_once_and_are_bit_exact(recording):
    lossless = [c for c in default_codecs() if not codec_base.codec_class(c).supports_lossy]
    assert set(lossless) == {"predictive", "flac", "zstd", "lzma"}
    records = bench.run_bench([("rec", recording)], lossless, [Budget(ratio=10)])
    assert all(isinstance(r, RunRecord) for r in records)
    assert [r.codec for r in records] == lossless
    for r in records:
        assert r.status == "ok" and r.setting == "lossless" and r.lossless
        assert r.bit_exact is True and r.budget_met is True
        assert r.sndr_db == math.inf and r.spike_f1 == 1.0
        assert r.container_bytes and r.container_bytes < r.raw_bytes
        assert r.ratio == pytest.approx(r.raw_bytes / r.container_bytes)
        assert r.n_samples == recording.samples.size
        assert r.bits_per_sample == pytest.approx(8 * r.container_bytes / r.n_samples)
        assert r.encode_samples_per_s > 0 and r.decode_samples_per_s > 0
        assert r.model_bytes == 0  # nothing trained: the decoder needs no model


def test_lossy_codec_runs_at_every_setting(recording):
    settings = [Budget(ratio=6), Budget(ratio=12), Budget(max_error=20)]
    records = bench.run_bench([("rec", recording)], ["quant"], settings)
    assert [r.setting for r in records] == ["ratio=6", "ratio=12", "max_error=20"]
    for r in records:
        assert r.status == "ok", r.error
        assert not r.lossless and math.isfinite(r.sndr_db)
    assert records[0].sndr_db > records[1].sndr_db  # more bits, less distortion
    assert records[1].ratio >= 12 and records[1].budget_met
    assert records[2].max_abs_error <= 20 and records[2].budget_met
    assert records[2].target_max_error == 20 and records[2].target_ratio is None


def test_settings_per_input_and_truth_f1(recording):
    rec, truth = simulate_recording(n_channels=2, duration_s=0.2, seed=4)
    records = bench.run_bench(
        [("a", recording), ("b", rec)], ["zstd"], {"a": [], "b": []}, truths={"b": truth}
    )
    assert [r.input for r in records] == ["a", "b"]
    assert records[0].spike_f1_truth is None
    assert 0.0 <= records[1].spike_f1_truth <= 1.0


def test_nan_table_refused_or_exact_with_family_nmse(nan_table):
    records = bench.run_bench([("t", nan_table)], ["predictive", "zstd"], [])
    refused, exact = records
    assert refused.status == "refused" and "NaN" in refused.error
    assert refused.container_bytes is None and refused.ratio is None
    assert exact.status == "ok" and exact.bit_exact is True
    assert exact.family_nmse == {"a": 0.0, "b": 0.0, "c": 0.0}
    assert exact.sndr_db == math.inf and exact.spike_f1 is None
    assert exact.kind == "table" and exact.shape == [120, 6] and exact.sample_rate is None
    table = bench.markdown_table(records)
    assert "n/a (refused: predictive: input contains NaN" in table
    assert "family NMSE" in table
    assert bench.failures(records) == []


def test_broken_lossless_codec_is_a_failure(recording, fake_codecs):
    records = bench.run_bench([("rec", recording)], ["test-off-by-one"], [])
    (r,) = records
    assert r.status == "failed" and r.bit_exact is False
    assert "not bit-exact" in r.error
    assert bench.failures(records) == [r]
    assert "FAILED: lossless round trip is not bit-exact" in bench.markdown_table(records)


def test_exceeded_max_error_is_a_failure_but_missed_ratio_is_not(recording, fake_codecs):
    records = bench.run_bench(
        [("rec", recording)], ["test-too-lossy"], [Budget(max_error=5), Budget(ratio=3)]
    )
    bound, ratio = records
    assert bound.status == "failed" and bound.budget_met is False
    assert "exceeds the budget 5" in bound.error
    assert ratio.status == "ok" and ratio.budget_met is False  # raw storage: ratio < 3


def test_unknown_codec_fails_before_running(recording):
    with pytest.raises(KeyError, match="unknown codec"):
        bench.run_bench([("rec", recording)], ["zstd", "no-such-codec"], [])


def test_on_result_sees_every_run_with_its_reconstruction(recording, nan_table):
    seen = []
    bench.run_bench(
        [("rec", recording), ("t", nan_table)],
        ["predictive"],
        [],
        on_result=lambda r, data, recon: seen.append((r.input, r.status, recon is not None)),
    )
    assert seen == [("rec", "ok", True), ("t", "refused", False)]


def test_best_of_repeats_after_a_warm_up(recording):
    record, recon = bench.run_one("rec", recording, "predictive", bench.LOSSLESS, repeats=3)
    assert record.status == "ok" and record.bit_exact
    assert isinstance(recon, Recording) and np.array_equal(recon.samples, recording.samples)
    assert record.encode_seconds > 0 and record.decode_seconds > 0


def test_repeats_that_write_other_bytes_are_a_failure(recording, fake_codecs):
    record, _ = bench.run_one("rec", recording, "test-unstable", bench.LOSSLESS, repeats=2)
    assert record.status == "failed" and "different bytes" in record.error
    once, _ = bench.run_one("rec", recording, "test-unstable", bench.LOSSLESS)
    assert once.status == "ok" and once.bit_exact  # one run cannot tell


def test_measure_false_scores_exactness_only(recording):
    record, _ = bench.run_one("rec", recording, "zstd", bench.LOSSLESS, measure=False)
    assert record.bit_exact is True and record.budget_met is True
    assert record.sndr_db is None and record.spike_f1 is None


def test_fit_data_and_config_and_extra_figures(recording, fake_codecs):
    train = simulate_recording(n_channels=5, duration_s=0.1, seed=9)[0]

    def extra(original, recon, codec):
        return {"fitted_on": codec.fitted_on, "level": codec.config.level}

    record, recon = bench.run_one(
        "rec",
        recording,
        "test-fit-spy",
        Budget(ratio=8),
        fit_data=train,
        config={"level": 3},
        extra=extra,
    )
    assert record.status == "ok", record.error
    assert record.extra == {"fitted_on": [5, train.n_samples], "level": 3}
    assert recon.samples.shape == recording.samples.shape  # the coded data, not the training data
    plain, _ = bench.run_one("rec", recording, "test-fit-spy", Budget(ratio=8), extra=extra)
    assert plain.extra == {"fitted_on": [3, recording.n_samples], "level": 0}


def test_a_trained_codec_runs_as_trained(recording):
    trained = get_codec("quant").fit(recording, Budget(ratio=10))
    (r,) = bench.run_bench([("rec", recording)], [], [], models=[trained])
    assert r.codec == "quant" and r.setting == "ratio=10" and r.status == "ok"
    assert r.fit_seconds == 0.0 and r.ratio >= 10


def _peer(recording, reconstruction, setting="-9e", **kw):
    kw.setdefault("container_bytes", 1000)
    return bench.record_peer(
        "rec",
        recording,
        "xz",
        setting,
        encode_seconds=0.01,
        decode_seconds=0.02,
        reconstruction=reconstruction,
        **kw,
    )


def test_peer_records_are_scored_like_codecs(recording):
    exact = _peer(recording, recording, lossless=True, measure=False)
    assert exact.status == "ok" and exact.bit_exact and exact.budget_met
    assert exact.ratio == recording.samples.nbytes / 1000 and exact.model_bytes == 0
    assert exact.sndr_db is None  # measure=False: exactness only
    damaged = Recording(samples=recording.samples + 1, sample_rate=recording.sample_rate)
    bad = _peer(recording, damaged, lossless=True)
    assert bad.status == "failed" and "not bit-exact" in bad.error
    lossy = _peer(
        recording,
        damaged,
        Budget(ratio=2),
        container_bytes=recording.samples.nbytes // 4,
        extra=lambda x, y, codec: {"offset": float((y.samples - x.samples).mean())},
    )
    assert lossy.status == "ok" and lossy.budget_met and lossy.max_abs_error == 1.0
    assert lossy.extra == {"offset": 1.0} and lossy.target_ratio == 2
    assert lossy.setting == "ratio=2" and not lossy.lossless
