"""The benchmark runner: one honest record per input × codec × setting."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ratecraft import bench
from ratecraft.codecs import Budget, default_codecs
from ratecraft.codecs import base as codec_base
from ratecraft.codecs.base import BlockContext, BlockResult, Codec
from ratecraft.data.synthetic import simulate_recording
from ratecraft.data.types import FeatureTable, Recording


@pytest.fixture(scope="module")
def recording() -> Recording:
    return simulate_recording(n_channels=3, duration_s=0.2, seed=3)[0]


@pytest.fixture(scope="module")
def nan_table() -> FeatureTable:
    values = np.random.default_rng(2).standard_normal((120, 6))
    values[::7, 2] = np.nan
    return FeatureTable(values=values, families=["a", "a", "b", "b", "b", "c"])


class _Raw(Codec):
    """Stores the raw bytes; subclasses damage the decoded block."""

    version = 1

    def encode_block(self, block: np.ndarray, ctx: BlockContext) -> BlockResult:
        return BlockResult(block.tobytes())

    def decode_block(self, payload, ctx: BlockContext) -> np.ndarray:
        out = np.frombuffer(bytes(payload), dtype=ctx.dtype).reshape(ctx.rows, ctx.frames)
        return self.damage(out.copy())

    def damage(self, block: np.ndarray) -> np.ndarray:
        return block


class _OffByOne(_Raw):
    name = "test-off-by-one"

    def damage(self, block):
        block[0, 0] += 1
        return block


class _TooLossy(_Raw):
    name = "test-too-lossy"
    supports_lossy = True

    def damage(self, block):
        block[0, :10] += 1000
        return block


@pytest.fixture
def fake_codecs(monkeypatch):
    for cls in (_OffByOne, _TooLossy):
        monkeypatch.setitem(codec_base.CODECS._loaded, cls.name, cls)


def test_lossless_codecs_run_once_and_are_bit_exact(recording):
    lossless = [c for c in default_codecs() if not codec_base.codec_class(c).supports_lossy]
    assert set(lossless) == {"predictive", "flac", "zstd", "lzma"}
    records = bench.run_bench([("rec", recording)], lossless, [Budget(ratio=10)])
    assert [r["codec"] for r in records] == lossless
    for r in records:
        assert r["status"] == "ok" and r["setting"] == "lossless" and r["lossless"]
        assert r["bit_exact"] is True and r["budget_met"] is True
        assert r["sndr_db"] == math.inf and r["spike_f1"] == 1.0
        assert r["ratio"] == pytest.approx(r["raw_bytes"] / r["container_bytes"])
        assert r["bits_per_sample"] == pytest.approx(8 * r["container_bytes"] / r["n_samples"])
        assert r["encode_samples_per_s"] > 0 and r["decode_samples_per_s"] > 0


def test_lossy_codec_runs_at_every_setting(recording):
    settings = [Budget(ratio=6), Budget(ratio=12), Budget(max_error=20)]
    records = bench.run_bench([("rec", recording)], ["quant"], settings)
    assert [r["setting"] for r in records] == ["ratio=6", "ratio=12", "max_error=20"]
    for r in records:
        assert r["status"] == "ok", r["error"]
        assert not r["lossless"] and math.isfinite(r["sndr_db"])
    assert records[0]["sndr_db"] > records[1]["sndr_db"]  # more bits, less distortion
    assert records[2]["max_abs_error"] <= 20 and records[2]["budget_met"]


def test_settings_per_input_and_truth_f1(recording):
    rec, truth = simulate_recording(n_channels=2, duration_s=0.2, seed=4)
    records = bench.run_bench(
        [("a", recording), ("b", rec)], ["zstd"], {"a": [], "b": []}, truths={"b": truth}
    )
    assert [r["input"] for r in records] == ["a", "b"]
    assert records[0]["spike_f1_truth"] is None
    assert 0.0 <= records[1]["spike_f1_truth"] <= 1.0


def test_nan_table_refused_or_exact_with_family_nmse(nan_table):
    records = bench.run_bench([("t", nan_table)], ["predictive", "zstd"], [])
    refused, exact = records
    assert refused["status"] == "refused" and "NaN" in refused["error"]
    assert exact["status"] == "ok" and exact["bit_exact"] is True
    assert exact["family_nmse"] == {"a": 0.0, "b": 0.0, "c": 0.0}
    assert exact["sndr_db"] == math.inf and exact["spike_f1"] is None
    table = bench.markdown_table(records)
    assert "n/a (refused: predictive: input contains NaN" in table
    assert "family NMSE" in table
    assert bench.failures(records) == []


def test_broken_lossless_codec_is_a_failure(recording, fake_codecs):
    records = bench.run_bench([("rec", recording)], ["test-off-by-one"], [])
    (r,) = records
    assert r["status"] == "failed" and r["bit_exact"] is False
    assert "not bit-exact" in r["error"]
    assert bench.failures(records) == [r]
    assert "FAILED: lossless round trip is not bit-exact" in bench.markdown_table(records)


def test_exceeded_max_error_is_a_failure_but_missed_ratio_is_not(recording, fake_codecs):
    records = bench.run_bench(
        [("rec", recording)], ["test-too-lossy"], [Budget(max_error=5), Budget(ratio=3)]
    )
    bound, ratio = records
    assert bound["status"] == "failed" and bound["budget_met"] is False
    assert "exceeds the budget 5" in bound["error"]
    assert ratio["status"] == "ok" and ratio["budget_met"] is False  # raw storage: ratio < 3


def test_unknown_codec_fails_before_running(recording):
    with pytest.raises(KeyError, match="unknown codec"):
        bench.run_bench([("rec", recording)], ["zstd", "no-such-codec"], [])


def test_json_is_strict_and_safe():
    records = [
        {
            "sndr_db": math.inf,
            "x": -math.inf,
            "nan": math.nan,
            "np": np.float32(1.5),
            "fam": {"a": math.nan},
        }
    ]
    text = bench.records_to_json(records)

    def refuse(token):
        raise AssertionError(f"non-standard JSON token {token}")

    (doc,) = json.loads(text, parse_constant=refuse)
    assert doc == {"sndr_db": 1e308, "x": -1e308, "nan": None, "np": 1.5, "fam": {"a": None}}


def test_table_sndr_skips_missing_entries():
    x = np.array([[1.0, np.nan], [3.0, 4.0], [5.0, 8.0]])
    assert bench.table_sndr_db(x, np.where(np.isnan(x), 0.0, x)) == math.inf
    y = x.copy()
    y[0, 0] += 1.0
    power = (1 - 3) ** 2 + (3 - 3) ** 2 + (5 - 3) ** 2 + (4 - 6) ** 2 + (8 - 6) ** 2
    assert bench.table_sndr_db(x, y) == pytest.approx(10 * math.log10(power / 1.0))
    y[1, 1] = np.nan
    assert math.isnan(bench.table_sndr_db(x, y))
