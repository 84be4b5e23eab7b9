"""Logging for the command line: one-line records on stderr, levels from ``-q``/``-v``, and the
dependencies' noise kept out of ordinary runs.

Levels: ``--quiet`` shows warnings and errors only (and no progress); the default adds the
command's own progress lines; ``--verbose`` shows everything at debug level, with logger names
and tracebacks, dependency messages included.

Dependency noise is filtered here, at the CLI boundary, and only here: a user's own program that
imports ratecraft sees every message its dependencies emit. What is dropped is named one by one
in :data:`NOISE` (harmless messages torch and torchao log on import of a CPU build), Python
warnings raised outside ratecraft's own code are shown only with ``--verbose`` (a user of the
command line cannot act on a FutureWarning inside torch), and what a dependency prints on stdout
while a command works (:func:`stdout_to_log`) becomes debug records, so ``--json`` output stays
parseable.
"""

from __future__ import annotations

import io
import logging
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger("ratecraft")
deps = logging.getLogger("ratecraft.cli.deps")

_PACKAGE = Path(__file__).resolve().parents[1]  # src/ratecraft

NOISE: tuple[tuple[str, str], ...] = (
    # torchao's CUDA kernels (_C_mxfp8, _C_cutlass_90a …) cannot load on a CPU-only torch
    ("torchao", "Failed to load "),
    ("torchao", "Skipping import of cpp extensions"),
    # torchao registers enums as pytree constants, which torch ≥ 2.12 calls deprecated
    ("torch.utils._pytree", "is an Enum subclass and is now natively supported"),
    # the ONNX exporter lists the torchvision ops it skips; ratecraft exports none of them
    ("torch.onnx._internal.exporter._registration", "torchvision is not installed"),
)
"""(logger name, text in the message) of every dependency log record the CLI drops."""


def one_line(text: object) -> str:
    return " ".join(str(text).split()) or "unknown error"


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners and Rich swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # pragma: no cover
            self.handleError(record)


class _Formatter(logging.Formatter):
    """``level: message`` on one line (``label: …`` when a record names its own label); with
    ``verbose`` the logger name and any traceback too."""

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
        return f"{getattr(record, 'label', record.levelname.lower())}: {text}"


class _DropNoise(logging.Filter):
    """Drops a dependency's log records that contain ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` of the CLI: ratecraft's own warnings as ``warning:`` lines,
    everybody else's at debug level (``--verbose``)."""
    try:
        own = Path(filename).resolve().is_relative_to(_PACKAGE)
    except (OSError, ValueError):
        own = False
    if own:
        log.warning("%s", message)
    else:
        deps.debug("%s: %s (%s:%d)", category.__name__, message, filename, lineno)


def setup(*, verbose: bool, quiet: bool) -> None:
    """Configure the ``ratecraft`` loggers and the dependency filters for one command."""
    for handler in list(log.handlers):
        if isinstance(handler, _StderrHandler):
            log.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(_Formatter(verbose))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.WARNING)
    log.propagate = False
    # the command's own progress and notes (not the library's) show unless --quiet
    logging.getLogger("ratecraft.cli").setLevel(
        logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    )
    deps.setLevel(logging.DEBUG if verbose else logging.WARNING)
    for name in {name for name, _ in NOISE}:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, _DropNoise)]:
            logger.removeFilter(old)
    if not verbose:
        for name, text in NOISE:
            logging.getLogger(name).addFilter(_DropNoise(text))
    logging.captureWarnings(False)
    warnings.showwarning = _show_warning


class _LineLogger(io.TextIOBase):
    """A text stream that logs every complete line written to it at debug level."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._buf = ""

    def writable(self) -> bool:
        return True

    def write(self, text: Any) -> int:
        self._buf += str(text)
        *lines, self._buf = self._buf.split("\n")
        for line in lines:
            if line.strip():
                deps.debug("%s printed: %s", self.name, line)
        return len(str(text))

    def flush(self) -> None:
        if self._buf.strip():
            deps.debug("%s printed: %s", self.name, self._buf)
        self._buf = ""


@contextmanager
def stdout_to_log(name: str) -> Iterator[None]:
    """What a dependency prints on stdout inside the block becomes debug records (``name``
    says whose work it was), so a command's stdout holds its result alone."""
    sink = _LineLogger(name)
    try:
        with redirect_stdout(sink):  # type: ignore[type-var]
            yield
    finally:
        sink.flush()
