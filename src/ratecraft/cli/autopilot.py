"""``ratecraft autopilot``: search strategies for a data file or a model, keep a Pareto front.

Registered on the main Typer app (see :mod:`ratecraft.cli`), with the same one-line errors and
exit codes. On a terminal a Rich live view shows the progress and the current front.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ratecraft import progress
from ratecraft.cli.app import (
    app,
    console,
    guarded,
    kv_table,
    print_json,
    read_mapping,
    settings,
)
from ratecraft.cli.progress import pick_mode
from ratecraft.errors import BadInputError


def _front_table(front: list[dict[str, Any]], names: list[str], title: str) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("trial", justify="right")
    table.add_column("method")
    for n in names:
        table.add_column(n, justify="right")
    for r in sorted(front, key=lambda r: r["trial"])[:12]:
        vals = [f"{r['metrics'].get(n, float('nan')):.4g}" for n in names]
        table.add_row(str(r["trial"]), r["strategy"]["method"], *vals)
    return table


@contextmanager
def _live(total: int, names: list[str]) -> Iterator[Any]:
    """A Rich live view (progress + front) on a terminal; elsewhere one progress step per trial
    (log lines with the hypervolume); nothing with --quiet."""
    mode = pick_mode(settings.quiet)
    if mode != "bar":

        def report(record: dict[str, Any], front: list[dict[str, Any]], hv: float) -> None:
            progress.report(
                "autopilot",
                record["trial"] + 1,
                total,
                unit="trial",
                hypervolume=hv,
                front=len(front),
            )

        yield report
        return
    from rich.console import Group
    from rich.live import Live
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(TextColumn("autopilot"), BarColumn(), MofNCompleteColumn())
    task = bar.add_task("trials", total=total)
    live = Live(Group(bar), console=console(stderr=True), refresh_per_second=4)
    with live, progress.reporting(None):  # one live display: the trials' own progress is not drawn

        def update(record: dict[str, Any], front: list[dict[str, Any]], hv: float) -> None:
            bar.update(task, completed=record["trial"] + 1)
            title = f"front after trial {record['trial']} (hypervolume {hv:.4f})"
            live.update(Group(bar, _front_table(front, names, title)))

        yield update


def _given(ctx: typer.Context, param: str) -> bool:
    """Whether the user set ``param`` (on the command line or through the environment)."""
    source = ctx.get_parameter_source(param)  # an enum of the click that typer runs on
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


@app.command("autopilot")
@guarded
def autopilot_cmd(
    ctx: typer.Context,
    target: Annotated[
        str | None,
        typer.Argument(
            help="Data file (recording/table) or a model target: digits-cnn (shrink recipes) or "
            "smollm2-mixed (per-block bit widths for SmolLM2-135M)."
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Run folder to create.")
    ] = None,
    objective: Annotated[
        list[str] | None, typer.Option(help="NAME:max or NAME:min (repeat); default inferred.")
    ] = None,
    constraint: Annotated[
        list[str] | None, typer.Option(help="Hard limit such as spike_f1>=0.95 (repeat).")
    ] = None,
    trials: Annotated[int | None, typer.Option(help="Trial budget (default 40).")] = None,
    proposer: Annotated[
        str, typer.Option(help="tpe, nsga2, gp, bandit, random, grid or llm.")
    ] = "tpe",
    backend: Annotated[
        str, typer.Option(help="local or ray (needs the distributed extra).")
    ] = "local",
    parallel: Annotated[int, typer.Option(help="Concurrent trials with --backend ray.")] = 2,
    resume: Annotated[
        Path | None,
        typer.Option(help="Continue the run in this folder (only --trials may change)."),
    ] = None,
    space: Annotated[
        Path | None, typer.Option(help="YAML restricting or extending the search space.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the proposer.")] = 0,
    time_budget: Annotated[
        float | None, typer.Option(help="Stop starting trials after this many seconds.")
    ] = None,
    patience: Annotated[
        int | None, typer.Option(help="Stop after this many trials without hypervolume gain.")
    ] = None,
    proxy_seconds: Annotated[
        float, typer.Option(help="Recording excerpt for the proxy evaluation.")
    ] = 0.25,
    full_seconds: Annotated[
        float | None, typer.Option(help="Recording seconds of the full evaluation.")
    ] = 2.0,
    learned: Annotated[
        bool, typer.Option("--learned", help="Also search the learned recording codecs.")
    ] = False,
    llm_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible server for --proposer llm.")
    ] = None,
    llm_model: Annotated[str, typer.Option(help="Model name sent to the llm server.")] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="Existing Ray cluster (ray://host:10001 or auto).")
    ] = None,
    no_artifacts: Annotated[
        bool, typer.Option("--no-artifacts", help="Do not rebuild the best artifact per preset.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Propose, run and evaluate strategies; keep the Pareto front; resumable (--resume)."""
    from ratecraft.autopilot.runner import REQUEST_FLAGS, RunRequest, run_autopilot

    values = {
        "objectives": list(objective or []),
        "constraints": list(constraint or []),
        "proposer": proposer,
        "backend": backend,
        "parallel": parallel,
        "seed": seed,
        "time_budget_s": time_budget,
        "patience": patience,
        "proxy_seconds": proxy_seconds,
        "full_seconds": full_seconds,
        "include_learned": learned,
        "space": None if space is None else read_mapping(space, "search-space file"),
        "llm_url": llm_url,
        "llm_model": llm_model,
        "ray_address": ray_address,
        "save_artifacts": not no_artifacts,
    }
    changes: dict[str, Any] = {}
    if resume is not None:
        if target is not None or output is not None:
            raise BadInputError("--resume takes the run folder only (no TARGET or -o)")
        run_dir, request = resume, None
        changes = {k: values[k] for k, param in REQUEST_FLAGS.items() if _given(ctx, param)}
    else:
        if target is None or output is None:
            raise BadInputError("give TARGET and -o RUN_DIR (or --resume RUN_DIR)")
        if trials is not None and trials < 1:
            raise BadInputError("--trials must be at least 1")
        run_dir = output
        request = RunRequest(target=target, trials=trials or 40, **values)
    names: list[str] = []
    total = [trials or 40]

    def started(info: dict[str, Any]) -> None:
        names.extend(info["objectives"])
        if as_json:
            return
        spec = info.get("spec") or {}
        rows = [(k, str(v)) for k, v in spec.items() if v is not None]
        rows.append(("objectives", ", ".join(info["objectives"])))
        rows.append(("methods", ", ".join(info["space"]["methods"])))
        kv_table("inferred", rows)

    with _live(total[0], names) as update:
        summary, paths = run_autopilot(
            request,
            run_dir,
            resume=resume is not None,
            trials=trials if resume is not None else None,
            on_start=started,
            on_episode=update,
            changes=changes,
        )
    doc = {
        "run_dir": str(run_dir),
        "trials": len(summary.records),
        "new_trials": summary.new_trials,
        "stop_reason": summary.stop_reason,
        "hypervolume": summary.hypervolume,
        "front_size": len(summary.front),
        **{k: v for k, v in paths.items() if k != "artifacts"},
    }
    if as_json:
        print_json(doc)
        return
    console().print(_front_table(summary.front, names, "Pareto front"))
    kv_table(f"autopilot -> {run_dir}", [(k, str(v)) for k, v in doc.items()])
