"""What every registry backend offers: the embedded one (SQLite + blobs,
:class:`~ratecraft.registry.store.Registry`) and MLflow's model registry
(:class:`~ratecraft.registry.mlflow_store.MlflowRegistry`).

Commands, the service and online adaptation talk to a :class:`ModelRegistry`, never to a backend,
so ``--registry FOLDER`` and ``--registry mlflow:URI`` behave the same: same names, versions,
aliases with rollback history, cards, events and lookup by content hash.
"""

from __future__ import annotations

import abc
import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ratecraft.codecs.base import Codec
from ratecraft.errors import BadInputError
from ratecraft.registry.names import ModelRef, check_alias, check_name, parse_ref

__all__ = ["Event", "ModelRegistry", "VersionInfo"]


@dataclass
class VersionInfo:
    """One version: its identity, its files, its card and the aliases pointing at it."""

    name: str
    version: int
    codec: str
    model_sha256: str | None
    created: float
    source: str
    files: dict[str, str]
    bytes: int
    card: dict[str, Any]
    aliases: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "ref": self.ref,
            "codec": self.codec,
            "model_sha256": self.model_sha256,
            "created": self.created,
            "source": self.source,
            "files": self.files,
            "bytes": self.bytes,
            "aliases": self.aliases,
            "card": self.card,
        }


@dataclass
class Event:
    """One registry event: what happened to which version, who did it, why, with what figures."""

    id: int
    at: float
    who: str
    name: str
    version: int | None
    kind: str
    why: str
    metrics: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class ModelRegistry(abc.ABC):
    """Named, versioned, aliased codecs with cards and an event log.

    A backend stores and lists; loading and copying a version out go through :meth:`checkout`
    and the one codec store, the same for every backend.
    """

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where it lives, for messages: a folder or an MLflow URI."""

    @abc.abstractmethod
    def register(
        self,
        folder: str | os.PathLike[str],
        name: str,
        *,
        card: dict[str, Any] | None = None,
        aliases: tuple[str, ...] = (),
        source: str | None = None,
        who: str | None = None,
        why: str = "registered",
        metrics: dict[str, Any] | None = None,
    ) -> VersionInfo: ...

    @abc.abstractmethod
    def promote(
        self,
        ref: str | ModelRef,
        alias: str,
        *,
        who: str | None = None,
        why: str = "promoted",
        metrics: dict[str, Any] | None = None,
    ) -> VersionInfo: ...

    @abc.abstractmethod
    def rollback(
        self,
        name: str,
        alias: str,
        *,
        who: str | None = None,
        why: str = "rolled back",
        metrics: dict[str, Any] | None = None,
    ) -> VersionInfo: ...

    @abc.abstractmethod
    def remove(
        self, ref: str | ModelRef, *, force: bool = False, who: str | None = None
    ) -> list[VersionInfo]: ...

    @abc.abstractmethod
    def record_event(
        self,
        ref: str | ModelRef,
        kind: str,
        why: str,
        metrics: dict[str, Any] | None = None,
        *,
        who: str | None = None,
    ) -> None: ...

    @abc.abstractmethod
    def names(self) -> list[str]: ...

    @abc.abstractmethod
    def versions(self, name: str) -> list[VersionInfo]: ...

    @abc.abstractmethod
    def get(self, ref: str | ModelRef) -> VersionInfo: ...

    @abc.abstractmethod
    def aliases(self, name: str) -> dict[str, int]: ...

    @abc.abstractmethod
    def find_model(self, model_sha256: str) -> list[VersionInfo]: ...

    @abc.abstractmethod
    def events(self, name: str | None = None, *, limit: int = 1000) -> list[Event]: ...

    def _prepare_register(
        self, src: Path, name: str, aliases: tuple[str, ...]
    ) -> tuple[Codec, str | None, VersionInfo | None]:
        """What every backend's ``register`` checks first: valid name and aliases, a loadable
        codec folder (every hash checked), and the version already filed under ``name`` with
        the same content hash, if any (returned instead of filing twice)."""
        check_name(name)
        for alias in aliases:
            check_alias(alias)
        codec = Codec.load(src)
        sha = codec.model_sha256()
        same = [v for v in self.find_model(sha) if v.name == name] if sha is not None else []
        return codec, sha, same[0] if same else None

    def _to_remove(self, ref: str | ModelRef, force: bool) -> tuple[ModelRef, list[VersionInfo]]:
        """The versions ``remove(ref)`` drops (one, or every version of a model), refused when
        an alias points at one and ``force`` is not given."""
        parsed = parse_ref(ref) if isinstance(ref, str) else ref
        if parsed.zoo:
            raise BadInputError("zoo models ship with ratecraft and cannot be removed")
        if parsed.version is None and parsed.alias is None:
            gone = self.versions(parsed.name)
            if not gone:
                raise BadInputError(f"no model named {parsed.name!r} in {self.location}")
        else:
            gone = [self.get(parsed)]
        pinned = [v for v in gone if v.aliases]
        if pinned and not force:
            shown = ", ".join(f"{v.ref} ({', '.join(v.aliases)})" for v in pinned)
            raise BadInputError(f"aliases point at {shown}; move them or pass --force")
        return parsed, gone

    @abc.abstractmethod
    def checkout(
        self, ref: str | ModelRef | VersionInfo
    ) -> contextlib.AbstractContextManager[Path]:
        """A temporary codec folder holding the version's files (hashes checked)."""

    def load(self, ref: str | ModelRef | VersionInfo) -> Codec:
        """The codec of a version, loaded through the one codec store."""
        with self.checkout(ref) as folder:
            return Codec.load(folder)

    def copy_out(self, ref: str | ModelRef | VersionInfo, target: Path) -> VersionInfo:
        """Write a version's codec folder to ``target`` (which must not exist)."""
        info = ref if isinstance(ref, VersionInfo) else self.get(ref)
        if target.exists():
            raise BadInputError(f"{target}: exists; choose another folder")
        with self.checkout(info) as folder:
            staged = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
            try:
                for f in folder.iterdir():
                    shutil.copyfile(f, staged / f.name)
                staged.rename(target)
            finally:
                if staged.exists():
                    shutil.rmtree(staged)
        return info

    @abc.abstractmethod
    def check(self, *, verify_blobs: bool = True) -> dict[str, Any]: ...
