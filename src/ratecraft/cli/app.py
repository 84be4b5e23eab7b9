"""The shared parts of the ``ratecraft`` command line: the app, one-line errors, the global
options and the small output helpers every command group uses.

Exit codes: 0 success, 1 failure, 2 bad input (a wrong file, option or value, and usage errors
such as an unknown option or a missing argument). Every error is one line on stderr,
``error: <message>``, never a traceback or a box (``--verbose`` logs the traceback of an
unexpected error). Outputs are written atomically, so a failed command leaves no file behind.

Global options (before the command): ``-v/--verbose``, ``-q/--quiet``, ``--progress-interval``
(seconds between progress lines when stderr is not a terminal; also ``RATECRAFT_PROGRESS_INTERVAL``)
and ``--version``.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from ratecraft.cli import logs
from ratecraft.cli.logs import one_line
from ratecraft.cli.progress import pick_mode, showing
from ratecraft.errors import BadInputError, RatecraftError

try:  # Typer ≥ 0.2x carries its own copy of click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older Typer uses click itself
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

log = logging.getLogger("ratecraft")
notes = logging.getLogger("ratecraft.cli")  # the command's own notes (shown unless --quiet)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Settings:
    """The global options of the current invocation."""

    verbose: bool = False
    quiet: bool = False
    progress_interval: float = 5.0


settings = Settings()


def version() -> str:
    """The installed ratecraft version (the package metadata, else the source tree's)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("ratecraft")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        from ratecraft import __version__

        return __version__


# ---- errors ---------------------------------------------------------------------------------


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
    _error_line(message)
    return code


def usage_error(exc: Any) -> int:
    """Print a click usage error (unknown option, missing argument, bad value) as one line."""
    text = one_line(exc.format_message()).rstrip(".")
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        text = text[0].lower() + text[1:]
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "ratecraft"
    _error_line(f"{text} (see '{where} --help')")
    return int(getattr(exc, "exit_code", 2))


def _error_line(message: str) -> None:
    sys.stderr.write(f"error: {one_line(message)}\n")
    sys.stderr.flush()


def _no_flag_types(params: list[Any]) -> list[Any]:
    """Flags take no value: show no ``<bool>`` type beside them in help."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class _Command(TyperCommand):
    """A Typer command whose help shows no type beside flags."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _no_flag_types(super().get_params(ctx))


class _SubGroup(TyperGroup):
    """A command group below the top level (``ratecraft models …``): no flag types in help."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _no_flag_types(super().get_params(ctx))


class _Group(TyperGroup):
    """The top-level command: usage errors and anything unexpected become one ``error:`` line;
    its help lists commands in the order they were registered."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _no_flag_types(super().get_params(ctx))

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
            code = rv if isinstance(rv, int) else 0
        except click_exceptions.NoArgsIsHelpError as exc:
            sys.stdout.write(exc.format_message())
            code = 2
        except click_exceptions.UsageError as exc:
            code = usage_error(exc)
        except click_exceptions.ClickException as exc:
            _error_line(exc.format_message())
            code = exc.exit_code
        except typer.Abort:
            code = report_error(KeyboardInterrupt())
        except SystemExit:
            raise
        except BaseException as exc:  # the per-command guard should have caught everything
            code = report_error(exc)
        if not standalone_mode:
            return code
        sys.exit(code)


class _App(typer.Typer):
    """A Typer app whose commands use :class:`_Command` (no flag types in help)."""

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", _Command)
        return super().command(*args, **kwargs)


app = _App(
    name="ratecraft",
    cls=_Group,
    rich_markup_mode="markdown",  # reflows docstring paragraphs; `code` renders as code
    help="Learned compression with honest rate control: encode, decode, inspect and benchmark.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


# ---- global options -------------------------------------------------------------------------


@contextmanager
def guard() -> Iterator[None]:
    """Run a command: its progress shown (:mod:`ratecraft.cli.progress`), any error as one line."""
    try:
        with showing(pick_mode(settings.quiet), settings.progress_interval):
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


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"ratecraft {version()}\n")
        raise typer.Exit(0)


@app.callback()
def _main(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Log what every step does (debug level, dependencies too)."
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only warnings and errors: no progress.")
    ] = False,
    progress_interval: Annotated[
        float,
        typer.Option(
            envvar="RATECRAFT_PROGRESS_INTERVAL",
            show_envvar=False,
            help="Seconds between progress lines when stderr is not a terminal (also "
            "RATECRAFT_PROGRESS_INTERVAL).",
        ),
    ] = 5.0,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    if verbose and quiet:
        raise BadInputError("give --verbose or --quiet, not both")
    if not progress_interval >= 0:
        raise BadInputError(f"--progress-interval must be ≥ 0 seconds, got {progress_interval:g}")
    settings.verbose, settings.quiet = verbose, quiet
    settings.progress_interval = progress_interval
    logs.setup(verbose=verbose, quiet=quiet)


# ---- helpers --------------------------------------------------------------------------------


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(file=sys.stderr if stderr else sys.stdout, highlight=False, soft_wrap=True)


def print_json(doc: Any) -> None:
    from ratecraft.jsonsafe import dumps

    sys.stdout.write(dumps(doc) + "\n")


def kv_table(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.table import Table
    from rich.text import Text

    out = console()
    out.print(title, markup=False)  # a title line: never cut short like a table title
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", overflow="fold")
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(Text(key), Text(value))  # plain text: "[1, 2]" is not markup
    out.print(table)


def read_mapping(path: Path, what: str = "config") -> dict[str, Any]:
    """The mapping in a YAML (or JSON) file; one-line errors for an unreadable file, bad YAML
    or anything but a mapping (an empty file is an empty mapping)."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise BadInputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise BadInputError(f"{path}: the {what} must be a mapping of options")
    return doc


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


def describe_line(data: Any) -> str:
    """``recording 4 × 60000 int16 at 30000 Hz``."""
    from ratecraft.data.io import describe

    d = describe(data)
    rate = f" at {d['sample_rate']:g} Hz" if d["sample_rate"] else ""
    return f"{d['kind']} {' × '.join(map(str, d['shape']))} {d['dtype']}{rate}"


def print_written(output: Path, data: Any) -> None:
    console().print(f"wrote {output}: {describe_line(data)}")


@contextmanager
def chunk_bar(label: str) -> Iterator[Any]:
    """A ``(frames done, frames in all)`` callback for a codec's per-chunk progress, shown as
    the task ``label`` (a bar on a terminal, log lines elsewhere)."""
    from ratecraft import progress

    with progress.task(label, unit="frames"):
        yield lambda done, total: progress.report(label, done, total, unit="frames")


@contextmanager
def spinner(label: str) -> Iterator[None]:
    """Show ``label`` as running for a step with no natural count (rate-control search)."""
    from ratecraft import progress

    with progress.task(label):
        yield


@contextmanager
def steps_bar(label: str) -> Iterator[Any]:
    """A ``(step index, steps in all, step name)`` callback (a shrink recipe's), shown as the
    task ``label``."""
    from ratecraft import progress

    with progress.task(label, unit="step"):
        yield lambda i, n, name: progress.report(label, i, n, unit="step", step=name)


def command_group(name: str, help: str) -> typer.Typer:
    """A sub-command group (``ratecraft NAME COMMAND``) with the app's help and error style."""
    group = _App(
        name=name,
        cls=_SubGroup,
        rich_markup_mode="markdown",
        help=help,
        add_completion=False,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    app.add_typer(group, name=name)
    return group
