"""The demo writes a report with its figures and machine-readable results."""

import json
import math

import numpy as np
import pytest

from ratecraft.bench import RunRecord
from ratecraft.codecs import Budget
from ratecraft.data.types import Recording
from ratecraft.demo import run_demo
from ratecraft.report import plot_rate_distortion, plot_ratios, plot_trace, render_report


def _strict(text: str):
    def refuse(token):
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_quick_demo_writes_report_results_and_plots(tmp_path):
    result = run_demo(tmp_path, quick=True, codecs=["predictive", "quant", "zstd"])
    names = {p.name for p in tmp_path.iterdir()}
    assert {
        "report.md",
        "results.json",
        "ratio_per_codec.png",
        "rate_distortion.png",
        "trace.png",
    } <= names
    assert not [n for n in names if n.startswith(".")]  # no temporary files left
    pngs = [p for p in tmp_path.iterdir() if p.suffix == ".png"]
    assert all(p.stat().st_size > 1000 and p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    doc = _strict((tmp_path / "results.json").read_text())
    records = doc["records"]
    assert {r["codec"] for r in records} == {"predictive", "quant", "zstd"}
    assert len(doc["inputs"]) == 4 and doc["wall_seconds"] > 0
    assert all(r["bit_exact"] for r in records if r["lossless"] and r["status"] == "ok")
    assert not result.failed
    assert all(isinstance(r, RunRecord) for r in result.records)
    for r in records:  # bits per stored value, for recordings and tables alike
        assert r["n_samples"] == math.prod(r["shape"])
        if r["container_bytes"]:
            assert r["bits_per_sample"] == pytest.approx(8 * r["container_bytes"] / r["n_samples"])
    report = (tmp_path / "report.md").read_text()
    for text in (
        "## Summary",
        "### Inputs",
        "### Results",
        "sklearn-digits",
        "NaN policy",
        "### Refused runs (grouped by input and reason)",
        "![",
        "trace.png",
        "Per-family NMSE",
    ):
        assert text in report, text
    # the summary comes first, then the details
    assert report.index("## Summary") < report.index("## Details") < report.index("### Results")
    assert "| setting | best codec | real ratio | quality | runner-up | good for |" in result.table
    assert "n/a (refused" not in report  # refusals are grouped, not rows of the table
    refused = [r for r in records if r["status"] == "refused"]
    assert refused and report.count("refused: ") < len(refused)


def _record(codec: str = "c", setting: Budget | None = None, **values) -> RunRecord:
    data = Recording(samples=np.zeros((2, 800), np.int16), sample_rate=30000.0)
    record = RunRecord.start("x", data, codec, setting or Budget(lossless=True))
    base = {
        "container_bytes": 1600,  # ratio 2, 8 bits per value
        "sndr_db": float("inf"),
        "spike_f1": 1.0,
        "encode_seconds": 1e-3,
        "decode_seconds": 5e-4,
        "bit_exact": True,
    }
    return record.set(**{**base, **values})


def test_render_report_lists_failures_and_refusals():
    records = [
        _record(),
        _record(
            codec="bad",
            status="failed",
            error="lossless round trip is not bit-exact",
            bit_exact=False,
        ),
        _record(codec="picky", status="refused", error="picky: NaN", container_bytes=None),
    ]
    text = render_report(records, title="t", notes=["a note"], plots=[("cap", "p.png")])
    assert text.startswith("# t\n")
    assert "| x | c | lossless | 2.00 | 8.000 |" in text
    assert "FAILED: lossless round trip is not bit-exact" in text
    assert "### Failures" in text and "### Refused runs" in text
    assert "- **x**, refused: picky (lossless) — NaN" in text
    assert "![cap](p.png)" in text and "- a note" in text


def test_plots_skip_empty_input_and_draw_pngs(tmp_path):
    assert plot_ratios([], tmp_path / "a.png") is None
    assert plot_rate_distortion([_record()], tmp_path / "b.png") is None  # no lossy run
    lossy = [
        _record(
            codec="q",
            setting=Budget(ratio=r),
            container_bytes=3200 // r,
            sndr_db=30.0 - r,
            bit_exact=False,
        )
        for r in (5, 10)
    ]
    assert [r.bits_per_sample for r in lossy] == [3200 // 5 * 8 / 1600, 3200 // 10 * 8 / 1600]
    assert plot_rate_distortion(lossy, tmp_path / "rd.png").read_bytes()[:4] == b"\x89PNG"
    assert plot_ratios(lossy, tmp_path / "r.png").exists()
    x = np.sin(np.linspace(0, 10, 300))
    path = plot_trace(x, x + 0.01, 30000.0, tmp_path / "t.png", scale=0.195)
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.png", "rd.png", "t.png"]
