"""``ratecraft demo``: every registered codec on built-in data, with a report anyone can rerun.

The inputs need no download: two seeded synthetic recordings (a 32-channel probe at 30 kHz and a
single-channel 10-bit sparse-grid implant at 19531 Hz, both with spike ground truth), the
scikit-learn digits table (shipped with scikit-learn; one feature family per image row) and a
seeded synthetic table with three feature families and the usual pathologies (a constant column,
an exact duplicate and a column that is 30 % NaN).

Lossless-only codecs run losslessly; lossy codecs run at ratios 5, 10 and 20 and at one
max-error bound per input. Tables are benchmarked as they are, NaN included: a codec that
refuses NaN is recorded as ``n/a (refused: reason)`` rather than cleaned around, so every codec
sees the same bytes. The output folder receives ``report.md``, ``results.json`` and PNG plots.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ratecraft.api import DEFAULT_LOSSY_CODEC, write_file
from ratecraft.bench import RunRecord, failures, run_bench, write_json
from ratecraft.codecs import Budget, default_codecs
from ratecraft.codecs.base import codec_class
from ratecraft.data.io import describe
from ratecraft.data.types import Data, FeatureTable, Recording
from ratecraft.errors import BadInputError

log = logging.getLogger(__name__)

DEFAULT_OUT = "ratecraft-demo"
RATIOS = (5.0, 10.0, 20.0)
TRACE_RATIO = 10.0
TRACE_MS = 40.0
IMPLANT, DIGITS, FAMILIES = "implant-10bit-19531Hz", "sklearn-digits", "synthetic-families"


def probe_name(quick: bool = False) -> str:
    return f"probe-{8 if quick else 32}ch-30kHz"


@dataclass
class DemoInput:
    """One input of the demo: its data, where it comes from and the lossy settings it gets."""

    name: str
    data: Data
    source: str
    max_error: float | None = None
    max_error_note: str = ""
    truth: Any = None

    def settings(self) -> list[Budget]:
        out = [Budget(ratio=r) for r in RATIOS]
        if self.max_error is not None:
            out.append(Budget(max_error=self.max_error))
        return out


@dataclass
class DemoResult:
    """What :func:`run_demo` produced."""

    records: list[RunRecord]
    out_dir: Path
    report: Path
    results: Path
    plots: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    table: str = ""  # the summary (markdown): best codec per input and setting

    @property
    def failed(self) -> list[RunRecord]:
        return failures(self.records)


def demo_inputs(quick: bool = False) -> list[DemoInput]:
    """The demo's inputs; ``quick`` shrinks every one of them (for tests and smoke runs)."""
    from ratecraft.data.synthetic import simulate_recording, simulate_table

    probe_ch, probe_s = (8, 1.0) if quick else (32, 3.0)
    implant_s = 1.0 if quick else 5.0
    rows = 400 if quick else None
    probe, probe_truth = simulate_recording(
        n_channels=probe_ch, duration_s=probe_s, sample_rate=30000.0, seed=7
    )
    implant, implant_truth = simulate_recording(
        n_channels=1, duration_s=implant_s, sample_rate=19531.0, sparse_grid=True, seed=11
    )
    digits = digits_table(rows)
    families = simulate_table(n_samples=rows or 2000, seed=3)
    grid = float(implant.meta.get("adc", {}).get("code_gain", 65535 / 1023))
    return [
        DemoInput(
            probe_name(quick),
            probe,
            f"simulate_recording(n_channels={probe_ch}, duration_s={probe_s:g}, "
            "sample_rate=30000, seed=7): 16-bit ADC at 0.195 µV/step",
            max_error=16.0,
            max_error_note="16 ADC steps = 3.1 µV (thermal noise is 6 µV rms)",
            truth=probe_truth,
        ),
        DemoInput(
            IMPLANT,
            implant,
            f"simulate_recording(n_channels=1, duration_s={implant_s:g}, sample_rate=19531, "
            "sparse_grid=True, seed=11): 10-bit codes stored in int16 on a grid of "
            f"{grid:.2f}",
            max_error=128.0,
            max_error_note=f"128 stored units ≈ {128 / grid:.1f} codes of the 10-bit ADC",
            truth=implant_truth,
        ),
        DemoInput(
            DIGITS,
            digits,
            "sklearn.datasets.load_digits"
            + (f" (first {rows} rows)" if rows else "")
            + ": 8×8 images, float64 as shipped, one family per image row",
            max_error=1.0,
            max_error_note="1 intensity level (pixels are 0..16)",
        ),
        DemoInput(
            FAMILIES,
            families,
            f"simulate_table(n_samples={rows or 2000}, seed=3): families initial/summary/"
            "temporal, with a constant, a duplicate and a 30 % NaN column",
            max_error=None,
            max_error_note="none: its features span 1e-3..1e4, so no single absolute bound "
            "fits them; ratio targets only",
        ),
    ]


def zoo_runs(inputs: list[DemoInput]) -> list[RunRecord]:
    """Each shipped zoo model on the demo recordings shaped like its training data (same channel
    count and sample rate), used as trained; its setting reads ``zoo:NAME``."""
    from ratecraft.bench import run_one
    from ratecraft.registry import load_zoo, zoo_card, zoo_models

    out = []
    for name in zoo_models():
        facts = zoo_card(name).get("trained_on") or {}
        for i in inputs:
            if not isinstance(i.data, Recording) or facts.get("kind") != "recording":
                continue
            fs = float(facts.get("sample_rate", 0))
            if (
                i.data.n_channels != facts.get("channels")
                or abs(i.data.sample_rate - fs) > fs / 100
            ):
                continue
            codec = load_zoo(name)
            record, _ = run_one(i.name, i.data, codec, codec.budget, truth=i.truth)
            record.set(setting=f"zoo:{name}")
            out.append(record)
    return out


def digits_table(rows: int | None = None) -> FeatureTable:
    """scikit-learn's digits (1797 × 64, values 0..16), one family per image row."""
    from sklearn.datasets import load_digits

    values = np.ascontiguousarray(load_digits().data[:rows])
    names = [f"px_r{r}c{c}" for r in range(8) for c in range(8)]
    families = [f"row{r}" for r in range(8) for _ in range(8)]
    return FeatureTable(
        values=values,
        feature_names=names,
        families=families,
        meta={"source": "sklearn.datasets.load_digits"},
    )


class _TracePicker:
    """Keeps a short window of one channel from the best lossy reconstruction of an input."""

    def __init__(self, name: str, data: Recording) -> None:
        self.name = name
        x = data.samples.astype(np.float64)
        self.channel = int(np.argmax(np.ptp(x, axis=1)))
        row = x[self.channel]
        half = max(1, round(TRACE_MS * 1e-3 * data.sample_rate / 2))
        centre = int(np.argmax(np.abs(row - np.median(row))))
        self.start = max(0, min(centre - half, row.size - 2 * half))
        self.stop = min(row.size, self.start + 2 * half)
        self.original = data.samples[self.channel, self.start : self.stop].copy()
        self.fs = float(data.sample_rate)
        self.scale = float(data.uv_per_step)
        self.best: tuple[float, RunRecord, np.ndarray] | None = None

    def __call__(self, record: RunRecord, original: Data, recon: Data | None) -> None:
        if record.input != self.name or record.status != "ok" or recon is None:
            return
        assert isinstance(recon, Recording)
        if record.lossless:
            rank = 3.0
        elif record.target_ratio == TRACE_RATIO:
            rank = 0.0 if record.codec == DEFAULT_LOSSY_CODEC else 0.5
        else:
            rank = 1.0 if record.target_ratio is not None else 2.0
        if self.best is None or rank < self.best[0]:
            window = recon.samples[self.channel, self.start : self.stop].copy()
            self.best = (rank, record, window)


def run_demo(
    out_dir: str | os.PathLike[str] = DEFAULT_OUT,
    *,
    quick: bool = False,
    codecs: list[str] | None = None,
) -> DemoResult:
    """Run the demo and write ``report.md``, ``results.json`` and the plots into ``out_dir``."""
    from ratecraft.report import plot_rate_distortion, plot_ratios, plot_trace, render_report
    from ratecraft.report.summary import rules_text, summary_markdown

    started = time.perf_counter()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise BadInputError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    names = codecs if codecs is not None else default_codecs()
    inputs = demo_inputs(quick)
    probe = next(i for i in inputs if i.name == probe_name(quick))
    assert isinstance(probe.data, Recording)
    picker = _TracePicker(probe.name, probe.data)
    records = run_bench(
        [(i.name, i.data) for i in inputs],
        names,
        {i.name: i.settings() for i in inputs},
        truths={i.name: i.truth for i in inputs if i.truth is not None},
        on_result=picker,
    )
    if codecs is None:  # the full demo: the shipped zoo beside the codecs fitted here
        records += zoo_runs(inputs)

    plots: list[tuple[str, str]] = []
    paths: list[Path] = []
    drawn = plot_ratios(records, out / "ratio_per_codec.png")
    if drawn is not None:
        plots.append(("Real compression ratio per codec and setting (misses ringed)", drawn.name))
        paths.append(drawn)
    drawn = plot_rate_distortion(records, out / "rate_distortion.png")
    if drawn is not None:
        plots.append(("Rate–distortion of the lossy runs, one panel per data kind", drawn.name))
        paths.append(drawn)
    if picker.best is not None:
        _, rec, window = picker.best
        caption = (
            f"{probe.name}, channel {picker.channel}, {TRACE_MS:g} ms: original vs "
            f"{rec.codec} ({rec.setting}, real ratio {rec.ratio:.2f})"
        )
        drawn = plot_trace(
            picker.original,
            window,
            picker.fs,
            out / "trace.png",
            title=caption,
            unit="µV",
            scale=picker.scale,
        )
        plots.append((caption, drawn.name))
        paths.append(drawn)

    seconds = time.perf_counter() - started
    lossless = [n for n in names if not codec_class(n).supports_lossy]
    lossy = [n for n in names if codec_class(n).supports_lossy]
    input_docs = [{"name": i.name, "source": i.source, **describe(i.data)} for i in inputs]
    settings = [
        f"codecs: {', '.join(names)}",
        f"lossless-only codecs ({', '.join(lossless) or 'none'}): one lossless run per input",
        f"lossy codecs ({', '.join(lossy) or 'none registered'}): ratio targets "
        f"{', '.join(f'{r:g}' for r in RATIOS)} and one max-error bound per input, in stored "
        "units",
        *[f"max_error for {i.name}: {i.max_error_note}" for i in inputs],
    ]
    notes = [
        "NaN policy: tables are coded as they are, NaN included; nothing is cleaned. Codecs "
        "that refuse NaN (or floats off an integer grid) are listed under *Refused runs*, "
        "grouped by reason; byte compressors (zstd, lzma) code NaN exactly.",
        "The digits table is float64 as scikit-learn ships it, so its raw size counts 8 bytes "
        "per value; bits/sample is the fairer comparison across inputs.",
        "Synthetic inputs are seeded (seeds above): rerunning gives the same data and "
        "bitstreams; timings depend on the machine.",
        f"Wall time {seconds:.1f} s on {os.cpu_count()} CPU(s), "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}.",
        "Regenerate with `ratecraft demo" + (" --quick" if quick else "") + f" --out {out}`.",
    ]
    intro = (
        f"Generated by `ratecraft demo{' --quick' if quick else ''}` (ratecraft "
        f"{_version()}) on {_now()}. Full results, one record per run, are in "
        "[results.json](results.json)."
    )
    summary = "\n\n".join(
        [
            summary_markdown(records, [i.name for i in inputs]),
            rules_text(),
        ]
    )
    text = render_report(
        records,
        title="ratecraft demo",
        intro=intro,
        summary=summary,
        inputs=input_docs,
        settings=settings,
        plots=plots,
        notes=notes,
    )
    report = out / "report.md"
    write_file(report, text.encode("utf-8"))
    results = out / "results.json"
    doc = {
        "generated_by": "ratecraft demo" + (" --quick" if quick else ""),
        "ratecraft_version": _version(),
        "created_utc": _now(),
        "wall_seconds": seconds,
        "environment": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
        },
        "json_conventions": "inf is written as 1e308 and NaN as null",
        "inputs": input_docs,
        "records": records,
    }
    write_json(results, doc)
    return DemoResult(
        records=records,
        out_dir=out,
        report=report,
        results=results,
        plots=paths,
        seconds=seconds,
        table=summary_markdown(records, [i.name for i in inputs]) + "\n",
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ratecraft")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
