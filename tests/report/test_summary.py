"""The report's conclusions: best codec per setting, rate-control misses, grouped refusals."""

from __future__ import annotations

import numpy as np
import pytest

from ratecraft.bench import RunRecord
from ratecraft.codecs import Budget
from ratecraft.data.types import FeatureTable, Recording
from ratecraft.report.plots import codec_styles, plot_rate_distortion, plot_ratios
from ratecraft.report.summary import (
    good_for,
    rate_miss,
    refusals_markdown,
    summarize,
    summary_markdown,
)

REC = Recording(samples=np.zeros((2, 1000), np.int16), sample_rate=30000.0)
TAB = FeatureTable(values=np.zeros((100, 4)))


def run(codec, budget, ratio, *, data=REC, name="rec", **values) -> RunRecord:
    record = RunRecord.start(name, data, codec, budget)
    raw = 4000 if data is REC else 3200
    base = {
        "container_bytes": None if ratio is None else round(raw / ratio),
        "bit_exact": budget.lossless,
    }
    return record.set(**{**base, **values})


def test_rate_miss_flags_off_target_runs_both_ways_but_not_exact_ones():
    assert rate_miss(run("a", Budget(ratio=20), 20.5, sndr_db=10.0)) is None
    assert rate_miss(run("a", Budget(ratio=20), 54.75, sndr_db=-6.4)) == "asked 20x, got 54.79x"
    assert rate_miss(run("a", Budget(ratio=20), 10.0, sndr_db=30.0)) == "asked 20x, got 10.00x"
    exact = run("a", Budget(ratio=5), 19.6, sndr_db=float("inf"), bit_exact=True)
    assert rate_miss(exact) is None  # smaller than asked with nothing lost
    assert rate_miss(run("a", Budget(max_error=2), 3.0, sndr_db=30.0)) is None


def test_best_lossy_codec_is_the_best_quality_on_target_and_misses_are_set_apart():
    records = [
        run("lz", Budget(lossless=True), 2.0, sndr_db=float("inf"), spike_f1=1.0),
        run("pr", Budget(lossless=True), 2.4, sndr_db=float("inf"), spike_f1=1.0),
        run("q", Budget(ratio=20), 20.1, sndr_db=19.0, spike_f1=0.97),
        run("w", Budget(ratio=20), 20.0, sndr_db=23.0, spike_f1=0.98),
        run("sz", Budget(ratio=20), 54.75, sndr_db=-6.4, spike_f1=0.3),
        run("q", Budget(max_error=4), 6.0, sndr_db=35.0, spike_f1=0.99),
        run("w", Budget(max_error=4), 5.0, sndr_db=37.0, spike_f1=0.99),
        run("x", Budget(ratio=20), None, status="refused", error="x: NaN", container_bytes=None),
    ]
    by = {s.setting: s for s in summarize(records, "rec")}
    assert list(by) == ["lossless", "ratio=20", "max_error=4"]
    assert by["lossless"].best.codec == "pr" and by["lossless"].runner_up.codec == "lz"
    assert by["ratio=20"].best.codec == "w" and by["ratio=20"].runner_up.codec == "q"
    assert [r.codec for r in by["ratio=20"].misses] == ["sz"]
    assert by["max_error=4"].best.codec == "q"  # the bound holds for all: most compression
    text = summary_markdown(records, ["rec"])
    assert "| ratio=20 | **w** | 20.00x | SNDR 23.0 dB, spike F1 0.980 | q (20.10x) |" in text
    assert "Rate-control misses (not ranked): sz asked 20x, got 54.79x (SNDR -6.4 dB)." in text
    assert "Refused: x (NaN)." in text


def test_good_for_follows_the_measured_figures():
    ok = run("w", Budget(ratio=5), 5.0, sndr_db=30.0, spike_f1=0.99, spike_f1_truth=0.98)
    assert good_for(ok).startswith("spike sorting")
    coarse = run("w", Budget(ratio=20), 20.0, sndr_db=15.0, spike_f1=1.0, spike_f1_truth=0.48)
    assert good_for(coarse).startswith("LFP and overviews only")  # the truth F1 decides
    table = run("w", Budget(ratio=10), 10.0, data=TAB, name="t", sndr_db=40.0, nmse_mean=2e-3)
    assert good_for(table) == "downstream models (NMSE ≤ 1%)"
    assert good_for(run("p", Budget(lossless=True), 2.0, sndr_db=float("inf"))) == (
        "archiving: bit-exact"
    )


def test_refusals_group_by_input_and_reason_across_codecs():
    records = [
        run(c, b, None, name="t", data=TAB, status="refused", error=f"{c}: input contains NaN")
        for c in ("quant", "wavelet")
        for b in (Budget(ratio=5), Budget(ratio=10))
    ]
    text = refusals_markdown(records)
    assert text.splitlines() == [
        "- **t**, refused: quant (ratio=5, ratio=10), wavelet (ratio=5, ratio=10) — "
        "input contains NaN"
    ]


@pytest.fixture
def mixed() -> list[RunRecord]:
    out = []
    for codec in ("quant", "wavelet", "sz3"):
        for ratio in (5, 10, 20):
            got = 54.75 if (codec == "sz3" and ratio == 20) else ratio * 1.01
            out.append(run(codec, Budget(ratio=ratio), got, sndr_db=40.0 - ratio, spike_f1=0.9))
            out.append(
                run(
                    codec,
                    Budget(ratio=ratio),
                    got,
                    data=TAB,
                    name="t",
                    sndr_db=30.0 - ratio,
                    nmse_mean=1e-3,
                )
            )
    return out


def test_plots_draw_one_panel_per_kind_and_share_codec_styles(mixed, tmp_path):
    styles = codec_styles([r.codec for r in mixed])
    assert len(set(styles.values())) == 3  # a distinct colour and marker per codec
    assert len({c for c, _ in styles.values()}) == 3 and len({m for _, m in styles.values()}) == 3
    from matplotlib.image import imread

    both = imread(plot_rate_distortion(mixed, tmp_path / "rd.png")).shape
    recordings = [r for r in mixed if r.kind == "recording"]
    one = imread(plot_rate_distortion(recordings, tmp_path / "rd1.png")).shape
    assert both[1] == one[1] == 800  # drawn at the width the report shows
    assert both[0] > 1.6 * one[0]  # a panel per data kind
    ratios = imread(plot_ratios(mixed, tmp_path / "r.png")).shape
    assert ratios[1] == 800 and ratios[0] > 300
