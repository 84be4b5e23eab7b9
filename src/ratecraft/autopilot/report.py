"""Run outputs: ``front.json``, the best artifact per preset, ``report.md`` and a Pareto plot.

``front.json`` is rewritten (atomically) after every episode, so even a killed run shows its
current front; the report, the plot and the artifacts are made when a run ends.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ratecraft.atomic import atomic_output, atomic_write
from ratecraft.autopilot.objectives import PRESETS, Reward
from ratecraft.autopilot.problems import Problem
from ratecraft.errors import RatecraftError
from ratecraft.jsonsafe import json_safe

log = logging.getLogger(__name__)


def front_document(
    reward: Reward, front: Sequence[dict[str, Any]], hypervolume: float, n_trials: int
) -> dict[str, Any]:
    """The JSON body of ``front.json``: objectives, constraints and the members, best first."""
    members = sorted(front, key=lambda r: -reward.score(r["metrics"], "balanced"))
    return json_safe(
        {
            "objectives": [
                {"name": o.name, "direction": o.direction, "best": o.best, "worst": o.worst}
                for o in reward.objectives
            ],
            "constraints": [str(c) for c in reward.constraints],
            "hypervolume": hypervolume,
            "trials": n_trials,
            "front": [
                {
                    "trial": r["trial"],
                    "strategy": r["strategy"],
                    "hash": r["hash"],
                    "metrics": r["metrics"],
                    "scores": {p: reward.score(r["metrics"], p) for p in PRESETS},
                }
                for r in members
            ],
        }
    )


def write_front(run_dir: Path, doc: dict[str, Any]) -> None:
    atomic_write(run_dir / "front.json", json.dumps(doc, indent=2, allow_nan=False).encode())


def best_per_preset(reward: Reward, front: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The front member each preset picks.

    ``accuracy``, ``size`` and ``latency`` pick the member best on their own role (the mean
    normalized value of the objectives of that role: the smallest file for ``size``), ties
    broken by the preset's weighted score; ``balanced`` (and a preset whose role no objective
    has) picks the highest weighted score.
    """
    if not front:
        return {}
    picks = {}
    for preset in PRESETS:
        role = "quality" if preset == "accuracy" else preset
        mine = [o for o in reward.objectives if o.role == role]

        def rank(r: dict[str, Any], mine: list[Any] = mine, preset: str = preset) -> tuple:
            own = [o.normalized(r["metrics"].get(o.name, math.nan)) for o in mine]
            primary = -round(sum(own) / len(own), 12) if own else 0.0
            return (primary, reward.score(r["metrics"], preset))

        picks[preset] = max(front, key=rank)
    return picks


def save_best_artifacts(
    run_dir: Path, problem: Problem, reward: Reward, front: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """Rebuild the best strategy of every preset into ``RUN_DIR/best/<preset>/``."""
    saved: dict[str, Any] = {}
    built: dict[str, Path] = {}
    built_by: dict[str, str] = {}
    for preset, record in best_per_preset(reward, front).items():
        folder = run_dir / "best" / preset
        try:
            if record["hash"] in built:  # same strategy as another preset: point at it
                folder.mkdir(parents=True, exist_ok=True)
                atomic_write(
                    folder / "same_as.json",
                    json.dumps({"preset_folder": str(built[record["hash"]])}).encode(),
                )
                first = saved[built_by[record["hash"]]]
                saved[preset] = {
                    **{k: v for k, v in first.items() if k in ("whole_input", "replay")},
                    "trial": record["trial"],
                    "same_as": str(built[record["hash"]]),
                }
                continue
            facts = problem.save_artifact(record["strategy"], folder)
            built[record["hash"]], built_by[record["hash"]] = folder, preset
            saved[preset] = {"trial": record["trial"], **facts}
        except (RatecraftError, OSError, ValueError, RuntimeError) as exc:
            log.warning("could not save the %s artifact: %s", preset, exc)
            saved[preset] = {"trial": record["trial"], "error": str(exc)}
    return saved


def pareto_plot(
    path: Path, reward: Reward, records: Sequence[dict[str, Any]], front: Sequence[dict[str, Any]]
) -> None:
    """Scatter of every trial on the first two objectives with the front as a step line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    objs = reward.objectives[:2]
    fig, ax = plt.subplots(figsize=(6, 4.2))
    if len(objs) == 2:
        x_name, y_name = objs[0].name, objs[1].name
        for label, keep, style in (
            ("infeasible", lambda r: not r.get("feasible"), dict(c="#bbbbbb", marker="x")),
            (
                "proxy only",
                lambda r: r.get("feasible") and r.get("fidelity") == "proxy",
                dict(c="#8fb3d9", marker="o"),
            ),
            (
                "full",
                lambda r: r.get("feasible") and r.get("fidelity") == "full",
                dict(c="#1f5fa8", marker="o"),
            ),
        ):
            pts = [r["metrics"] for r in records if r.get("status") == "complete" and keep(r)]
            if pts:
                ax.scatter(
                    [m.get(x_name) for m in pts],
                    [m.get(y_name) for m in pts],
                    s=18,
                    label=label,
                    **style,
                )
        if front:
            members = sorted(front, key=lambda r: r["metrics"][x_name])
            ax.plot(
                [r["metrics"][x_name] for r in members],
                [r["metrics"][y_name] for r in members],
                "-o",
                c="#d62728",
                drawstyle="steps-post",
                label="Pareto front",
            )
        for c in reward.constraints:  # hard limits as dashed lines
            if c.name == x_name:
                ax.axvline(c.threshold, ls="--", c="#555555", lw=0.8)
            elif c.name == y_name:
                ax.axhline(c.threshold, ls="--", c="#555555", lw=0.8)
        ax.set_xlabel(f"{x_name} ({objs[0].direction})")
        ax.set_ylabel(f"{y_name} ({objs[1].direction})")
        if objs[1].log:
            ax.set_yscale("log")
        if objs[0].log:
            ax.set_xscale("log")
    else:
        hv = [float(r.get("hypervolume") or 0.0) for r in records]
        ax.plot(range(1, len(hv) + 1), hv, "-o")
        ax.set_xlabel("trial")
        ax.set_ylabel("hypervolume")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_report(
    run_dir: Path,
    reward: Reward,
    records: Sequence[dict[str, Any]],
    front: Sequence[dict[str, Any]],
    hypervolume: float,
    stop_reason: str,
    artifacts: dict[str, Any],
    header: dict[str, Any],
) -> Path:
    """``report.md`` with the settings, the front, the best per preset and the plot."""
    pareto_plot(run_dir / "pareto.png", reward, records, front)
    names = [o.name for o in reward.objectives]
    counts: dict[str, int] = {}
    for r in records:
        key = r.get("status") if r.get("status") != "complete" else f"{r.get('fidelity')} eval"
        counts[key] = counts.get(key, 0) + 1
    lines = ["# Autopilot report", ""]
    lines += [f"- {k}: {_fmt(v)}" for k, v in header.items()]
    lines += [
        f"- objectives: {', '.join(f'{o.name}:{o.direction}' for o in reward.objectives)}",
        f"- constraints: {', '.join(map(str, reward.constraints)) or 'none'}",
        f"- trials: {len(records)} ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})",
        f"- stopped on: {stop_reason}",
        f"- hypervolume (normalized, reference = worst bounds): {hypervolume:.4f}",
        "",
        "## Pareto front",
        "",
        "| trial | method | " + " | ".join(names) + " | parameters |",
        "|---:|---|" + "---:|" * len(names) + "---|",
    ]
    for r in sorted(front, key=lambda r: r["trial"]):
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in r["strategy"]["params"].items())
        vals = " | ".join(_fmt(r["metrics"].get(n)) for n in names)
        lines.append(f"| {r['trial']} | {r['strategy']['method']} | {vals} | {params} |")
    lines += [
        "",
        "## Best per preset",
        "",
        "Front figures come from the evaluation window; each artifact is rebuilt on the whole "
        "input, and its own figures on the whole input are shown beside it.",
        "",
        "| preset | trial | artifact | on the whole input | replay |",
        "|---|---:|---|---|---|",
    ]
    for preset, facts in artifacts.items():
        where = (
            facts.get("error")
            or facts.get("same_as")
            or facts.get("stream")
            or facts.get("model", "")
        )
        whole = facts.get("whole_input") or {}
        shown = ", ".join(f"{n}={_fmt(whole[n])}" for n in names if n in whole)
        replay = f"`{facts['replay']}`" if facts.get("replay") else ""
        lines.append(f"| {preset} | {facts.get('trial')} | {where} | {shown} | {replay} |")
    lines += ["", "![Pareto front](pareto.png)", ""]
    path = run_dir / "report.md"
    atomic_write(path, "\n".join(lines).encode())
    return path
