"""The typed run record: identity from the data, rates derived from sizes and times."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ratecraft.bench import RunRecord, combine
from ratecraft.codecs import Budget
from ratecraft.data.types import FeatureTable, Recording


def _recording(channels: int = 4, frames: int = 1000, fs: float = 20000.0) -> Recording:
    samples = np.arange(channels * frames, dtype=np.int16).reshape(channels, frames)
    return Recording(samples=samples, sample_rate=fs)


def test_start_takes_identity_and_targets_from_data_and_budget():
    r = RunRecord.start("x", _recording(), "quant", Budget(max_error=4))
    assert (r.kind, r.shape, r.dtype, r.sample_rate) == ("recording", [4, 1000], "int16", 20000.0)
    assert (r.setting, r.lossless, r.target_max_error, r.target_ratio) == (
        "max_error=4",
        False,
        4,
        None,
    )
    assert r.raw_bytes == 8000 and r.n_samples == 4000 and r.status == "ok"
    peer = RunRecord.start("x", _recording(), "xz", "-9e", lossless=True)
    assert peer.setting == "-9e" and peer.lossless and peer.target_ratio is None


def test_bits_per_sample_is_per_stored_value_for_tables_too():
    table = FeatureTable(values=np.zeros((50, 8)))
    r = RunRecord.start("t", table, "zstd", Budget(lossless=True))
    assert r.kind == "table" and r.shape == [50, 8] and r.n_samples == 400
    r.set(container_bytes=100, estimated_bits=200.0)
    assert r.bits_per_sample == pytest.approx(8 * 100 / 400)  # per value, not per row (16)
    assert r.est_bits_per_sample == pytest.approx(0.5)
    assert r.ratio == pytest.approx(50 * 8 * 8 / 100)


def test_rates_follow_the_measured_times():
    r = RunRecord.start("x", _recording(), "c", Budget(lossless=True))
    assert r.ratio is None and r.encode_samples_per_s is None and r.encode_x_realtime is None
    r.set(container_bytes=4000, encode_seconds=0.5, decode_seconds=0.25)
    assert r.encode_samples_per_s == pytest.approx(8000.0)
    assert r.decode_samples_per_s == pytest.approx(16000.0)
    assert r.realtime_rate == 4 * 20000.0
    assert r.encode_x_realtime == pytest.approx(8000.0 / 80000.0)


def test_family_worst_best():
    r = RunRecord.start("t", FeatureTable(values=np.zeros((5, 3))), "c", Budget(ratio=2))
    assert r.family_worst_best is None
    r.family_nmse = {"a": 0.1, "b": 0.4, "c": math.nan}
    assert r.family_worst_best == pytest.approx(4.0)
    r.family_nmse = {"a": 0.0, "b": 0.4}
    assert r.family_worst_best == math.inf


def test_set_refuses_unknown_fields():
    r = RunRecord.start("x", _recording(), "c", Budget(lossless=True))
    with pytest.raises(AttributeError, match="no field 'sndr'"):
        r.set(sndr=3.0)
    with pytest.raises(AttributeError):
        r.set(extra={})


def test_to_json_has_fields_derived_rates_then_extra():
    r = RunRecord.start("x", _recording(), "c", Budget(ratio=4))
    r.set(container_bytes=2000, encode_seconds=1.0, decode_seconds=1.0)
    r.family_nmse = {"a": 1.0}
    r.extra["lfp_sndr_db"] = 12.5
    doc = r.to_json()
    keys = list(doc)
    assert keys[0] == "input" and keys[-1] == "lfp_sndr_db"
    assert keys.index("ratio") == keys.index("container_bytes") + 1
    assert doc["ratio"] == 4.0 and doc["bits_per_sample"] == 4.0
    assert doc["encode_x_realtime"] == pytest.approx(4000 / 80000)
    assert doc["family_nmse"] == {"a": 1.0} and doc["family_nmse"] is not r.family_nmse
    assert "extra" not in doc
    r.extra["ratio"] = 1.0
    with pytest.raises(ValueError, match="shadow record fields: ratio"):
        r.to_json()


def test_combine_sums_parts_into_one_dataset_record():
    parts = []
    for i, size in enumerate((2000, 4000)):
        r = RunRecord.start(f"d[{i}]", _recording(), "c", Budget(lossless=True))
        r.set(
            container_bytes=size,
            estimated_bits=8.0 * size,
            encode_seconds=0.5,
            decode_seconds=0.25,
            bit_exact=True,
            budget_met=True,
        )
        parts.append(r)
    total = combine(parts, "d")
    assert total.input == "d" and total.shape == [4, 2000]
    assert total.raw_bytes == 16000 and total.container_bytes == 6000
    assert total.ratio == pytest.approx(16000 / 6000)
    assert total.part_ratios == [4.0, 2.0]
    assert total.est_bits_per_sample == pytest.approx(8 * 6000 / 8000)
    assert total.encode_samples_per_s == pytest.approx(8000 / 1.0)
    assert total.bit_exact is True and total.status == "ok"
    parts[1].set(bit_exact=False, status="failed", error="lossless round trip is not bit-exact")
    worse = combine(parts, "d")
    assert worse.bit_exact is False and worse.status == "failed" and "bit-exact" in worse.error
    with pytest.raises(ValueError):
        combine([], "d")
