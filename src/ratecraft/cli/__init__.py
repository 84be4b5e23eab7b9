"""The ``ratecraft`` command line: one module per command group, each a thin layer over the
library (:mod:`ratecraft.api` and the packages below it).

Exit codes: 0 success, 1 failure, 2 bad input (a wrong file, option or value; usage errors
exit 2 as well). Every error is one line on stderr, ``error: <message>``, never a traceback
(``--verbose`` logs the traceback of an unexpected error). Outputs are written atomically, so
a failed command leaves no file behind.
"""

from ratecraft.cli import autopilot, bench, data, export, models, shrink  # noqa: F401  (commands)
from ratecraft.cli.app import app


def main() -> None:
    """Console entry point (same as calling :data:`app`)."""
    app()


__all__ = ["app", "main"]
