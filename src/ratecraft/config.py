"""Validated configuration: the one conversion of pydantic errors into one-line bad input.

Every config, recipe, budget and header in ratecraft is a pydantic model. pydantic reports a
failure as a multi-line :class:`pydantic.ValidationError`; users get one line instead,
``<what>: <field path>: <message>``, as a :class:`~ratecraft.errors.BadInputError` (or the
error class a caller names, e.g. :class:`~ratecraft.errors.CorruptStreamError` for a header).

:class:`NeutralFields` lets a config gain fields without changing what older models saved (and
the content hashes containers name them by).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from ratecraft.errors import BadInputError

__all__ = ["CheckedModel", "NeutralFields", "first_error", "validated"]

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


class NeutralFields(BaseModel):
    """A config whose newer fields stay out of saved configs while they are *neutral*.

    ``neutral`` maps each field added after models were saved to the value that means "as
    before this field existed". A dump leaves such a field out while it holds that value, so the
    saved config of an older model, and every content hash computed from it, stays exactly what
    it was. Reading a *complete* dump (every other dumped field present: what a model folder
    holds) that lacks one gives it the neutral value, so a model saved with a feature off
    reloads with it off even where the default is now on; a partial config (a user's YAML or
    ``--set``) gets the defaults.
    """

    neutral: ClassVar[dict[str, Any]] = {}

    @model_validator(mode="before")
    @classmethod
    def _neutral_when_complete(cls, data: Any) -> Any:
        if not cls.neutral or not isinstance(data, dict):
            return data
        others = {
            name
            for name, f in cls.model_fields.items()
            if name not in cls.neutral and not f.exclude
        }
        if others and others <= data.keys():
            return {**cls.neutral, **data}
        return data

    @model_serializer(mode="wrap")
    def _omit_neutral(self, handler: SerializerFunctionWrapHandler) -> Any:
        out = handler(self)
        if isinstance(out, dict):
            for name, value in self.neutral.items():
                if name in out and getattr(self, name) == value:
                    del out[name]
        return out
