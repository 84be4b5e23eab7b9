"""PNG plots of benchmark records, drawn with Matplotlib's Agg backend (no display needed).

Each function draws one figure from the records of :func:`ratecraft.bench.run_bench`, writes it
atomically and returns the path, or ``None`` when the records hold nothing to draw. No pyplot
state is touched, so the functions are safe to call from any thread or a server.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ratecraft.bench import RunRecord

PathLike = str | os.PathLike[str]


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: PathLike) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    from ratecraft.atomic import atomic_write

    atomic_write(path, buf.getvalue())
    return Path(path)


def _ok(records: Sequence[RunRecord]) -> list[RunRecord]:
    return [r for r in records if r.status == "ok" and r.ratio is not None]


def plot_ratios(records: Sequence[RunRecord], path: PathLike) -> Path | None:
    """Horizontal bars of the real ratio of every successful run, one panel per input."""
    ok = _ok(records)
    inputs = list(dict.fromkeys(r.input for r in ok))
    if not inputs:
        return None
    counts = [sum(r.input == name for r in ok) for name in inputs]
    fig = _figure(8.0, 1.2 + 0.32 * sum(counts) + 0.5 * len(inputs))
    axes = fig.subplots(
        len(inputs), 1, squeeze=False, gridspec_kw={"height_ratios": [max(c, 1) for c in counts]}
    )[:, 0]
    for ax, name in zip(axes, inputs, strict=True):
        rows = [r for r in ok if r.input == name]
        labels = [f"{r.codec} ({r.setting})" for r in rows]
        ratios = [r.ratio or 0.0 for r in rows]
        colors = ["tab:blue" if r.lossless else "tab:orange" for r in rows]
        y = np.arange(len(rows))
        ax.barh(y, ratios, color=colors)
        ax.set_yticks(y, labels, fontsize=8)
        ax.invert_yaxis()
        for yi, value in zip(y, ratios, strict=True):
            ax.text(value, yi, f" {value:.2f}", va="center", fontsize=7)
        ax.set_title(name, fontsize=9, loc="left")
        ax.set_xlim(0, max(ratios) * 1.18)
        ax.axvline(1.0, color="grey", lw=0.6, ls=":")
    axes[-1].set_xlabel(
        "compression ratio (raw bytes / container bytes; blue lossless, orange lossy)"
    )
    return _save(fig, path)


def plot_rate_distortion(records: Sequence[RunRecord], path: PathLike) -> Path | None:
    """SNDR (dB) against real bits per value of every lossy run, one line per input × codec."""
    lossy = [
        r
        for r in _ok(records)
        if not r.lossless and r.sndr_db is not None and math.isfinite(r.sndr_db)
    ]
    if not lossy:
        return None
    fig = _figure(7.0, 4.5)
    ax = fig.subplots()
    groups = list(dict.fromkeys((r.input, r.codec) for r in lossy))
    for name, codec in groups:
        pts = sorted(
            (r.bits_per_sample or 0.0, r.sndr_db or 0.0, r.setting)
            for r in lossy
            if r.input == name and r.codec == codec
        )
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        style = "--" if any(r.kind == "table" for r in lossy if r.input == name) else "-"
        ax.plot(xs, ys, style, marker="o", label=f"{name} · {codec}")
        for x, y, label in pts:
            ax.annotate(label, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("bits per value (real: container bits / stored values)")
    ax.set_ylabel("SNDR (dB)")
    ax.set_title("Rate–distortion of the lossy runs (dashed: tables)", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_trace(
    original: np.ndarray,
    reconstructed: np.ndarray,
    sample_rate: float,
    path: PathLike,
    *,
    title: str = "original vs reconstruction",
    unit: str = "µV",
    scale: float = 1.0,
) -> Path:
    """One channel's original and reconstructed samples (× ``scale``) over time, and their
    difference."""
    x = np.asarray(original, dtype=np.float64).ravel() * scale
    y = np.asarray(reconstructed, dtype=np.float64).ravel() * scale
    t = np.arange(x.size) / float(sample_rate) * 1e3
    fig = _figure(8.0, 4.5)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot(t, x, lw=1.0, color="black", label="original")
    top.plot(t, y, lw=0.9, color="tab:orange", alpha=0.85, label="reconstruction")
    top.set_ylabel(unit)
    top.set_title(title, fontsize=10)
    top.legend(fontsize=8, loc="upper right")
    bottom.plot(t, y - x, lw=0.8, color="tab:red")
    bottom.set_ylabel(f"error ({unit})")
    bottom.set_xlabel("time (ms)")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    return _save(fig, path)
