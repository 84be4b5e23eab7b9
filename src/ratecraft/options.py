"""The options of a pydantic config, listed and set by dotted name.

:func:`options` flattens a config class into one :class:`Option` per setting (nested configs
become dotted names such as ``train.epochs``), each with its type, default, bounds and help
text, all read from the model itself, so a listing can never disagree with what validation
accepts. :func:`parse_settings` turns ``KEY=VALUE`` strings (values are YAML, so ``2``,
``true``, ``null`` and ``[1, 2]`` mean what they look like) into the nested mapping the model
validates, and :func:`check_keys` refuses a key the model does not have with the closest names
it does have. The values themselves are checked by the model when the config is built.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel

from ratecraft.errors import BadInputError

__all__ = ["Option", "check_keys", "merge", "options", "parse_settings", "type_text"]


@dataclass(frozen=True)
class Option:
    """One setting of a config: dotted ``name``, ``type`` and ``bounds`` as text, the
    ``default`` (JSON-ready) and the field's ``help`` (its pydantic description)."""

    name: str
    type: str
    default: Any
    bounds: str
    help: str

    @property
    def default_text(self) -> str:
        return json.dumps(self.default, ensure_ascii=False)


def options(model: type[BaseModel], defaults: BaseModel | None = None) -> list[Option]:
    """Every setting of ``model`` (nested models flattened), with the defaults of ``defaults``
    (default: ``model()``, so a nested config shows the default its parent gives it)."""
    return list(_walk(model, defaults if defaults is not None else model(), ""))


def _walk(model: type[BaseModel], values: BaseModel, prefix: str) -> Iterator[Option]:
    for name, field in model.model_fields.items():
        value = getattr(values, name)
        sub = _nested_model(field.annotation)
        if sub is not None and isinstance(value, BaseModel):
            yield from _walk(sub, value, f"{prefix}{name}.")
            continue
        default = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        yield Option(
            name=f"{prefix}{name}",
            type=type_text(field.annotation),
            default=json.loads(json.dumps(default, default=str)),
            bounds=bounds_text(field.metadata),
            help=" ".join((field.description or "").split()),
        )


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The config class of a field that holds a nested config (not optional, not a union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def type_text(annotation: Any) -> str:
    """A short type name: ``int``, ``float | None``, ``factorized | hyperprior`` (choices),
    ``list[int]``, ``dict[str, float]``."""
    if annotation is type(None):
        return "None"
    origin = get_origin(annotation)
    if origin is Literal:
        return " | ".join(str(a) for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        return " | ".join(type_text(a) for a in get_args(annotation))
    if origin is typing.Annotated:
        return type_text(get_args(annotation)[0])
    if origin is tuple and get_args(annotation)[-1:] == (Ellipsis,):
        return f"list[{type_text(get_args(annotation)[0])}]"  # YAML and JSON give a list
    if origin is not None:
        args = ", ".join(type_text(a) for a in get_args(annotation))
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{args}]" if args else name
    if hasattr(annotation, "__value__"):  # a `type X = ...` alias
        return type_text(annotation.__value__)
    return getattr(annotation, "__name__", str(annotation))


def bounds_text(metadata: Sequence[Any]) -> str:
    """The interval a number must lie in, e.g. ``[1, 64]``, ``(0, ∞)``, ``[0, 0.5)``; ``""``
    when the field has no bound."""
    low = high = None
    low_open = high_open = False
    for item in metadata:
        if isinstance(item, at.Ge):
            low = item.ge
        elif isinstance(item, at.Gt):
            low, low_open = item.gt, True
        elif isinstance(item, at.Le):
            high = item.le
        elif isinstance(item, at.Lt):
            high, high_open = item.lt, True
    if low is None and high is None:
        return ""
    left = "(−∞" if low is None else f"{'(' if low_open else '['}{_number(low)}"
    right = "∞)" if high is None else f"{_number(high)}{')' if high_open else ']'}"
    return f"{left}, {right}"


def _number(value: Any) -> str:
    if isinstance(value, int) and abs(value) >= 1 << 16 and (value & (value - 1)) == 0:
        return f"2^{value.bit_length() - 1}"
    return f"{value:g}" if isinstance(value, float) else str(value)


# ---- setting options --------------------------------------------------------------------------


def parse_settings(pairs: Sequence[str], what: str = "--set") -> dict[str, Any]:
    """``["train.epochs=2", "entropy=hyperprior"]`` → ``{"train": {"epochs": 2}, "entropy":
    "hyperprior"}``; each value is read as YAML. Keys are not checked here (:func:`check_keys`)."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise BadInputError(f"{what}: expected KEY=VALUE (e.g. train.epochs=2), got {pair!r}")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            raise BadInputError(f"{what} {key}: {text!r} is not a YAML value") from None
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise BadInputError(
                    f"{what}: {key!r} sets inside {part!r}, which is set to a value"
                )
            node = child
        node[leaf] = value
    return out


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` on top; nested mappings are merged key by key."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def check_keys(doc: Mapping[str, Any], model: type[BaseModel], what: str, hint: str = "") -> None:
    """Refuse a key of ``doc`` that ``model`` has no option for, naming the closest ones.

    Nested configs are followed (``train.epochs``); below a field that is not a config
    (``group_weights``) any key is left for the model's own validation.
    """
    names = [o.name for o in options(model)]
    for path in _paths(doc, model, ""):
        close = difflib.get_close_matches(path, names, n=3, cutoff=0.6)
        near = f"; did you mean {' or '.join(close)}?" if close else ""
        raise BadInputError(f"{what}: unknown option {path!r}{near}{hint}")


def _paths(doc: Mapping[str, Any], model: type[BaseModel], prefix: str) -> Iterator[str]:
    """Dotted keys of ``doc`` that ``model`` does not have."""
    for key, value in doc.items():
        field = model.model_fields.get(str(key))
        if field is None:
            yield f"{prefix}{key}"
            continue
        sub = _nested_model(field.annotation)
        if sub is not None and isinstance(value, Mapping):
            yield from _paths(value, sub, f"{prefix}{key}.")
