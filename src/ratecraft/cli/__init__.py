"""The ``ratecraft`` command line: one module per command group, each a thin layer over the
library (:mod:`ratecraft.api` and the packages below it).

Exit codes: 0 success, 1 failure, 2 bad input (a wrong file, option or value; usage errors
exit 2 as well). Every error is one line on stderr, ``error: <message>``, never a traceback
(``--verbose`` logs the traceback of an unexpected error). Outputs are written atomically, so
a failed command leaves no file behind.
"""

# the commands, registered in the order `ratecraft --help` lists them
from ratecraft.cli import data, codecs, models, bench, shrink, export, autopilot, serve, online  # noqa: F401, I001
from ratecraft.cli.app import app


def main() -> None:
    """Console entry point (same as calling :data:`app`)."""
    app()


__all__ = ["app", "main"]
