"""The model registry on MLflow (``--registry mlflow:URI``, ``[track]`` extra): the same names,
versions, aliases, cards, events and content-hash lookup as the embedded registry, kept where a
team that already runs MLflow looks for its models.

How ratecraft's registry maps onto MLflow's:

- a model is a registered model tagged ``ratecraft.registry=codec`` (others in the same MLflow
  are left alone and not listed);
- a version is a model version whose source is the ``model/`` artifact folder of a run in the
  experiment ``ratecraft-models``: the codec folder as the one codec store writes it. Its tags
  hold the codec name, the content hash (``ratecraft.model_sha256``, what containers name their
  model by), the files' SHA-256s (checked on every checkout), the size and the card as JSON; the
  card's markdown is the version's description, so MLflow's UI shows it;
- aliases are MLflow's registered-model aliases;
- each event (register, promote, rollback, remove, drift, an A/B tally…) is a run in the
  experiment ``ratecraft-registry-events`` with its kind, model, version, who and why as tags and
  its numbers as metrics. Rollback reads an alias's history from those events, as the embedded
  registry reads its ``alias_history`` table.

A writer killed after logging a version's run but before the model version exists leaves a run
no version lists; :meth:`MlflowRegistry.check` reports it and the next ``register`` deletes it.

URIs are MLflow's own: ``mlflow:sqlite:///abs/mlflow.db``, ``mlflow:http://127.0.0.1:5000``,
``mlflow:file:///abs/mlruns`` or ``mlflow:./mlruns``. MLflow refuses its file store unless
``MLFLOW_ALLOW_FILE_STORE`` is set; naming a file store here is that choice, so it is set for
this process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ratecraft.errors import BadInputError, MissingExtraError
from ratecraft.jsonsafe import json_safe
from ratecraft.registry.blobs import file_sha256
from ratecraft.registry.card import card_markdown
from ratecraft.registry.names import ModelRef, check_alias, check_name, parse_ref
from ratecraft.registry.protocol import Event, ModelRegistry, VersionInfo
from ratecraft.registry.store import MODEL_FILES, default_who

__all__ = ["MlflowRegistry"]

log = logging.getLogger(__name__)

MODELS_EXPERIMENT = "ratecraft-models"
EVENTS_EXPERIMENT = "ratecraft-registry-events"
_T = "ratecraft."  # tag prefix
_OURS = (f"{_T}registry", "codec")
_MAX_TAG = 8000  # MLflow's limit on a run tag's value
_HEX64 = re.compile(r"[0-9a-f]{64}")
_ALIAS_KINDS = ("promote", "rollback")


def _quoted(key: str) -> str:
    return f"tags.`{key}`"


class MlflowRegistry(ModelRegistry):
    """The registry kept in the MLflow tracking / registry server at ``uri``."""

    stale_after_s: float = 600.0  # a version run this old with no version is a killed writer's

    def __init__(self, uri: str) -> None:
        if not uri:
            raise BadInputError("mlflow: needs a tracking URI, e.g. mlflow:sqlite:///mlflow.db")
        try:
            import mlflow
            from mlflow import MlflowClient
        except ImportError:
            raise MissingExtraError("mlflow", "track") from None
        if _file_store(uri):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        self.uri = uri
        self._mlflow = mlflow
        self._errors = mlflow.exceptions.MlflowException
        try:
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            self._client: Any = _PinnedClient(client, uri) if _file_store(uri) else client
            self._models_exp = self._experiment(MODELS_EXPERIMENT)
            self._events_exp = self._experiment(EVENTS_EXPERIMENT)
        except self._errors as exc:
            raise BadInputError(f"mlflow:{uri}: {_first_line(exc)}") from None

    @property
    def location(self) -> str:
        return f"mlflow:{self.uri}"

    # ---- plumbing --------------------------------------------------------------------------
    def _experiment(self, name: str) -> str:
        exp = self._client.get_experiment_by_name(name)
        if exp is None:
            return str(self._client.create_experiment(name, artifact_location=self._artifacts()))
        if exp.lifecycle_stage == "deleted":
            self._client.restore_experiment(exp.experiment_id)
        return str(exp.experiment_id)

    def _artifacts(self) -> str | None:
        """Where a new experiment keeps its files: beside a SQLite store's database (MLflow's
        default is ``./mlruns`` in whatever folder the process runs in); a server or a file
        store decides for itself (None)."""
        if not self.uri.startswith("sqlite:///"):
            return None
        db = Path(self.uri.removeprefix("sqlite:///")).resolve()
        return (db.parent / f"{db.stem}-artifacts").as_uri()

    def _missing_error(self, exc: Exception) -> bool:
        return getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"

    def _registered(self, name: str) -> Any | None:
        try:
            model = self._client.get_registered_model(name)
        except self._errors as exc:
            if self._missing_error(exc):
                return None
            raise
        return model if model.tags.get(_OURS[0]) == _OURS[1] else None

    def _all_versions(self, filter_string: str) -> list[Any]:
        out: list[Any] = []
        token = None
        while True:
            page = self._client.search_model_versions(filter_string, page_token=token)
            out.extend(page)
            token = page.token
            if not token:
                return out

    def _info(self, mv: Any) -> VersionInfo:
        tags = mv.tags
        return VersionInfo(
            name=mv.name,
            version=int(mv.version),
            codec=tags.get(f"{_T}codec", ""),
            model_sha256=tags.get(f"{_T}model_sha256") or None,
            created=float(mv.creation_timestamp) / 1000.0,
            source=tags.get(f"{_T}source", mv.source),
            files=json.loads(tags.get(f"{_T}files", "{}")),
            bytes=int(tags.get(f"{_T}bytes", "0")),
            card=json.loads(tags.get(f"{_T}card", "{}")),
            aliases=sorted(mv.aliases or []),
        )

    def _event(
        self,
        name: str,
        version: int | None,
        kind: str,
        why: str,
        metrics: dict[str, Any] | None,
        who: str | None,
    ) -> None:
        at_ns = time.time_ns()
        safe = json_safe(metrics or {})
        text = json.dumps(safe, allow_nan=False, sort_keys=True)
        tags = {
            f"{_T}event.name": name,
            f"{_T}event.version": "" if version is None else str(version),
            f"{_T}event.kind": kind,
            f"{_T}event.why": why[:_MAX_TAG],
            f"{_T}event.who": who or default_who(),
            f"{_T}event.at_ns": str(at_ns),
        }
        if isinstance(safe.get("alias"), str):
            tags[f"{_T}event.alias"] = safe["alias"]
        if len(text) <= _MAX_TAG:
            tags[f"{_T}event.metrics"] = text
        run = self._client.create_run(
            self._events_exp, start_time=at_ns // 1_000_000, tags=tags, run_name=f"{kind} {name}"
        )
        run_id = run.info.run_id
        if len(text) > _MAX_TAG:
            self._client.log_dict(run_id, safe, "metrics.json")
        for key, value in safe.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                self._client.log_metric(run_id, key, float(value), timestamp=at_ns // 1_000_000)
        self._client.set_terminated(run_id, end_time=at_ns // 1_000_000)

    def _event_runs(self, filter_string: str, limit: int) -> list[Any]:
        out: list[Any] = []
        token = None
        while len(out) < limit:
            page = self._client.search_runs(
                [self._events_exp],
                filter_string,
                max_results=min(1000, limit - len(out)),
                order_by=["attributes.start_time DESC"],
                page_token=token,
            )
            out.extend(page)
            token = page.token
            if not token:
                break
        return sorted(out, key=lambda r: int(r.data.tags.get(f"{_T}event.at_ns", "0")))

    def _to_event(self, run: Any) -> Event:
        tags = run.data.tags
        text = tags.get(f"{_T}event.metrics")
        if text is None:
            metrics = self._mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/metrics.json")
        else:
            metrics = json.loads(text)
        version = tags.get(f"{_T}event.version", "")
        return Event(
            id=int(tags.get(f"{_T}event.at_ns", "0")),
            at=int(tags.get(f"{_T}event.at_ns", "0")) / 1e9,
            who=tags.get(f"{_T}event.who", ""),
            name=tags.get(f"{_T}event.name", ""),
            version=int(version) if version else None,
            kind=tags.get(f"{_T}event.kind", ""),
            why=tags.get(f"{_T}event.why", ""),
            metrics=metrics,
        )

    def _model_runs(self) -> list[Any]:
        """Every live run that holds (or was to hold) a version's files."""
        out: list[Any] = []
        token = None
        while True:
            page = self._client.search_runs(
                [self._models_exp], f"{_quoted(_T + 'kind')} = 'model'", page_token=token
            )
            out.extend(page)
            token = page.token
            if not token:
                return out

    def _orphan_runs(self, older_than_s: float = 0.0) -> list[str]:
        """Runs holding files no version lists, started more than ``older_than_s`` ago (a
        younger one may be a concurrent writer's, about to become a version)."""
        used = {mv.run_id for mv in self._all_versions(f"{_quoted(_OURS[0] + '.version')} = '1'")}
        cutoff_ms = (time.time() - older_than_s) * 1000.0
        return sorted(
            r.info.run_id
            for r in self._model_runs()
            if r.info.run_id not in used and r.info.start_time <= cutoff_ms
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
        """File the codec folder as the next version of ``name`` (a model already filed under
        ``name`` with the same content hash is not filed twice: its version is returned)."""
        src = Path(folder)
        codec, sha, filed = self._prepare_register(src, name, aliases)
        if filed is not None:
            return filed
        existing = self._client.search_registered_models(f"name = '{name}'")
        if existing and self._registered(name) is None:
            raise BadInputError(
                f"{self.location} already has a model {name!r} that ratecraft did not file; "
                "choose another name"
            )
        for stale in self._orphan_runs(self.stale_after_s):
            log.info("deleting run %s: a killed writer's, no version lists it", stale)
            self._client.delete_run(stale)
        card_json = json.dumps(json_safe(card or {}), allow_nan=False, sort_keys=True)
        files = {f: file_sha256(src / f) for f in MODEL_FILES if (src / f).is_file()}
        run = self._client.create_run(
            self._models_exp, tags={f"{_T}kind": "model", f"{_T}name": name}, run_name=name
        )
        run_id = run.info.run_id
        with tempfile.TemporaryDirectory(prefix="rc-mlflow-") as tmp:
            staged = Path(tmp) / "model"
            staged.mkdir()
            for f in files:
                (staged / f).write_bytes((src / f).read_bytes())
            self._client.log_artifacts(run_id, str(staged), "model")
        self._client.set_terminated(run_id)
        if not existing:
            self._client.create_registered_model(name, tags=dict([_OURS]))
        tags = {
            f"{_OURS[0]}.version": "1",
            f"{_T}codec": codec.name,
            f"{_T}model_sha256": sha or "",
            f"{_T}files": json.dumps(files, sort_keys=True),
            f"{_T}bytes": str(sum((src / f).stat().st_size for f in files)),
            f"{_T}source": source or str(src),
            f"{_T}card": card_json,
        }
        mv = self._client.create_model_version(
            name,
            source=f"{run.info.artifact_uri}/model",
            run_id=run_id,
            tags=tags,
            description=card_markdown(card or {}, name),
        )
        version = int(mv.version)
        self._event(name, version, "register", why, metrics, who)
        for alias in aliases:
            self._set_alias(name, version, alias, "promote", "set at register", who)
        return self.get(ModelRef(name, version=version))

    def _set_alias(
        self,
        name: str,
        version: int,
        alias: str,
        kind: str,
        why: str,
        who: str | None,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        self._client.set_registered_model_alias(name, alias, str(version))
        self._event(name, version, kind, why, {"alias": alias, **(metrics or {})}, who)

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
        self._set_alias(info.name, info.version, alias, "promote", why, who, metrics)
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
        current = self.aliases(name).get(alias)
        if current is None:
            raise BadInputError(f"{name} has no alias {alias!r} to roll back")
        alive = {v.version for v in self.versions(name)}
        history = self._event_runs(
            f"{_quoted(_T + 'event.name')} = '{name}' and "
            f"{_quoted(_T + 'event.alias')} = '{alias}'",
            10_000,
        )
        previous = next(
            (
                int(e.version)
                for e in reversed([self._to_event(r) for r in history])
                if e.kind in _ALIAS_KINDS
                and e.version is not None
                and e.version != current
                and e.version in alive
            ),
            None,
        )
        if previous is None:
            raise BadInputError(
                f"{name}@{alias} has pointed only at version {current}; nothing to roll back to"
            )
        self._set_alias(
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
        """Remove one version (``N@v``) or every version of a model (``N``), with their runs.

        A version an alias points at is kept unless ``force`` (which drops the alias too).
        """
        parsed, gone = self._to_remove(ref, force)
        for v in gone:
            mv = self._client.get_model_version(v.name, str(v.version))
            for alias in v.aliases:
                self._client.delete_registered_model_alias(v.name, alias)
            self._client.delete_model_version(v.name, str(v.version))
            if mv.run_id:
                self._client.delete_run(mv.run_id)
            self._event(v.name, v.version, "remove", "removed", {}, who)
        if not self.versions(parsed.name):
            self._client.delete_registered_model(parsed.name)
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
        self._event(info.name, info.version, kind, why, metrics, who)

    # ---- reading ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        out: list[str] = []
        token = None
        while True:
            page = self._client.search_registered_models(
                f"{_quoted(_OURS[0])} = '{_OURS[1]}'", page_token=token
            )
            out.extend(m.name for m in page)
            token = page.token
            if not token:
                return sorted(out)

    def versions(self, name: str) -> list[VersionInfo]:
        """Every version of ``name``, oldest first (empty when there is no such model)."""
        check_name(name)
        if self._registered(name) is None:
            return []
        return sorted(
            (self._info(mv) for mv in self._all_versions(f"name = '{name}'")),
            key=lambda v: v.version,
        )

    def get(self, ref: str | ModelRef) -> VersionInfo:
        """The version ``ref`` names: ``N`` (latest), ``N@3``, ``N@alias``."""
        parsed = parse_ref(ref) if isinstance(ref, str) else ref
        if parsed.zoo:
            raise BadInputError(f"{parsed} is a zoo model, not a registry version")
        if self._registered(parsed.name) is None:
            raise BadInputError(
                f"no model named {parsed.name!r} in the registry at {self.location}"
            )
        try:
            if parsed.alias is not None:
                mv = self._client.get_model_version_by_alias(parsed.name, parsed.alias)
            elif parsed.version is not None:
                mv = self._client.get_model_version(parsed.name, str(parsed.version))
            else:
                versions = self.versions(parsed.name)
                if not versions:
                    raise BadInputError(f"{parsed.name} has no versions")
                return versions[-1]
        except self._errors as exc:
            if not self._missing_error(exc):
                raise
            if parsed.alias is not None:
                raise BadInputError(f"{parsed.name} has no alias {parsed.alias!r}") from None
            raise BadInputError(f"{parsed.name} has no version {parsed.version}") from None
        return self._info(mv)

    def aliases(self, name: str) -> dict[str, int]:
        check_name(name)
        model = self._registered(name)
        if model is None:
            return {}
        return {a: int(v) for a, v in sorted((model.aliases or {}).items())}

    def find_model(self, model_sha256: str) -> list[VersionInfo]:
        """Every version whose codec content hash is ``model_sha256`` (what a container names)."""
        if not _HEX64.fullmatch(model_sha256):
            return []
        found = self._all_versions(f"{_quoted(_T + 'model_sha256')} = '{model_sha256}'")
        ours = set(self.names())
        return sorted(
            (self._info(mv) for mv in found if mv.name in ours), key=lambda v: (v.name, v.version)
        )

    def events(self, name: str | None = None, *, limit: int = 1000) -> list[Event]:
        """The newest ``limit`` events (of one model, or all), oldest first."""
        where = f"{_quoted(_T + 'event.name')} = '{check_name(name)}'" if name else ""
        return [self._to_event(r) for r in self._event_runs(where, int(limit))]

    @contextlib.contextmanager
    def checkout(self, ref: str | ModelRef | VersionInfo) -> Iterator[Path]:
        """A temporary codec folder holding the version's files, each checked against the
        SHA-256 filed with the version."""
        info = ref if isinstance(ref, VersionInfo) else self.get(ref)
        mv = self._client.get_model_version(info.name, str(info.version))
        with tempfile.TemporaryDirectory(prefix="rc-checkout-") as tmp:
            got = Path(
                self._mlflow.artifacts.download_artifacts(
                    artifact_uri=mv.source, dst_path=tmp, tracking_uri=self.uri
                )
            )
            for fname, sha in info.files.items():
                if fname not in MODEL_FILES:
                    raise BadInputError(f"{info.ref}: unexpected file {fname!r} in the registry")
                path = got / fname
                if not path.is_file():
                    raise BadInputError(f"{info.ref}: {fname} is missing from {mv.source}")
                if file_sha256(path) != sha:
                    raise BadInputError(f"{info.ref}: {fname} does not match its SHA-256")
            for extra in got.iterdir():
                if extra.name not in info.files:
                    extra.unlink()
            yield got

    # ---- checking --------------------------------------------------------------------------
    def check(self, *, verify_blobs: bool = True) -> dict[str, Any]:
        """Consistency report: versions whose files are missing or do not match their SHA-256,
        runs no version lists (a killed writer's), aliases without a version. ``ok`` is True
        when every list is empty."""
        missing: list[str] = []
        corrupt: list[str] = []
        count = 0
        dangling: list[str] = []
        for name in self.names():
            versions = self.versions(name)
            count += len(versions)
            alive = {v.version for v in versions}
            dangling += [f"{name}@{a}" for a, v in self.aliases(name).items() if v not in alive]
            if not verify_blobs:
                continue
            for v in versions:
                try:
                    with self.checkout(v):
                        pass
                except BadInputError as exc:
                    (corrupt if "SHA-256" in str(exc) else missing).append(f"{v.ref}: {exc}")
                except self._errors as exc:
                    missing.append(f"{v.ref}: {_first_line(exc)}")
        orphans = self._orphan_runs()
        report = {
            "home": self.location,
            "dangling_aliases": dangling,
            "missing_blobs": missing,
            "corrupt_blobs": corrupt,
            "orphan_runs": orphans,
            "versions": count,
        }
        report["ok"] = not (dangling or missing or corrupt or orphans)
        return report


def _file_store(uri: str) -> bool:
    return uri.startswith("file:") or "://" not in uri


_PIN_LOCK = threading.Lock()


class _PinnedClient:
    """An MlflowClient whose calls run with MLflow's process-wide tracking URI set to this
    registry's, then restored.

    MLflow's file-store model registry reads each model version through a default
    ``MlflowClient()`` (``FileStore._get_file_model_version_from_dir``; a gap MLflow notes), which
    otherwise opens MLflow's default store, ``./mlflow.db`` in whatever folder the process runs
    in. Only file stores need this; SQLite and servers get the plain client.
    """

    def __init__(self, client: Any, uri: str) -> None:
        from mlflow.tracking._tracking_service.utils import _use_tracking_uri

        self._client = client
        self._uri = uri
        self._pin = _use_tracking_uri

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def pinned(*args: Any, **kwargs: Any) -> Any:
            with _PIN_LOCK, self._pin(self._uri):
                return attr(*args, **kwargs)

        return pinned


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
