"""The shared parts of the ``ratecraft`` command line: the app, one-line errors, logging and
the small output helpers every command group uses.

Exit codes: 0 success, 1 failure, 2 bad input (a wrong file, option or value; Typer's own usage
errors exit 2 as well). Every error is one line on stderr, ``error: <message>``, never a
traceback (``--verbose`` logs the traceback of an unexpected error). Outputs are written
atomically, so a failed command leaves no file behind.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
            code = report_error(exc)
            sys.exit(code)


app = _App(
    name="ratecraft",
    help="Learned compression with honest rate control: encode, decode, inspect and benchmark.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


# ---- errors and logging ---------------------------------------------------------------------


def one_line(text: object) -> str:
    return " ".join(str(text).split()) or "unknown error"


def report_error(exc: BaseException) -> int:
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
    sys.stderr.write(f"error: {one_line(message)}\n")
    sys.stderr.flush()
    return code


@contextmanager
def guard() -> Iterator[None]:
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except BaseException as exc:
        raise typer.Exit(report_error(exc)) from None


def guarded(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with guard():
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
            text = one_line(text)
        return f"{record.levelname.lower()}: {text}"


def setup_logging(verbose: bool) -> None:
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
    setup_logging(verbose)


# ---- helpers --------------------------------------------------------------------------------


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(file=sys.stderr if stderr else sys.stdout, highlight=False, soft_wrap=True)


def print_json(doc: Any) -> None:
    from ratecraft.jsonsafe import dumps

    sys.stdout.write(dumps(doc) + "\n")


def kv_table(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.table import Table

    table = Table(title=title, show_header=False, box=None, title_justify="left", pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    console().print(table)


def floats(text: str | None, what: str) -> list[float]:
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


def check_output(output: Path, *inputs: Path) -> None:
    folder = output.parent
    if not folder.is_dir():
        raise BadInputError(f"{output}: folder {folder} does not exist")
    if output.is_dir():
        raise BadInputError(f"{output}: is a folder")
    for source in inputs:
        if output.exists() and source.exists() and output.resolve() == source.resolve():
            raise BadInputError(f"{output}: output would overwrite the input")


def size_text(n: int | None) -> str:
    return "–" if n is None else f"{n:,} bytes"


def fmt(value: float | None, spec: str = ".3f") -> str:
    return "–" if value is None else format(value, spec)


# ---- commands -------------------------------------------------------------------------------


def print_written(output: Path, data: Any) -> None:
    from ratecraft.data.io import describe

    d = describe(data)
    rate = f" at {d['sample_rate']:g} Hz" if d["sample_rate"] else ""
    console().print(
        f"wrote {output}: {d['kind']} {' × '.join(map(str, d['shape']))} {d['dtype']}{rate}"
    )


@contextmanager
def chunk_bar(label: str) -> Iterator[Any]:
    """A Rich progress bar fed by the codec's per-chunk callback (on a terminal only)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn(label),
        BarColumn(),
        TimeRemainingColumn(),
        console=console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


@contextmanager
def spinner(label: str) -> Iterator[None]:
    """A Rich spinner for steps with no natural progress count (rate-control search)."""
    if not sys.stderr.isatty():
        yield
        return
    with console(stderr=True).status(label):
        yield
