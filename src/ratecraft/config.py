"""Validated configuration: the one conversion of pydantic errors into one-line bad input.

Every config, recipe, budget and header in ratecraft is a pydantic model. pydantic reports a
failure as a multi-line :class:`pydantic.ValidationError`; users get one line instead,
``<what>: <field path>: <message>``, as a :class:`~ratecraft.errors.BadInputError` (or the
error class a caller names, e.g. :class:`~ratecraft.errors.CorruptStreamError` for a header).
"""

from __future__ import annotations

import re
from typing import Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ratecraft.errors import BadInputError

__all__ = ["CheckedModel", "first_error", "validated"]

M = TypeVar("M", bound=BaseModel)

# "invalid TrainConfig: epochs: Input should be ..." (what CheckedModel raises), to re-root
_NESTED = re.compile(r"invalid \w+: (?P<path>[\w.]+): (?P<msg>.+)", re.DOTALL)


def first_error(exc: ValidationError) -> str:
    """``field.path: message`` of the first error pydantic found (or just the message)."""
    errors = exc.errors()
    if not errors:
        return str(exc).splitlines()[0]
    err = errors[0]
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    loc = ".".join(str(p) for p in err.get("loc", ()))
    nested = _NESTED.fullmatch(msg)
    if loc and nested:  # a nested CheckedModel's own one-line error: join the two paths
        return f"{loc}.{nested['path']}: {nested['msg']}"
    return f"{loc}: {msg}" if loc else msg


def validated(
    model: type[M],
    data: Any,
    what: str,
    *,
    error: type[BadInputError] = BadInputError,
    json: bool = False,
) -> M:
    """``model`` validated from ``data`` (a mapping, or JSON text with ``json=True``).

    A failure raises ``error(f"{what}: {first_error}")``: one line, never a traceback.
    """
    try:
        if json:
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(f"{what}: {first_error(exc)}") from None


class CheckedModel(BaseModel):
    """A frozen pydantic model whose validation failures are one-line :class:`BadInputError`\\ s.

    Construction, ``model_validate`` and ``model_validate_json`` go through :func:`validated`'s
    conversion, so the CLI can print one line and exit 2. ``extra="forbid"``: a typo in a YAML
    key is an error, not a silently ignored option.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise BadInputError(f"invalid {type(self).__name__}: {first_error(exc)}") from None

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            raise BadInputError(f"invalid {cls.__name__}: {first_error(exc)}") from None

    @classmethod
    def model_validate_json(  # type: ignore[override]
        cls, json_data: str | bytes, *args: Any, **kwargs: Any
    ) -> Self:
        try:
            return super().model_validate_json(json_data, *args, **kwargs)
        except ValidationError as exc:
            raise BadInputError(f"invalid {cls.__name__}: {first_error(exc)}") from None
