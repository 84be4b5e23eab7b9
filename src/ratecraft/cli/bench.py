"""``ratecraft bench`` and ``ratecraft demo``: run codecs on data and report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ratecraft.cli.app import app, check_output, console, floats, guarded
from ratecraft.errors import BadInputError, RatecraftError


@app.command("bench")
@guarded
def bench_cmd(
    inputs: Annotated[list[Path], typer.Argument(help="Data files (or .rcz) to benchmark.")],
    codecs: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated codec names (default: every classical one; learned by name)."
        ),
    ] = None,
    ratios: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated ratio targets for lossy codecs (default 10,20 unless "
            "--max-errors is given)."
        ),
    ] = None,
    max_errors: Annotated[
        str | None, typer.Option(help="Comma-separated max-error bounds for lossy codecs.")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the records to this JSON file.")
    ] = None,
    fs: Annotated[
        float | None, typer.Option(help="Sample rate (Hz) for files without one.")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset inside an HDF5/NWB file.")] = None,
    kind: Annotated[
        str | None, typer.Option(help="Read 2-D arrays as 'recording' or 'table'.")
    ] = None,
    model: Annotated[
        list[Path] | None,
        typer.Option(help="Trained model folder (ratecraft fit); repeatable; run as trained."),
    ] = None,
) -> None:
    """Encode, decode and score every input × codec × setting; print a markdown table.

    Lossless-only codecs run once, losslessly, and must be bit-exact; lossy codecs run at every
    ratio and max-error setting. Exit code 1 when any run failed.
    """
    from ratecraft import api
    from ratecraft.bench import failures, markdown_table, records_to_json, run_bench
    from ratecraft.codecs import default_codecs
    from ratecraft.codecs.base import codec_class

    names = [c.strip() for c in codecs.split(",") if c.strip()] if codecs else default_codecs()
    if not names:
        raise BadInputError("--codecs: no codec names given")
    for name in names:
        codec_class(name)
    ratio_list = floats(ratios, "--ratios")
    error_list = floats(max_errors, "--max-errors")
    if not ratio_list and not error_list:
        ratio_list = [10.0, 20.0]
    budgets = [api.make_budget(ratio=r) for r in ratio_list]
    budgets += [api.make_budget(max_error=e) for e in error_list]
    if json_path is not None:
        check_output(json_path, *inputs)
    models = [api.load_codec(m) for m in model or []]
    data = [(str(p), api.load(p, fs=fs, dataset=dataset, kind=kind)) for p in inputs]
    records = run_bench(data, names, budgets, models=models)
    if json_path is not None:
        api.write_file(json_path, records_to_json(records).encode("utf-8"))
    sys.stdout.write(markdown_table(records))
    failed = failures(records)
    if failed:
        first = failed[0]
        raise RatecraftError(
            f"{len(failed)} of {len(records)} run(s) failed; first: {first.input} / "
            f"{first.codec} / {first.setting}: {first.error}"
        )


@app.command("demo")
@guarded
def demo_cmd(
    out: Annotated[Path, typer.Option("--out", help="Folder for the report.")] = Path(
        "ratecraft-demo"
    ),
    quick: Annotated[
        bool, typer.Option("--quick", help="Small inputs: a smoke run in seconds.")
    ] = False,
) -> None:
    """Benchmark every codec on built-in data; write report.md, results.json and plots.

    Prints the summary (the best codec per input and setting); report.md has the details.
    """
    from ratecraft.demo import run_demo

    result = run_demo(out, quick=quick)
    sys.stdout.write(result.table)
    names = ", ".join(p.name for p in result.plots)
    console().print(
        f"\nwrote {result.report}, {result.results.name} and {names or 'no plots'} "
        f"({result.seconds:.1f} s)"
    )
    if result.failed:
        first = result.failed[0]
        raise RatecraftError(
            f"{len(result.failed)} run(s) failed; first: {first.input} / {first.codec} / "
            f"{first.setting}: {first.error}"
        )
