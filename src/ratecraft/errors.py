"""Exception types shared by the library and the CLI.

The CLI maps :class:`BadInputError` to exit code 2 and every other :class:`RatecraftError` to 1,
printing one line instead of a traceback.
"""

from __future__ import annotations


class RatecraftError(Exception):
    """Base class of every error ratecraft raises on purpose."""


class BadInputError(RatecraftError, ValueError):
    """The user handed in something unusable: a wrong file, shape, value or option."""


class CorruptStreamError(BadInputError):
    """A container file is truncated, corrupt, of a future version or declares absurd sizes."""


class UnknownCodecError(BadInputError, KeyError):
    """A codec name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingExtraError(RatecraftError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f'{package} is not installed; install it with: pip install "ratecraft[{extra}]"'
        )
        self.package = package
        self.extra = extra
