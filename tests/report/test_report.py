"""The demo writes a report with its figures and machine-readable results."""

import json

from ratecraft.demo import run_demo


def test_quick_demo_writes_report_results_and_plots(tmp_path):
    run_demo(tmp_path, quick=True, codecs=["predictive", "quant", "zstd"])
    names = {p.name for p in tmp_path.iterdir()}
    assert {"report.md", "results.json"} <= names
    pngs = [p for p in tmp_path.iterdir() if p.suffix == ".png"]
    assert pngs and all(p.stat().st_size > 1000 and p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    records = json.loads((tmp_path / "results.json").read_text())
    records = records["records"] if isinstance(records, dict) else records
    assert {r["codec"] for r in records} == {"predictive", "quant", "zstd"}
    report = (tmp_path / "report.md").read_text()
    assert "predictive" in report and "|" in report
