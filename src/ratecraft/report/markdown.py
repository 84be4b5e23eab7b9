"""A self-contained markdown report of benchmark records: summary and plots first, then the
inputs, the results table, grouped refusals and notes."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from ratecraft.bench import RunRecord, markdown_table
from ratecraft.report.summary import refusals_markdown

DEFINITIONS = (
    "**ratio** = raw bytes / bytes of the `.rcz` container file, headers included. "
    "**bits/sample** = 8 × container bytes / stored values, i.e. bits per value (channels × "
    "time, or samples × features). **est. bits/sample** is the codec's model estimate −Σlog2 p,"
    " shown beside the real rate, never instead of it (– for codecs without a probability "
    "model, such as the byte compressors). **SNDR** is computed about each channel's "
    "(feature's) mean, over the entries the original has; `inf` means an exact reconstruction. "
    "**spike F1** compares spikes detected on the reconstruction with those detected on the "
    "original; **truth F1** compares them with the simulator's true spikes on every electrode "
    "where they are at least twice the detection threshold deep (fainter ones may be found or "
    "missed without penalty); its lossless value is the ceiling. **family NMSE** is the mean "
    "per-feature MSE / variance within each feature family. Throughput counts stored values per"
    " second; encode excludes `fit` (rate control), which the JSON reports as `fit_seconds`. "
    "Every run decodes its own container; lossless runs must be bit-exact and max-error runs "
    "must meet their bound, otherwise they are reported as FAILED."
)


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|")


def inputs_table(inputs: Sequence[dict[str, Any]]) -> str:
    """Markdown table of input descriptions (``name``, ``source`` plus :func:`describe` keys)."""
    lines = [
        "| input | kind | shape | dtype | rate (Hz) | raw bytes | NaN values | source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in inputs:
        rate = d.get("sample_rate")
        lines.append(
            "| "
            + " | ".join(
                _cell(v)
                for v in (
                    d.get("name", "?"),
                    d.get("kind", "?"),
                    " × ".join(str(s) for s in d.get("shape", [])),
                    d.get("dtype", "?"),
                    "–" if rate is None else f"{rate:g}",
                    f"{d.get('raw_bytes', 0):,}",
                    d.get("nan_count", 0),
                    d.get("source", ""),
                )
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def family_nmse_tables(records: Sequence[RunRecord]) -> str:
    """One markdown table per table input: NMSE of every feature family for every run."""
    out = []
    for name in dict.fromkeys(r.input for r in records if r.kind == "table"):
        rows = [r for r in records if r.input == name and r.family_nmse]
        if not rows:
            continue
        fams = list(dict.fromkeys(f for r in rows for f in r.family_nmse or {}))
        lines = [
            f"**{_cell(name)}**",
            "",
            "| codec | setting | " + " | ".join(_cell(f) for f in fams) + " |",
            "|---|---|" + "---|" * len(fams),
        ]
        for r in rows:
            cells = [_nmse((r.family_nmse or {}).get(f)) for f in fams]
            lines.append(f"| {_cell(r.codec)} | {_cell(r.setting)} | " + " | ".join(cells) + " |")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def _nmse(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    return "0" if value == 0 else f"{value:.2e}"


def render_report(
    records: Sequence[RunRecord],
    *,
    title: str = "ratecraft benchmark",
    intro: str = "",
    summary: str = "",
    inputs: Sequence[dict[str, Any]] = (),
    settings: Sequence[str] = (),
    plots: Sequence[tuple[str, str]] = (),
    notes: Sequence[str] = (),
) -> str:
    """The report as markdown text: the summary first (``summary``, e.g. from
    :func:`~ratecraft.report.summary.summary_markdown`), then the details.

    ``plots`` are ``(caption, relative path)`` pairs, ``settings`` and ``notes`` bullet lines.
    The results table holds the runs that ran; failures are listed again with their reasons,
    and the runs codecs refused are grouped by input and reason instead of one row each.
    """
    blocks = [f"# {title}"]
    if intro:
        blocks.append(intro.strip())
    if summary:
        blocks += ["## Summary", summary.strip()]
    if plots:
        blocks.append("## Plots")
        for caption, path in plots:
            blocks += [f"### {caption}", f"![{caption}]({path})"]
    blocks.append("## Details")
    if inputs:
        blocks += ["### Inputs", inputs_table(inputs)]
    if settings:
        blocks += ["### Settings", _bullets(settings)]
    ran = [r for r in records if r.status in ("ok", "failed")]
    blocks += [
        "### Results",
        markdown_table(ran) if ran else "No run produced a result.",
        DEFINITIONS,
    ]
    families = family_nmse_tables(records)
    if families:
        blocks += ["### Per-family NMSE (tables)", families]
    failed = [r for r in records if r.status == "failed"]
    if failed:
        blocks += [
            "### Failures",
            _bullets(f"{r.input} · {r.codec} · {r.setting}: {r.error}" for r in failed),
        ]
    refused = refusals_markdown(records)
    if refused:
        blocks += ["### Refused runs (grouped by input and reason)", refused]
    if notes:
        blocks += ["### Notes", _bullets(notes)]
    return "\n\n".join(b.strip("\n") for b in blocks) + "\n"


def _bullets(lines: Iterable[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)
