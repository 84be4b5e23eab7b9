"""The embedded model registry: SQLite (WAL) plus content-addressed blobs, nothing to start.

``RATECRAFT_HOME`` (default ``~/.ratecraft``) holds ``registry.db`` and ``blobs/``. A model has
a name, numbered versions (1, 2, …), aliases (``production``, ``staging``, any name) that point
at versions with their history (so ``rollback`` knows where an alias was before), a model card
per version, and a log of events (who, when, why, figures) for every change.

A version is a codec folder as :meth:`Codec.save <ratecraft.codecs.base.Codec.save>` writes it
(``codec.json``, ``weights.safetensors``, ``metrics.jsonl`` when present): each file is a blob and
the version row lists ``{file name: sha256}``; the codec's own content hash
(``model_sha256``, what containers name their model by) is indexed, so a container finds its
model here. There is one save format — the codec store's — and the registry only files it.

**Consistency under a kill.** Writes that add or drop blobs hold an exclusive lock file
(``write.lock``, ``flock``: the kernel releases it when the process dies) and leave a marker
(``write.pending``) while they run: blobs are written first (each complete under its name), then
one SQLite transaction adds the version, its aliases and its event. A writer killed before the
commit leaves blobs that no version lists; the next writer (or :meth:`Registry.check`) that
finds the marker deletes every blob no version lists. Aliases reference versions by foreign
key, so one never points at a version that is not complete.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ratecraft.codecs.store import CODEC_JSON, WEIGHTS
from ratecraft.errors import BadInputError
from ratecraft.jsonsafe import json_safe
from ratecraft.registry.blobs import BlobStore, file_sha256
from ratecraft.registry.names import ModelRef, check_alias, check_name, parse_ref
from ratecraft.registry.protocol import Event, ModelRegistry, VersionInfo

__all__ = ["Event", "Registry", "VersionInfo", "default_home"]

DB = "registry.db"
MODEL_FILES = (CODEC_JSON, WEIGHTS, "metrics.jsonl")  # what a codec folder holds that we keep
_LOCK = "write.lock"
_PENDING = "write.pending"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS models(
  name TEXT PRIMARY KEY,
  created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS versions(
  name TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  codec TEXT NOT NULL,
  model_sha256 TEXT,
  created REAL NOT NULL,
  source TEXT NOT NULL,
  files TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  card TEXT NOT NULL,
  PRIMARY KEY(name, version)
);
CREATE INDEX IF NOT EXISTS versions_by_model ON versions(model_sha256);
CREATE TABLE IF NOT EXISTS aliases(
  name TEXT NOT NULL,
  alias TEXT NOT NULL,
  version INTEGER NOT NULL,
  set_at REAL NOT NULL,
  PRIMARY KEY(name, alias),
  FOREIGN KEY(name, version) REFERENCES versions(name, version) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS alias_history(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  alias TEXT NOT NULL,
  version INTEGER NOT NULL,
  at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at REAL NOT NULL,
  who TEXT NOT NULL,
  name TEXT NOT NULL,
  version INTEGER,
  kind TEXT NOT NULL,
  why TEXT NOT NULL,
  metrics TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_model ON events(name, id);
"""


def default_home() -> Path:
    """``$RATECRAFT_HOME``, else ``~/.ratecraft``."""
    home = os.environ.get("RATECRAFT_HOME")
    return Path(home).expanduser() if home else Path.home() / ".ratecraft"


def default_who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no user name in this environment
        return f"uid {os.getuid()}"


class Registry(ModelRegistry):
    """The registry under ``home`` (default :func:`default_home`), created on first use."""

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        self.home = Path(home).expanduser() if home is not None else default_home()
        if self.home.exists() and not self.home.is_dir():
            raise BadInputError(f"registry home {self.home} is not a folder")
        self.home.mkdir(parents=True, exist_ok=True)
        self.blobs = BlobStore(self.home / "blobs")
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
        if (self.home / _PENDING).exists():
            with contextlib.suppress(BlockingIOError), self._writing(block=False):
                pass  # taking the lock recovers what a killed writer left

    @property
    def location(self) -> str:
        return str(self.home)

    # ---- plumbing --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection of its own (threads and processes may share the registry)."""
        db = sqlite3.connect(self.home / DB, timeout=30.0, isolation_level=None)
        try:
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA busy_timeout=30000")
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def _txn(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``: writers queue instead of failing)."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextlib.contextmanager
    def _writing(self, *, block: bool = True) -> Iterator[None]:
        """The blob writer's lock and marker; recovers a killed writer's leftovers first."""
        with (self.home / _LOCK).open("a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
            try:
                pending = self.home / _PENDING
                if pending.exists():
                    self._collect_garbage()
                pending.write_text(f"{os.getpid()}\n")
                yield
                pending.unlink()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _referenced(self, db: sqlite3.Connection) -> set[str]:
        out: set[str] = set()
        for (files,) in db.execute("SELECT files FROM versions"):
            out.update(json.loads(files).values())
        return out

    def _collect_garbage(self) -> list[str]:
        """Delete every blob no version lists, and unfinished blob copies (lock held)."""
        with self._db() as db:
            keep = self._referenced(db)
        dropped = [sha for sha in self.blobs.names() if sha not in keep]
        for sha in dropped:
            self.blobs.delete(sha)
        self.blobs.clear_tmp()
        return dropped

    @staticmethod
    def _event(
        db: sqlite3.Connection,
        name: str,
        version: int | None,
        kind: str,
        why: str,
        metrics: dict[str, Any] | None,
        who: str | None,
    ) -> None:
        db.execute(
            "INSERT INTO events(at, who, name, version, kind, why, metrics) VALUES (?,?,?,?,?,?,?)",
            (
                time.time(),
                who or default_who(),
                name,
                version,
                kind,
                why,
                json.dumps(json_safe(metrics or {}), allow_nan=False),
            ),
        )

    # ---- writing ---------------------------------------------------------------------------
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
    ) -> VersionInfo:
        """File the codec folder ``folder`` as the next version of ``name``.

        The folder is loaded first (:meth:`Codec.load` checks every hash), so only a complete,
        valid model is filed. A model already filed under ``name`` (same content hash) is not
        filed twice: its version is returned.
        """
        src = Path(folder)
        codec, sha, filed = self._prepare_register(src, name, aliases)
        if filed is not None:
            return filed
        files = [f for f in MODEL_FILES if (src / f).is_file()]
        with self._writing():
            stored = {f: self.blobs.put_file(src / f) for f in files}
            with self._txn() as db:
                now = time.time()
                db.execute("INSERT OR IGNORE INTO models(name, created) VALUES (?, ?)", (name, now))
                (last,) = db.execute(
                    "SELECT COALESCE(MAX(version), 0) FROM versions WHERE name = ?", (name,)
                ).fetchone()
                version = int(last) + 1
                db.execute(
                    "INSERT INTO versions(name, version, codec, model_sha256, created, source, "
                    "files, bytes, card) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        name,
                        version,
                        codec.name,
                        sha,
                        now,
                        source or str(src),
                        json.dumps({f: s for f, (s, _) in stored.items()}),
                        sum(n for _, n in stored.values()),
                        json.dumps(json_safe(card or {}), allow_nan=False),
                    ),
                )
                self._event(db, name, version, "register", why, metrics, who)
                for alias in aliases:
                    self._set_alias(db, name, version, alias, "promote", "set at register", who)
        return self.get(ModelRef(name, version=version))

    @staticmethod
    def _set_alias(
        db: sqlite3.Connection,
        name: str,
        version: int,
        alias: str,
        kind: str,
        why: str,
        who: str | None,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        now = time.time()
        db.execute(
            "INSERT INTO aliases(name, alias, version, set_at) VALUES (?,?,?,?) "
            "ON CONFLICT(name, alias) DO UPDATE SET version = excluded.version, "
            "set_at = excluded.set_at",
            (name, alias, version, now),
        )
        db.execute(
            "INSERT INTO alias_history(name, alias, version, at) VALUES (?,?,?,?)",
            (name, alias, version, now),
        )
        Registry._event(db, name, version, kind, why, {"alias": alias, **(metrics or {})}, who)

    def promote(
        self,
        ref: str | ModelRef,
        alias: str,
        *,
        who: str | None = None,
        why: str = "promoted",
        metrics: dict[str, Any] | None = None,
    ) -> VersionInfo:
        """Point ``alias`` of the model at the version ``ref`` names."""
        check_alias(alias)
        info = self.get(ref)
        with self._txn() as db:
            self._set_alias(db, info.name, info.version, alias, "promote", why, who, metrics)
        return self.get(ModelRef(info.name, version=info.version))

    def rollback(
        self,
        name: str,
        alias: str,
        *,
        who: str | None = None,
        why: str = "rolled back",
        metrics: dict[str, Any] | None = None,
    ) -> VersionInfo:
        """Point ``alias`` back at the version it named before its current one."""
        check_name(name)
        check_alias(alias)
        with self._txn() as db:
            row = db.execute(
                "SELECT version FROM aliases WHERE name = ? AND alias = ?", (name, alias)
            ).fetchone()
            if row is None:
                raise BadInputError(f"{name} has no alias {alias!r} to roll back")
            current = int(row[0])
            history = db.execute(
                "SELECT h.version FROM alias_history h JOIN versions v "
                "ON v.name = h.name AND v.version = h.version "
                "WHERE h.name = ? AND h.alias = ? AND h.version != ? ORDER BY h.id DESC LIMIT 1",
                (name, alias, current),
            ).fetchone()
            if history is None:
                raise BadInputError(
                    f"{name}@{alias} has pointed only at version {current}; nothing to roll back to"
                )
            previous = int(history[0])
            self._set_alias(
                db,
                name,
                previous,
                alias,
                "rollback",
                why,
                who,
                {"from_version": current, **(metrics or {})},
            )
        return self.get(ModelRef(name, version=previous))

    def remove(
        self, ref: str | ModelRef, *, force: bool = False, who: str | None = None
    ) -> list[VersionInfo]:
        """Remove one version (``N@v``) or every version of a model (``N``), with their blobs.

        A version an alias points at is kept unless ``force`` (which drops the alias too).
        """
        parsed, gone = self._to_remove(ref, force)
        with self._writing():
            with self._txn() as db:
                for v in gone:
                    db.execute(
                        "DELETE FROM versions WHERE name = ? AND version = ?", (v.name, v.version)
                    )
                    self._event(db, v.name, v.version, "remove", "removed", {}, who)
                left = db.execute(
                    "SELECT COUNT(*) FROM versions WHERE name = ?", (parsed.name,)
                ).fetchone()[0]
                if not left:
                    db.execute("DELETE FROM models WHERE name = ?", (parsed.name,))
            self._collect_garbage()
        return gone

    def record_event(
        self,
        ref: str | ModelRef,
        kind: str,
        why: str,
        metrics: dict[str, Any] | None = None,
        *,
        who: str | None = None,
    ) -> None:
        """Log an event about a version (drift seen, live quality, an A/B tally, …)."""
        info = self.get(ref)
        with self._txn() as db:
            self._event(db, info.name, info.version, kind, why, metrics, who)

    # ---- reading ---------------------------------------------------------------------------
    def _row(self, db: sqlite3.Connection, row: tuple[Any, ...]) -> VersionInfo:
        name, version = row[0], int(row[1])
        aliases = [
            a
            for (a,) in db.execute(
                "SELECT alias FROM aliases WHERE name = ? AND version = ? ORDER BY alias",
                (name, version),
            )
        ]
        return VersionInfo(
            name=name,
            version=version,
            codec=row[2],
            model_sha256=row[3],
            created=float(row[4]),
            source=row[5],
            files=json.loads(row[6]),
            bytes=int(row[7]),
            card=json.loads(row[8]),
            aliases=aliases,
        )

    _COLUMNS = "name, version, codec, model_sha256, created, source, files, bytes, card"

    def names(self) -> list[str]:
        with self._db() as db:
            return [n for (n,) in db.execute("SELECT name FROM models ORDER BY name")]

    def versions(self, name: str) -> list[VersionInfo]:
        """Every version of ``name``, oldest first (empty when there is no such model)."""
        check_name(name)
        with self._db() as db:
            rows = db.execute(
                f"SELECT {self._COLUMNS} FROM versions WHERE name = ? ORDER BY version", (name,)
            ).fetchall()
            return [self._row(db, r) for r in rows]

    def get(self, ref: str | ModelRef) -> VersionInfo:
        """The version ``ref`` names: ``N`` (latest), ``N@3``, ``N@alias``."""
        parsed = parse_ref(ref) if isinstance(ref, str) else ref
        if parsed.zoo:
            raise BadInputError(f"{parsed} is a zoo model, not a registry version")
        with self._db() as db:
            if parsed.alias is not None:
                row = db.execute(
                    f"SELECT {self._COLUMNS} FROM versions WHERE name = ? AND version = "
                    "(SELECT version FROM aliases WHERE name = ? AND alias = ?)",
                    (parsed.name, parsed.name, parsed.alias),
                ).fetchone()
            elif parsed.version is not None:
                row = db.execute(
                    f"SELECT {self._COLUMNS} FROM versions WHERE name = ? AND version = ?",
                    (parsed.name, parsed.version),
                ).fetchone()
            else:
                row = db.execute(
                    f"SELECT {self._COLUMNS} FROM versions WHERE name = ? "
                    "ORDER BY version DESC LIMIT 1",
                    (parsed.name,),
                ).fetchone()
            if row is None:
                raise BadInputError(self._missing(db, parsed))
            return self._row(db, row)

    def _missing(self, db: sqlite3.Connection, ref: ModelRef) -> str:
        known = db.execute("SELECT 1 FROM models WHERE name = ?", (ref.name,)).fetchone()
        if known is None:
            return f"no model named {ref.name!r} in the registry at {self.home}"
        if ref.alias is not None:
            return f"{ref.name} has no alias {ref.alias!r}"
        return f"{ref.name} has no version {ref.version}"

    def aliases(self, name: str) -> dict[str, int]:
        check_name(name)
        with self._db() as db:
            return {
                a: int(v)
                for a, v in db.execute(
                    "SELECT alias, version FROM aliases WHERE name = ? ORDER BY alias", (name,)
                )
            }

    def find_model(self, model_sha256: str) -> list[VersionInfo]:
        """Every version whose codec content hash is ``model_sha256`` (what a container names)."""
        with self._db() as db:
            rows = db.execute(
                f"SELECT {self._COLUMNS} FROM versions WHERE model_sha256 = ? "
                "ORDER BY name, version",
                (model_sha256,),
            ).fetchall()
            return [self._row(db, r) for r in rows]

    def events(self, name: str | None = None, *, limit: int = 1000) -> list[Event]:
        """The newest ``limit`` events (of one model, or all), oldest first."""
        where, args = ("WHERE name = ?", (check_name(name),)) if name else ("", ())
        with self._db() as db:
            rows = db.execute(
                "SELECT id, at, who, name, version, kind, why, metrics FROM events "
                f"{where} ORDER BY id DESC LIMIT ?",
                (*args, int(limit)),
            ).fetchall()
        return [
            Event(int(r[0]), float(r[1]), r[2], r[3], r[4], r[5], r[6], json.loads(r[7]))
            for r in reversed(rows)
        ]

    @contextlib.contextmanager
    def checkout(self, ref: str | ModelRef | VersionInfo) -> Iterator[Path]:
        """A temporary codec folder holding the version's files (hashes checked)."""
        info = ref if isinstance(ref, VersionInfo) else self.get(ref)
        with tempfile.TemporaryDirectory(prefix="rc-checkout-") as tmp:
            folder = Path(tmp)
            for fname, sha in info.files.items():
                if fname not in MODEL_FILES:
                    raise BadInputError(f"{info.ref}: unexpected file {fname!r} in the registry")
                self.blobs.materialize(sha, folder / fname)
            yield folder

    # ---- checking --------------------------------------------------------------------------
    def check(self, *, verify_blobs: bool = True) -> dict[str, Any]:
        """Consistency report: SQLite integrity, foreign keys, missing / corrupt / orphan blobs,
        aliases without a version. A killed writer's leftovers are collected first (as the
        next writer would). ``ok`` is True when every list is empty."""
        if (self.home / _PENDING).exists():
            with contextlib.suppress(BlockingIOError), self._writing(block=False):
                pass
        with self._db() as db:
            integrity = [r[0] for r in db.execute("PRAGMA integrity_check")]
            fk = [list(r) for r in db.execute("PRAGMA foreign_key_check")]
            dangling = [
                f"{n}@{a}"
                for n, a in db.execute(
                    "SELECT a.name, a.alias FROM aliases a LEFT JOIN versions v "
                    "ON v.name = a.name AND v.version = a.version WHERE v.version IS NULL"
                )
            ]
            referenced = self._referenced(db)
        stored = set(self.blobs.names())
        missing = sorted(referenced - stored)
        corrupt = (
            sorted(s for s in referenced & stored if file_sha256(self.blobs.path(s)) != s)
            if verify_blobs
            else []
        )
        orphans = sorted(stored - referenced)
        report = {
            "home": str(self.home),
            "integrity": integrity,
            "foreign_key_violations": fk,
            "dangling_aliases": dangling,
            "missing_blobs": missing,
            "corrupt_blobs": corrupt,
            "orphan_blobs": orphans,
            "blobs": len(stored),
            "versions": sum(len(self.versions(n)) for n in self.names()),
        }
        report["ok"] = (
            integrity == ["ok"] and not fk and not dangling and not missing and not corrupt
        ) and not orphans
        return report
