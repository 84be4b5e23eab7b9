"""The demo writes a report with its figures and machine-readable results."""

import json

import numpy as np

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
    report = (tmp_path / "report.md").read_text()
    for text in (
        "## Inputs",
        "## Results",
        "sklearn-digits",
        "NaN policy",
        "n/a (refused:",
        "![",
        "trace.png",
        "Per-family NMSE",
    ):
        assert text in report, text
    assert "| input | codec | setting |" in result.table


def _record(**kw):
    base = {
        "input": "x",
        "kind": "recording",
        "codec": "c",
        "setting": "lossless",
        "lossless": True,
        "status": "ok",
        "error": None,
        "ratio": 2.0,
        "bits_per_sample": 8.0,
        "est_bits_per_sample": None,
        "sndr_db": float("inf"),
        "spike_f1": 1.0,
        "family_nmse": None,
        "encode_samples_per_s": 1e6,
        "decode_samples_per_s": 2e6,
        "bit_exact": True,
    }
    return {**base, **kw}


def test_render_report_lists_failures_and_refusals():
    records = [
        _record(),
        _record(
            codec="bad",
            status="failed",
            error="lossless round trip is not bit-exact",
            bit_exact=False,
        ),
        _record(codec="picky", status="refused", error="picky: NaN", ratio=None),
    ]
    text = render_report(records, title="t", notes=["a note"], plots=[("cap", "p.png")])
    assert text.startswith("# t\n")
    assert "FAILED: lossless round trip is not bit-exact" in text
    assert "### Failures" in text and "### Refused runs" in text
    assert "n/a (refused: picky: NaN)" in text
    assert "![cap](p.png)" in text and "- a note" in text


def test_plots_skip_empty_input_and_draw_pngs(tmp_path):
    assert plot_ratios([], tmp_path / "a.png") is None
    assert plot_rate_distortion([_record()], tmp_path / "b.png") is None  # no lossy run
    lossy = [
        _record(
            codec="q",
            setting=f"ratio={r}",
            lossless=False,
            ratio=r,
            bits_per_sample=16 / r,
            sndr_db=30 - r,
        )
        for r in (5, 10)
    ]
    assert plot_rate_distortion(lossy, tmp_path / "rd.png").read_bytes()[:4] == b"\x89PNG"
    assert plot_ratios(lossy, tmp_path / "r.png").exists()
    x = np.sin(np.linspace(0, 10, 300))
    path = plot_trace(x, x + 0.01, 30000.0, tmp_path / "t.png", scale=0.195)
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.png", "rd.png", "t.png"]
