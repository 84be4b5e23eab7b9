"""Named plug-ins: the one registry helper behind codecs, shrink steps, evaluators, model
builders and autopilot proposers.

A :class:`Registry` maps names to objects (usually classes). Built-in entries are *declared* by
import path (``"ratecraft.codecs.classical.quant:QuantCodec"``) and imported only when first
asked for, so listing names or running one classical codec never imports torch. A registry may
also have *provider* modules, which register several entries with the decorator
:meth:`Registry.register` when imported (the shrink steps of one module); they are imported
the first time a name is missing or the names are listed. An entry or provider that needs an
optional extra names it: asking for it without the extra installed raises
:class:`~ratecraft.errors.MissingExtraError` (``pip install "ratecraft[llm]"``), and listing
leaves it out.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ratecraft.errors import BadInputError, MissingExtraError

__all__ = ["Entry", "Registry"]

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    """A declared name: where its object lives and what it needs."""

    name: str
    target: str  # "package.module:attribute"
    extra: str | None = None  # the extra whose packages the module imports
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]


class Registry(Generic[T]):
    """Objects of one ``kind`` by name, imported lazily from their declarations."""

    def __init__(self, kind: str, *, error: type[BadInputError] = BadInputError) -> None:
        self.kind = kind
        self._error = error
        self._declared: dict[str, Entry] = {}
        self._loaded: dict[str, T] = {}
        self._providers: dict[str, str | None] = {}  # module → extra it needs
        self._provided = False

    # ---- filling ---------------------------------------------------------------------------
    def declare(self, name: str, target: str, *, extra: str | None = None, **meta: Any) -> None:
        """Name an object by import path ("module:attribute") without importing it."""
        if ":" not in target:
            raise ValueError(f"{self.kind} {name!r}: target must be 'module:attribute'")
        old = self._declared.get(name)
        if old is not None and old.target != target:
            raise ValueError(f"{self.kind} {name!r} is declared twice ({old.target}, {target})")
        self._declared[name] = Entry(name, target, extra, dict(meta))

    def provide(self, module: str, *, extra: str | None = None) -> None:
        """A module that registers entries when imported (imported when first needed)."""
        self._providers[module] = extra
        self._provided = False

    def _load_providers(self) -> None:
        if self._provided:
            return
        for module, extra in self._providers.items():
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if extra is None:
                    raise
                log.info("%ss of %s need the %s extra (%s)", self.kind, module, extra, exc)
        self._provided = True

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register ``obj`` under ``name`` (a class gets ``name`` as its ``name``)."""

        def deco(obj: T) -> T:
            old = self._loaded.get(name)
            if old is not None and old is not obj:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            if isinstance(obj, type):
                obj.name = name  # type: ignore[attr-defined]
            self._loaded[name] = obj
            return obj

        return deco

    # ---- reading ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every declared or registered name, sorted (imports only provider modules)."""
        self._load_providers()
        return sorted(set(self._declared) | set(self._loaded))

    def __contains__(self, name: object) -> bool:
        if name in self._declared or name in self._loaded:
            return True
        self._load_providers()
        return name in self._loaded

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def entry(self, name: str) -> Entry | None:
        """The declaration of ``name`` (None for an entry registered from outside)."""
        return self._declared.get(name)

    def get(self, name: str) -> T:
        """The object registered as ``name``, importing its module on first use."""
        if name in self._loaded:
            return self._loaded[name]
        entry = self._declared.get(name)
        if entry is None:
            self._load_providers()
            if name in self._loaded:
                return self._loaded[name]
            known = ", ".join(self.names()) or "none"
            raise self._error(f"unknown {self.kind} {name!r}; available: {known}")
        obj = self._import(entry)
        self._loaded.setdefault(name, obj)
        return self._loaded[name]

    def load_all(self, *, skip_missing: bool = True) -> dict[str, T]:
        """Every entry, imported; entries whose extra is missing are left out (or raise)."""
        out: dict[str, T] = {}
        for name in self.names():
            try:
                out[name] = self.get(name)
            except MissingExtraError:
                if not skip_missing:
                    raise
        return out

    def _import(self, entry: Entry) -> T:
        module_name, _, attr = entry.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if entry.extra is not None and not module_name.startswith(missing):
                raise MissingExtraError(missing, entry.extra) from None
            raise
        obj = getattr(module, attr)
        return obj  # type: ignore[no-any-return]
