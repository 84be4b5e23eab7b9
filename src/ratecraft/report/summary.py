"""The conclusions of a benchmark, per input: what to use for each setting, and what it is good
for; and the runs codecs refused, grouped.

For each input the summary names the best lossless codec (highest real ratio among bit-exact
runs) and, for each lossy setting, the best codec: at a ratio target the highest quality among
the codecs whose rate control landed within :data:`RATE_TOLERANCE` of the target (quality is
SNDR for recordings and mean family NMSE for tables), at a max-error bound the highest ratio
among the runs that held the bound. A ratio run further off its target than that is a
*rate-control miss* (:func:`rate_miss`), listed beside the table rather than ranked, whether it
undershot (a larger file than asked) or overshot (quality given away for bytes not asked to
save). "Good for" applies the rules of thumb in :data:`RECORDING_USES` and :data:`TABLE_USES`
to the best run's measured figures, and the report prints those rules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from ratecraft.bench import RunRecord

RATE_TOLERANCE = 0.10
"""A ratio run within ±10 % of its target met it; further off is a rate-control miss."""

RECORDING_USES: tuple[tuple[float, float, str], ...] = (
    (0.95, 20.0, "spike sorting (spikes and waveforms kept)"),
    (0.95, -math.inf, "spike detection and rates (waveforms coarser)"),
    (0.80, -math.inf, "activity overviews (some spikes lost)"),
    (-math.inf, -math.inf, "LFP and overviews only (spikes lost)"),
)
"""(min spike F1, min SNDR dB, use): the first rule a run meets names what it is good for. The
spike F1 is the lower of the two the benchmark measures (against the original's spikes and,
for simulated data, against the true spikes)."""

TABLE_USES: tuple[tuple[float, str], ...] = (
    (1e-4, "near-exact features"),
    (1e-2, "downstream models (NMSE ≤ 1%)"),
    (1e-1, "summaries and plots (NMSE ≤ 10%)"),
    (math.inf, "little (NMSE > 10%)"),
)
"""(max mean family NMSE, use), first match wins."""


def rate_miss(record: RunRecord) -> str | None:
    """``"asked 20x, got 54.75x"`` for an ok ratio run off its target by more than the
    tolerance, else None."""
    target, got = record.target_ratio, record.ratio
    if record.status != "ok" or target is None or got is None:
        return None
    exact = record.bit_exact or (record.sndr_db is not None and math.isinf(record.sndr_db))
    if abs(got / target - 1.0) <= RATE_TOLERANCE or (got > target and exact):
        return None  # on target, or smaller than asked with nothing lost
    return f"asked {target:g}x, got {got:.2f}x"


def good_for(record: RunRecord) -> str:
    """What a run's measured quality makes it good for (the rules of thumb above)."""
    if record.bit_exact:
        return (
            "archiving: bit-exact" if record.lossless else "anything: bit-exact, smaller than asked"
        )
    if record.kind == "table":
        nmse = record.nmse_mean
        if nmse is None or math.isnan(nmse):
            return "–"
        return next(use for limit, use in TABLE_USES if nmse <= limit)
    found = [f for f in (record.spike_f1, record.spike_f1_truth) if f is not None]
    if not found:
        return "–"
    f1 = min(found)  # spikes found on the reconstruction vs the original's, and vs the truth
    sndr = record.sndr_db if record.sndr_db is not None else -math.inf
    return next(use for min_f1, min_db, use in RECORDING_USES if f1 >= min_f1 and sndr >= min_db)


def _quality_key(record: RunRecord) -> float:
    """Larger is better: SNDR for recordings, −NMSE for tables."""
    if record.kind == "table" and record.nmse_mean is not None and not math.isnan(record.nmse_mean):
        return -record.nmse_mean
    return record.sndr_db if record.sndr_db is not None else -math.inf


@dataclass
class SettingResult:
    """The best run at one setting of one input, and the runs that missed their target."""

    setting: str
    best: RunRecord | None
    runner_up: RunRecord | None = None
    misses: list[RunRecord] = field(default_factory=list)


def summarize(records: Sequence[RunRecord], name: str) -> list[SettingResult]:
    """The best run of input ``name`` per setting, lossless first, in the records' order."""
    ok = [r for r in records if r.input == name and r.status == "ok" and r.ratio is not None]
    out: list[SettingResult] = []
    lossless = [r for r in ok if r.lossless and r.bit_exact]
    if lossless:
        ranked = sorted(lossless, key=lambda r: -(r.ratio or 0.0))
        out.append(SettingResult("lossless", ranked[0], ranked[1] if len(ranked) > 1 else None))
    settings = dict.fromkeys(r.setting for r in ok if not r.lossless)
    for setting in settings:
        runs = [r for r in ok if r.setting == setting and not r.lossless]
        misses = [r for r in runs if rate_miss(r)]
        met = [r for r in runs if r not in misses]
        if runs and runs[0].target_ratio is not None:
            ranked = sorted(met, key=_quality_key, reverse=True)
        else:  # a max-error bound (held by every ok run): the most compression wins
            ranked = sorted(met, key=lambda r: -(r.ratio or 0.0))
        out.append(
            SettingResult(
                setting,
                ranked[0] if ranked else None,
                ranked[1] if len(ranked) > 1 else None,
                misses,
            )
        )
    return out


def _num(value: float | None, spec: str, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "exact" if value > 0 else "-inf"
    if value == 0 and "e" in spec:
        return "0"
    return f"{value:{spec}}{unit}"


def _quality_text(record: RunRecord) -> str:
    if record.kind == "table":
        return f"NMSE {_num(record.nmse_mean, '.2e')}, SNDR {_num(record.sndr_db, '.1f', ' dB')}"
    parts = [
        f"SNDR {_num(record.sndr_db, '.1f', ' dB')}",
        f"spike F1 {_num(record.spike_f1, '.3f')}",
    ]
    if record.spike_f1_truth is not None:
        parts.append(f"truth F1 {_num(record.spike_f1_truth, '.3f')}")
    return ", ".join(parts)


def summary_markdown(records: Sequence[RunRecord], inputs: Sequence[str]) -> str:
    """One table per input: setting, best codec, real ratio, its quality, the runner-up and
    what the setting is good for; rate-control misses listed under it."""
    blocks = []
    for name in inputs:
        results = summarize(records, name)
        if not results:
            continue
        kind = next((r.kind for r in records if r.input == name), "")
        lines = [
            f"### {name} ({kind})",
            "",
            "| setting | best codec | real ratio | quality | runner-up | good for |",
            "|---|---|---:|---|---|---|",
        ]
        misses: list[RunRecord] = []
        for res in results:
            misses += res.misses
            if res.best is None:
                lines.append(f"| {res.setting} | none met the target | – | – | – | – |")
                continue
            b, up = res.best, res.runner_up
            second = "–" if up is None else f"{up.codec} ({up.ratio:.2f}x)"
            lines.append(
                f"| {res.setting} | **{b.codec}** | {b.ratio:.2f}x | {_quality_text(b)} | "
                f"{second} | {good_for(b)} |"
            )
        refused = _refused_here(records, name)
        if refused:
            lines += ["", refused]
        if misses:
            lines += [
                "",
                "Rate-control misses (not ranked): "
                + "; ".join(
                    f"{r.codec} {rate_miss(r)} (SNDR {_num(r.sndr_db, '.1f', ' dB')})"
                    for r in misses
                )
                + ".",
            ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _refused_here(records: Sequence[RunRecord], name: str) -> str:
    """``Refused: quant, wavelet (input contains NaN …).`` for one input, one clause per reason."""
    reasons: dict[str, list[str]] = {}
    for r in records:
        if r.input == name and r.status == "refused":
            codecs = reasons.setdefault(_generic(r.error or "", r.codec), [])
            if r.codec not in codecs:
                codecs.append(r.codec)
    if not reasons:
        return ""
    return "Refused: " + "; ".join(f"{', '.join(c)} ({why})" for why, c in reasons.items()) + "."


def rules_text() -> str:
    """The rules of thumb behind "good for", as one paragraph."""
    rec = "; ".join(
        f"{use}: spike F1 ≥ {f1:g}" + (f" and SNDR ≥ {db:g} dB" if math.isfinite(db) else "")
        for f1, db, use in RECORDING_USES
        if math.isfinite(f1)
    )
    tab = "; ".join(f"{use}: mean family NMSE ≤ {lim:g}" for lim, use in TABLE_USES[:-1])
    return (
        f"Best lossy codec: at a ratio target the highest quality among the runs within "
        f"±{RATE_TOLERANCE:.0%} of the target (SNDR for recordings, mean family NMSE for "
        "tables); at a max-error bound the highest ratio. *Good for* is a rule of thumb on the "
        f"best run's figures — recordings: {rec}; otherwise LFP and overviews only. Tables: "
        f"{tab}."
    )


def refusals_markdown(records: Sequence[RunRecord]) -> str:
    """Refused (and other not-run) runs grouped: one line per input and reason, with the
    codecs and settings it covers, instead of one row per run."""
    groups: dict[tuple[str, str, str], dict[str, list[str]]] = {}
    for r in records:
        if r.status in ("ok", "failed"):
            continue
        reason = _generic(r.error or r.status, r.codec)
        codecs = groups.setdefault((r.input, r.status, reason), {})
        codecs.setdefault(r.codec, []).append(r.setting)
    lines = []
    for (name, status, reason), codecs in groups.items():
        parts = [f"{codec} ({', '.join(settings)})" for codec, settings in codecs.items()]
        lines.append(f"- **{name}**, {status}: {', '.join(parts)} — {reason}")
    return "\n".join(lines)


def _generic(reason: str, codec: str) -> str:
    """A refusal's reason without the codec's own name in front, so codecs refusing for the
    same reason group together."""
    for prefix in (f"{codec}: ", f"codec {codec!r} "):
        if reason.startswith(prefix):
            return reason[len(prefix) :]
    return reason
