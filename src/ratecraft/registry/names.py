"""Model names, aliases and references (``N``, ``N@3``, ``N@v3``, ``N@production``), validated.

A name or alias is 1–64 characters of lower-case letters, digits, ``.``, ``_`` and ``-``,
starting with a letter or digit and never containing ``..``: it is safe as a file name, a URL
path segment and a SQL value, so nothing a user types can walk out of the registry folder.
Every other string is refused with one line (:class:`~ratecraft.errors.BadInputError`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ratecraft.errors import BadInputError

__all__ = ["ModelRef", "check_alias", "check_name", "parse_ref"]

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_VERSION = re.compile(r"v?([0-9]{1,9})")
ZOO_PREFIX = "zoo:"


def _check(text: str, what: str) -> str:
    if not isinstance(text, str) or not _NAME.fullmatch(text) or ".." in text:
        shown = repr(text)[:80]
        raise BadInputError(
            f"invalid {what} {shown}: use 1-64 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no '..', no '/')"
        )
    return text


def check_name(name: str) -> str:
    """``name`` if it is a valid model name, else a one-line :class:`BadInputError`."""
    return _check(name, "model name")


def check_alias(alias: str) -> str:
    """``alias`` if valid (same rules as names; a bare number is a version, not an alias)."""
    _check(alias, "alias")
    if _VERSION.fullmatch(alias):
        raise BadInputError(f"invalid alias {alias!r}: it reads as a version number")
    return alias


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference: a name and at most one of a version or an alias (neither: latest)."""

    name: str
    version: int | None = None
    alias: str | None = None
    zoo: bool = False

    def __str__(self) -> str:
        head = f"{ZOO_PREFIX}{self.name}" if self.zoo else self.name
        if self.version is not None:
            return f"{head}@{self.version}"
        if self.alias is not None:
            return f"{head}@{self.alias}"
        return head


def parse_ref(text: str) -> ModelRef:
    """``N``, ``N@3`` / ``N@v3`` (a version), ``N@alias``, or ``zoo:N`` (a shipped model)."""
    if not isinstance(text, str) or not text:
        raise BadInputError("empty model reference")
    zoo = text.startswith(ZOO_PREFIX)
    body = text[len(ZOO_PREFIX) :] if zoo else text
    name, sep, tail = body.partition("@")
    check_name(name)
    if zoo:
        if sep:
            raise BadInputError(f"{text!r}: a zoo model has one version; drop '@{tail}'")
        return ModelRef(name, zoo=True)
    if not sep:
        return ModelRef(name)
    if not tail:
        raise BadInputError(f"{text!r}: nothing after '@' (give a version or an alias)")
    version = _VERSION.fullmatch(tail)
    if version:
        number = int(version.group(1))
        if number < 1:
            raise BadInputError(f"{text!r}: versions start at 1")
        return ModelRef(name, version=number)
    return ModelRef(name, alias=check_alias(tail))
