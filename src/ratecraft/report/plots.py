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
    """The real ratio of every successful run: one panel per input, one row (and colour) per
    codec, one marker per setting on a log axis, the ratio targets as dotted lines and
    rate-control misses ringed in red."""
    from matplotlib.lines import Line2D

    from ratecraft.report.summary import rate_miss

    ok = _ok(records)
    inputs = list(dict.fromkeys(r.input for r in ok))
    if not inputs:
        return None
    styles = codec_styles([r.codec for r in ok])
    settings = list(dict.fromkeys(r.setting for r in ok))
    marks = {s: _MARKERS[i % len(_MARKERS)] for i, s in enumerate(settings)}
    rows = [len({r.codec for r in ok if r.input == name}) for name in inputs]
    fig = _figure(8.0, 1.0 + sum(0.28 * n + 0.75 for n in rows))
    axes = fig.subplots(
        len(inputs), 1, squeeze=False, sharex=True, gridspec_kw={"height_ratios": rows}
    )[:, 0]
    missed_any = False
    for ax, name in zip(axes, inputs, strict=True):
        runs = [r for r in ok if r.input == name]
        codecs = sorted({r.codec for r in runs})
        for y, codec in enumerate(codecs):
            ax.axhline(y, color="0.92", lw=0.8, zorder=0)
            for r in (r for r in runs if r.codec == codec):
                ax.scatter(
                    [r.ratio],
                    [y],
                    marker=marks[r.setting],
                    color=styles[codec][0],
                    s=42,
                    zorder=3,
                    edgecolors="white",
                    linewidths=0.5,
                )
                if rate_miss(r):
                    missed_any = True
                    _ring(ax, r.ratio or 0.0, y)
        for target in sorted({r.target_ratio for r in runs if r.target_ratio}):
            ax.axvline(target, color="0.5", lw=0.8, ls=":", zorder=1)
        ax.set_xscale("log")
        ax.set_yticks(range(len(codecs)), codecs, fontsize=8)
        for label, codec in zip(ax.get_yticklabels(), codecs, strict=True):
            label.set_color(styles[codec][0])
        ax.set_ylim(len(codecs) - 0.5, -0.5)
        ax.set_title(name, loc="left", fontsize=9, fontweight="bold")
        ax.tick_params(axis="x", labelsize=8, labelbottom=True)
        _ratio_axis(ax)
    axes[-1].set_xlabel(
        "real compression ratio (raw bytes / container bytes, log scale); dotted: ratio targets",
        fontsize=9,
    )
    handles = [
        Line2D([], [], marker=m, color="0.3", ls="none", ms=6, label=setting)
        for setting, m in marks.items()
    ]
    _top_legend(fig, handles, missed_any)
    return _save(fig, path)


def _ratio_axis(ax: Any) -> None:
    """Ticks at 1, 2, 5, 10, 20, 50 … labelled ``2x``; no unlabelled minor ticks."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.grid(True, axis="x", alpha=0.3)


_COLORS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
_LINES = ("-", "--", ":", "-.")


def codec_styles(codecs: Sequence[str]) -> dict[str, tuple[str, str]]:
    """A distinct (colour, marker) pair per codec, by sorted name, so every plot agrees."""
    names = sorted(set(codecs))
    return {
        name: (_COLORS[i % len(_COLORS)], _MARKERS[i % len(_MARKERS)])
        for i, name in enumerate(names)
    }


def plot_rate_distortion(records: Sequence[RunRecord], path: PathLike) -> Path | None:
    """SNDR (dB) against real bits per value of every lossy run: one panel per data kind, one
    colour and marker per codec, one line style per input; rate-control misses (a ratio run
    more than :data:`~ratecraft.report.summary.RATE_TOLERANCE` off its target) are ringed in
    red and labelled with what was asked and got."""
    from matplotlib.lines import Line2D

    from ratecraft.report.summary import rate_miss

    lossy = [  # finite SNDR only: an exact run has no place on a dB axis
        r
        for r in _ok(records)
        if not r.lossless and r.sndr_db is not None and math.isfinite(r.sndr_db)
    ]
    if not lossy:
        return None
    kinds = list(dict.fromkeys(r.kind for r in lossy))
    styles = codec_styles([r.codec for r in _ok(records)])  # the colours of plot_ratios
    fig = _figure(8.0, 0.9 + 3.3 * len(kinds))
    axes = fig.subplots(len(kinds), 1, squeeze=False)[:, 0]
    missed_any = False
    for ax, kind in zip(axes, kinds, strict=True):
        rows = [r for r in lossy if r.kind == kind]
        inputs = list(dict.fromkeys(r.input for r in rows))
        for i, name in enumerate(inputs):
            for codec in dict.fromkeys(r.codec for r in rows if r.input == name):
                pts = sorted(
                    (r for r in rows if r.input == name and r.codec == codec),
                    key=lambda r: r.bits_per_sample or 0.0,
                )
                color, marker = styles[codec]
                ax.plot(
                    [r.bits_per_sample for r in pts],
                    [r.sndr_db for r in pts],
                    ls=_LINES[i % len(_LINES)],
                    marker=marker,
                    color=color,
                    ms=6,
                    lw=1.4,
                )
                missed = [r for r in pts if rate_miss(r)]
                missed_any = missed_any or bool(missed)
                for (x, y), same in _by_point(missed).items():
                    _ring(ax, x, y)
                    asked = ", ".join(f"{r.target_ratio:g}x" for r in same)
                    ax.annotate(
                        f"{codec}: asked {asked}, got {same[0].ratio:.2f}x",
                        (x, y),
                        xytext=(12, 4),
                        textcoords="offset points",
                        fontsize=8,
                        color="red",
                        va="bottom",
                    )
        ax.set_title(f"{kind}s", loc="left", fontsize=10, fontweight="bold")
        ax.set_xlabel("bits per value (real: 8 × container bytes / stored values)", fontsize=9)
        ax.set_ylabel("SNDR (dB)", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
        handles = [
            Line2D([], [], color="black", ls=_LINES[i % len(_LINES)], label=name)
            for i, name in enumerate(inputs)
        ]
        ax.legend(handles=handles, fontsize=8, loc="lower right", title="input", title_fontsize=8)
    shown = {r.codec for r in lossy}
    handles = [
        Line2D([], [], color=c, marker=m, ls="none", ms=7, label=name)
        for name, (c, m) in styles.items()
        if name in shown
    ]
    _top_legend(fig, handles, missed_any)
    return _save(fig, path)


def _ring(ax: Any, x: float, y: float) -> None:
    """A red ring around a rate-control miss."""
    ax.scatter([x], [y], s=200, facecolors="none", edgecolors="red", linewidths=1.5, zorder=5)


def _top_legend(fig: Any, handles: list[Any], missed: bool) -> None:
    """The figure's legend above the panels, with the miss ring's entry when one is drawn."""
    from matplotlib.lines import Line2D

    from ratecraft.report.summary import RATE_TOLERANCE

    if missed:
        label = f"rate-control miss (> {RATE_TOLERANCE:.0%} off target)"
        ring = Line2D([], [], marker="o", ms=11, mfc="none", mec="red", ls="none", label=label)
        handles = [*handles, ring]
    fig.legend(
        handles=handles,
        loc="outside upper center",
        ncols=min(len(handles), 5),
        fontsize=8,
        frameon=False,
    )


def _by_point(records: Sequence[RunRecord]) -> dict[tuple[float, float], list[RunRecord]]:
    """Runs grouped by where they are drawn (two targets can land on the same file)."""
    out: dict[tuple[float, float], list[RunRecord]] = {}
    for r in records:
        out.setdefault((r.bits_per_sample or 0.0, r.sndr_db or 0.0), []).append(r)
    return out


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
