"""Markdown tables and strict JSON of run records."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ratecraft.bench import Column, RunRecord, markdown_table, records_to_json, write_json
from ratecraft.bench.output import family_text, num, rate
from ratecraft.codecs import Budget
from ratecraft.data.types import FeatureTable, Recording


def _strict(text: str):
    def refuse(token):
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def _rec(codec: str = "c", status: str = "ok", error: str | None = None, **values) -> RunRecord:
    data = Recording(samples=np.zeros((2, 500), np.int16), sample_rate=1000.0)
    r = RunRecord.start("in", data, codec, Budget(ratio=4)).set(status=status, error=error)
    return r.set(**values)


def test_json_is_strict_inf_becomes_1e308_and_nan_null():
    r = _rec(container_bytes=500, sndr_db=math.inf, max_abs_error=-math.inf, nmse_mean=math.nan)
    r.family_nmse = {"a": math.nan, "b": 0.5}
    r.extra.update(np_value=np.float32(1.5), worst=math.inf, series=[math.nan, 2.0])
    (doc,) = _strict(records_to_json([r]))
    assert doc["sndr_db"] == 1e308 and doc["max_abs_error"] == -1e308
    assert doc["nmse_mean"] is None and doc["family_nmse"] == {"a": None, "b": 0.5}
    assert doc["np_value"] == 1.5 and doc["worst"] == 1e308 and doc["series"] == [None, 2.0]
    assert doc["ratio"] == 4.0 and doc["bits_per_sample"] == 4.0
    assert doc["status"] == "ok" and doc["error"] is None


def test_write_json_writes_records_anywhere_in_a_document(tmp_path):
    r = _rec(container_bytes=250, sndr_db=math.inf)
    path = tmp_path / "sub" / "results.json"
    write_json(path, {"benchmark": "t", "records": [r], "by_name": {"x": r}})
    doc = _strict(path.read_text())
    assert doc["records"][0]["ratio"] == 8.0 and doc["records"][0]["sndr_db"] == 1e308
    assert doc["by_name"]["x"] == doc["records"][0]
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temporary left


def test_markdown_rows_for_ok_refused_unreachable_and_failed_runs():
    records = [
        _rec("good", container_bytes=1000, sndr_db=20.0, bit_exact=False),
        _rec("picky", "refused", "picky: input | contains NaN"),
        _rec("floor", "unreachable", "bottoms out at 6.8x"),
        _rec("broken", "failed", "decode: CorruptStreamError: bad chunk", container_bytes=250),
        _rec("crashed", "failed", "encode: RuntimeError: boom"),
    ]
    lines = markdown_table(records).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:4] == ["input", "codec", "setting", "ratio"]
    assert "truth F1" not in header and "family NMSE" not in header
    assert len(lines) == 2 + len(records)
    cells = [line.strip("|").split(" | ") for line in lines[2:]]
    assert all(len(c) == len(header) for c in cells)  # escaped pipes do not split cells
    good, picky, floor, broken, crashed = (line for line in lines[2:])
    assert "| 2.00 |" in good and "| 20.0 |" in good and good.endswith("| no |")
    assert "n/a (refused: picky: input \\| contains NaN)" in picky
    assert picky.count("| – ") == len(header) - 4
    assert "n/a (unreachable: bottoms out at 6.8x)" in floor
    assert "FAILED: decode: CorruptStreamError: bad chunk (ratio 8.00)" in broken
    assert "FAILED: encode: RuntimeError: boom |" in crashed and "(ratio" not in crashed


def test_optional_columns_appear_only_when_some_record_needs_them():
    table = FeatureTable(values=np.zeros((5, 2)), families=["a", "b"])
    t = RunRecord.start("t", table, "zstd", Budget(lossless=True))
    t.family_nmse = {"a": 0.0, "b": 0.0}
    with_truth = _rec(spike_f1_truth=0.5)
    text = markdown_table([t, with_truth])
    assert "family NMSE" in text and "truth F1" in text and "0 (exact)" in text
    assert "| 0.500 |" in text


def test_custom_columns_and_keys():
    cols = [
        Column("codec", lambda r: r.codec),
        Column("ratio", lambda r: num(r.ratio, ".1f"), align="---:"),
        Column("never", lambda r: "x", shown=lambda records: False),
    ]
    text = markdown_table([_rec(container_bytes=100), _rec("p", "refused", "no")], cols, keys=1)
    assert text.splitlines()[:2] == ["| codec | ratio |", "|---|---:|"]
    assert "| c | 20.0 |" in text and "| p | n/a (refused: no) |" in text


@pytest.mark.parametrize(
    ("value", "fmt", "text"),
    [
        (None, ".2f", "–"),
        (math.nan, ".2f", "–"),
        (math.inf, ".1f", "inf"),
        (-math.inf, "g", "-inf"),
        (1.234, ".2f", "1.23"),
        (3, "d", "3"),
    ],
)
def test_num(value, fmt, text):
    assert num(value, fmt) == text


def test_rate_and_family_text():
    assert [rate(v) for v in (None, 12.0, 4.5e3, 2.25e6, 7e9)] == ["–", "12", "4.5k", "2.25M", "7G"]
    assert family_text({"a": 1e-3, "b": math.nan}) == "a=1.0e-03 b=–"
    many = {f"f{i}": (i + 1) * 1e-2 for i in range(6)}
    assert family_text(many) == "mean=3.5e-02 worst f5=6.0e-02"
