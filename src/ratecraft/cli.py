"""The ``ratecraft`` command line: each command parses its options and calls the library.

Exit codes: 0 success, 1 failure, 2 bad input (a wrong file, option or value; Typer's own usage
errors exit 2 as well). Every error is one line on stderr, ``error: <message>``, never a
traceback (``--verbose`` logs the traceback of an unexpected error). Outputs are written
atomically, so a failed command leaves no file behind.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ratecraft.errors import BadInputError, RatecraftError

log = logging.getLogger("ratecraft")

F = TypeVar("F", bound=Callable[..., Any])


class _App(typer.Typer):
    """A Typer app whose ``__call__`` (the console-script entry point) never shows a traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return typer.main.get_command(self)(*args, **kwargs)
        except SystemExit:
            raise
        except BaseException as exc:  # the per-command guard should have caught everything
            code = _report(exc)
            sys.exit(code)


app = _App(
    name="ratecraft",
    help="Learned compression with honest rate control: encode, decode, inspect and benchmark.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


# ---- errors and logging ---------------------------------------------------------------------


def _one_line(text: object) -> str:
    return " ".join(str(text).split()) or "unknown error"


def _report(exc: BaseException) -> int:
    """Print ``exc`` as one ``error:`` line on stderr and return the exit code it maps to."""
    if isinstance(exc, KeyboardInterrupt):
        message, code = "interrupted", 130
    elif isinstance(exc, BadInputError):
        message, code = str(exc), 2
    elif isinstance(exc, RatecraftError):
        message, code = str(exc), 1
    elif isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        message, code = f"{where}{exc.strerror or exc}", 1
    elif isinstance(exc, MemoryError):
        message, code = "out of memory", 1
    else:
        log.debug("unexpected error", exc_info=exc)
        message = f"internal error: {type(exc).__name__}: {exc} (rerun with --verbose for details)"
        code = 1
    sys.stderr.write(f"error: {_one_line(message)}\n")
    sys.stderr.flush()
    return code


@contextmanager
def _guard() -> Iterator[None]:
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except BaseException as exc:
        raise typer.Exit(_report(exc)) from None


def _guarded(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _guard():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # pragma: no cover
            self.handleError(record)


class _Formatter(logging.Formatter):
    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if self.verbose:
            text = f"{record.name}: {text}"
            if record.exc_info:
                text += "\n" + self.formatException(record.exc_info)
        else:
            text = _one_line(text)
        return f"{record.levelname.lower()}: {text}"


def _setup_logging(verbose: bool) -> None:
    for handler in list(log.handlers):
        if isinstance(handler, _StderrHandler):
            log.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(_Formatter(verbose))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.WARNING)
    log.propagate = False


@app.callback()
def _main(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log progress and diagnostics to stderr.")
    ] = False,
) -> None:
    _setup_logging(verbose)


# ---- helpers --------------------------------------------------------------------------------


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(file=sys.stderr if stderr else sys.stdout, highlight=False, soft_wrap=True)


def _print_json(doc: Any) -> None:
    from ratecraft.bench import json_safe

    sys.stdout.write(json.dumps(json_safe(doc), indent=2, allow_nan=False) + "\n")


def _kv_table(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.table import Table

    table = Table(title=title, show_header=False, box=None, title_justify="left", pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    _console().print(table)


def _floats(text: str | None, what: str) -> list[float]:
    if text is None:
        return []
    values = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            values.append(float(part))
        except ValueError:
            raise BadInputError(f"{what}: {part!r} is not a number") from None
    if not values:
        raise BadInputError(f"{what}: no values given")
    return values


def _check_output(output: Path, *inputs: Path) -> None:
    folder = output.parent
    if not folder.is_dir():
        raise BadInputError(f"{output}: folder {folder} does not exist")
    if output.is_dir():
        raise BadInputError(f"{output}: is a folder")
    for source in inputs:
        if output.exists() and source.exists() and output.resolve() == source.resolve():
            raise BadInputError(f"{output}: output would overwrite the input")


def _size(n: int | None) -> str:
    return "–" if n is None else f"{n:,} bytes"


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "–" if value is None else format(value, spec)


# ---- commands -------------------------------------------------------------------------------


def _print_written(output: Path, data: Any) -> None:
    from ratecraft.data.io import describe

    d = describe(data)
    rate = f" at {d['sample_rate']:g} Hz" if d["sample_rate"] else ""
    _console().print(
        f"wrote {output}: {d['kind']} {' × '.join(map(str, d['shape']))} {d['dtype']}{rate}"
    )


@contextmanager
def _chunk_bar(label: str) -> Iterator[Any]:
    """A Rich progress bar fed by the codec's per-chunk callback (on a terminal only)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn(label),
        BarColumn(),
        TimeRemainingColumn(),
        console=_console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


@contextmanager
def _spinner(label: str) -> Iterator[None]:
    """A Rich spinner for steps with no natural progress count (rate-control search)."""
    if not sys.stderr.isatty():
        yield
        return
    with _console(stderr=True).status(label):
        yield


@app.command("info")
@_guarded
def info_cmd(
    file: Annotated[Path, typer.Argument(help="A data file (.npz, .wav, .h5, ...) or an .rcz.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    fs: Annotated[
        float | None, typer.Option(help="Sample rate (Hz) for files without one.")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset inside an HDF5/NWB file.")] = None,
    kind: Annotated[
        str | None, typer.Option(help="Read a 2-D array as 'recording' or 'table'.")
    ] = None,
) -> None:
    """Describe a data file, or the header of an .rcz container (codec, shape, real ratio)."""
    from ratecraft import api

    doc = api.info(file, fs=fs, dataset=dataset, kind=kind)
    if as_json:
        _print_json(doc)
        return
    rows: list[tuple[str, str]] = []
    for key, value in doc.items():
        if value is None or key == "file":
            continue
        if key == "shape":
            value = " × ".join(str(v) for v in value)
        elif key == "ratio" or key == "bits_per_sample":
            value = f"{value:.3f}"
        elif key in ("file_bytes", "raw_bytes"):
            value = _size(value)
        elif isinstance(value, dict):
            value = json.dumps(value, sort_keys=True)
        elif isinstance(value, float):
            value = f"{value:g}"
        rows.append((key.replace("_", " "), str(value)))
    _kv_table(str(file), rows)


class SynthKind(StrEnum):
    recording = "recording"
    table = "table"


@app.command("synth")
@_guarded
def synth_cmd(
    kind: Annotated[SynthKind, typer.Argument(help="What to simulate.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write (.npz, .wav, ...).")
    ],
    seed: Annotated[int, typer.Option(help="Random seed; a seed gives identical data.")] = 0,
    channels: Annotated[int | None, typer.Option(help="Recording: electrodes (16).")] = None,
    duration: Annotated[float | None, typer.Option(help="Recording: seconds (2).")] = None,
    fs: Annotated[float | None, typer.Option(help="Recording: sample rate in Hz (30000).")] = None,
    sparse_grid: Annotated[
        bool,
        typer.Option("--sparse-grid", help="Recording: 10-bit implant codes on a sparse grid."),
    ] = False,
    samples: Annotated[int | None, typer.Option(help="Table: rows (2000).")] = None,
) -> None:
    """Write a seeded synthetic recording (with spikes and LFP) or feature table."""
    from ratecraft.data.io import write_data
    from ratecraft.data.synthetic import simulate_recording, simulate_table

    _check_output(output)
    data: Any
    if kind is SynthKind.recording:
        if samples is not None:
            raise BadInputError("--samples applies to tables; use --duration and --fs")
        options: dict[str, Any] = {"seed": seed, "sparse_grid": sparse_grid}
        for name, value in (
            ("n_channels", channels),
            ("duration_s", duration),
            ("sample_rate", fs),
        ):
            if value is not None:
                options[name] = value
        data, _ = simulate_recording(**options)
    else:
        given = [
            flag
            for flag, value in (
                ("--channels", channels),
                ("--duration", duration),
                ("--fs", fs),
                ("--sparse-grid", sparse_grid or None),
            )
            if value is not None
        ]
        if given:
            raise BadInputError(f"{', '.join(given)} apply to recordings; use --samples")
        data = simulate_table(seed=seed, **({"n_samples": samples} if samples else {}))
    write_data(data, output)
    _print_written(output, data)


@app.command("encode")
@_guarded
def encode_cmd(
    input: Annotated[Path, typer.Argument(help="Data file to compress.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Container to write (.rcz).")],
    codec: Annotated[
        str | None, typer.Option(help="Codec name (default: predictive; quant when lossy).")
    ] = None,
    lossless: Annotated[bool, typer.Option("--lossless", help="Bit-exact (the default).")] = False,
    ratio: Annotated[
        float | None, typer.Option(help="Lossy: target raw/compressed ratio (> 1).")
    ] = None,
    max_error: Annotated[
        float | None, typer.Option(help="Lossy: maximum absolute error, in stored units.")
    ] = None,
    fs: Annotated[
        float | None, typer.Option(help="Sample rate (Hz) for files without one.")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset inside an HDF5/NWB file.")] = None,
    kind: Annotated[
        str | None, typer.Option(help="Read a 2-D array as 'recording' or 'table'.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    model: Annotated[
        Path | None, typer.Option(help="A trained model folder (from `ratecraft fit`).")
    ] = None,
) -> None:
    """Compress a data file into an .rcz container (written atomically)."""
    from ratecraft import api

    if model is not None:
        if codec or lossless or ratio is not None or max_error is not None:
            raise BadInputError("--model carries its codec and budget; drop the other options")
        fitted = api.load_codec(model)
        name, setting = fitted.name, f"model {model}"
    else:
        budget = api.make_budget(lossless=lossless, ratio=ratio, max_error=max_error)
        name = codec or api.default_codec(budget)
        api.check_codec(name, budget)
        setting = budget.describe()
        if codec_needs_model(name):
            raise BadInputError(f"{name} is learned: train it with `ratecraft fit`, then --model")
    _check_output(output, input)
    if output.suffix.lower() != api.CONTAINER_SUFFIX:
        log.warning("%s: containers are usually named *.rcz", output)
    data = api.load(input, fs=fs, dataset=dataset, kind=kind)
    if model is None:
        with _spinner(f"fitting {name} ({setting})"):
            fitted = api.fit(data, codec=name, budget=budget)
    with _chunk_bar("encoding") as progress:
        _, stats = api.encode(data, output, codec=fitted, progress=progress)
    doc = {
        "input": str(input),
        "output": str(output),
        "codec": name,
        "setting": setting,
        "raw_bytes": stats.raw_bytes,
        "container_bytes": stats.container_bytes,
        "n_samples": stats.n_samples,
        "ratio": stats.ratio,
        "bits_per_sample": stats.bits_per_sample,
        "est_bits_per_sample": stats.estimated_bits_per_sample,
        "seconds": stats.seconds,
        "samples_per_s": stats.n_samples / max(stats.seconds, 1e-9),
    }
    if as_json:
        _print_json(doc)
        return
    _kv_table(
        f"wrote {output}",
        [
            ("codec", f"{name} ({setting})"),
            ("raw", _size(stats.raw_bytes)),
            ("container", _size(stats.container_bytes)),
            ("ratio", f"{stats.ratio:.3f}"),
            (
                "bits/sample",
                f"{stats.bits_per_sample:.3f} actual, "
                f"{_fmt(stats.estimated_bits_per_sample)} estimated",
            ),
            ("time", f"{stats.seconds:.3f} s ({doc['samples_per_s']:,.0f} samples/s)"),
        ],
    )


@app.command("decode")
@_guarded
def decode_cmd(
    input: Annotated[Path, typer.Argument(help="An .rcz container.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write; format from the extension.")
    ],
    dataset: Annotated[
        str | None, typer.Option(help="Dataset or series name to create in HDF5/NWB.")
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="The trained model folder a learned codec's file needs.")
    ] = None,
) -> None:
    """Decode an .rcz container and write the data (every chunk is checked first)."""
    from ratecraft import api
    from ratecraft.data.io import WRITERS, write_data

    _check_output(output, input)
    if output.suffix.lower() not in WRITERS:
        raise BadInputError(
            f"{output}: cannot write {output.suffix or 'files without an extension'!r}; "
            f"supported: {', '.join(WRITERS)}"
        )
    if model is not None:
        data = api.load_codec(model).decode(api.read_container(input))
    else:
        with _chunk_bar("decoding") as progress:
            data = api.decode(input, progress)
    write_data(data, output, dataset=dataset)
    _print_written(output, data)


@app.command("bench")
@_guarded
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
    from ratecraft.codecs import available_codecs
    from ratecraft.codecs.base import codec_class

    names = (
        [c.strip() for c in codecs.split(",") if c.strip()]
        if codecs
        else available_codecs(learned=False)
    )
    if not names:
        raise BadInputError("--codecs: no codec names given")
    for name in names:
        codec_class(name)
    ratio_list = _floats(ratios, "--ratios")
    error_list = _floats(max_errors, "--max-errors")
    if not ratio_list and not error_list:
        ratio_list = [10.0, 20.0]
    budgets = [api.make_budget(ratio=r) for r in ratio_list]
    budgets += [api.make_budget(max_error=e) for e in error_list]
    if json_path is not None:
        _check_output(json_path, *inputs)
    models = [api.load_codec(m) for m in model or []]
    data = [(str(p), api.load(p, fs=fs, dataset=dataset, kind=kind)) for p in inputs]
    records = run_bench(data, names, budgets, progress=sys.stderr.isatty(), models=models)
    if json_path is not None:
        api.write_file(json_path, records_to_json(records).encode("utf-8"))
    sys.stdout.write(markdown_table(records))
    failed = failures(records)
    if failed:
        first = failed[0]
        raise RatecraftError(
            f"{len(failed)} of {len(records)} run(s) failed; first: {first['input']} / "
            f"{first['codec']} / {first['setting']}: {first['error']}"
        )


@app.command("demo")
@_guarded
def demo_cmd(
    out: Annotated[Path, typer.Option("--out", help="Folder for the report.")] = Path(
        "ratecraft-demo"
    ),
    quick: Annotated[
        bool, typer.Option("--quick", help="Small inputs: a smoke run in seconds.")
    ] = False,
) -> None:
    """Benchmark every codec on built-in data; write report.md, results.json and plots."""
    from ratecraft.demo import run_demo

    result = run_demo(out, quick=quick, progress=sys.stderr.isatty())
    sys.stdout.write(result.table)
    names = ", ".join(p.name for p in result.plots)
    _console().print(
        f"\nwrote {result.report}, {result.results.name} and {names or 'no plots'} "
        f"({result.seconds:.1f} s)"
    )
    if result.failed:
        first = result.failed[0]
        raise RatecraftError(
            f"{len(result.failed)} run(s) failed; first: {first['input']} / {first['codec']} / "
            f"{first['setting']}: {first['error']}"
        )


def codec_needs_model(name: str) -> bool:
    """True for learned codecs, which must be trained (``ratecraft fit``) before they encode."""
    from ratecraft.codecs.base import codec_class

    return codec_class(name).learned


from ratecraft import (  # noqa: E402  (each registers its commands on `app`)
    cli_autopilot,  # noqa: F401
    cli_export,  # noqa: F401
    cli_models,  # noqa: F401
    cli_shrink,  # noqa: F401
)


def main() -> None:
    """Console entry point (same as calling :data:`app`)."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
