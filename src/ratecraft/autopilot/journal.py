"""The run folder's memory: Optuna journal storage plus one JSON record per finished episode.

Layout of ``RUN_DIR``::

    run.json              what was asked (target, objectives, constraints, proposer, budget, seed)
    optuna.journal        Optuna's append-only JournalStorage (file backend, lock file beside it)
    episodes/00012.json   one record per finished trial, written atomically
    cache/                the result cache (see :mod:`ratecraft.autopilot.cache`)

A record is written *before* the trial is told to Optuna. So after a kill at any point, a trial
Optuna still shows as running either has a record (its result is replayed into Optuna, nothing
reruns) or has none (it never finished: it is marked failed and its budget slot is proposed
again). Finished trials are never lost and never repeated.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from pathlib import Path
from typing import Any

from ratecraft.atomic import atomic_write
from ratecraft.errors import BadInputError
from ratecraft.jsonsafe import json_safe

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
STUDY_NAME = "autopilot"


def _restore_floats(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: math.nan if v is None else float(v) for k, v in metrics.items()}


class Journal:
    """Reads and writes one run folder."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.episodes_dir = self.run_dir / "episodes"

    # ---- run config ---------------------------------------------------------------------------
    @classmethod
    def create(cls, run_dir: str | Path, config: dict[str, Any]) -> Journal:
        """Start a new run folder (it must be absent or empty)."""
        journal = cls(run_dir)
        root = journal.run_dir
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise BadInputError(
                f"{root}: exists and is not empty; use --resume {root} to continue that run"
            )
        if not root.parent.is_dir():
            raise BadInputError(f"{root}: folder {root.parent} does not exist")
        root.mkdir(exist_ok=True)
        journal.episodes_dir.mkdir()
        atomic_write(root / RUN_FILE, json.dumps(json_safe(config), indent=2).encode())
        return journal

    @classmethod
    def open(cls, run_dir: str | Path) -> Journal:
        journal = cls(run_dir)
        if not (journal.run_dir / RUN_FILE).is_file():
            raise BadInputError(f"{run_dir}: not an autopilot run folder (no {RUN_FILE})")
        journal.episodes_dir.mkdir(exist_ok=True)
        for stale in journal.episodes_dir.glob(".*.tmp.json"):  # a write a kill interrupted
            stale.unlink(missing_ok=True)
        return journal

    def config(self) -> dict[str, Any]:
        try:
            doc = json.loads((self.run_dir / RUN_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise BadInputError(f"{self.run_dir}: unreadable {RUN_FILE} ({exc})") from None
        if not isinstance(doc, dict):
            raise BadInputError(f"{self.run_dir}: {RUN_FILE} is not a mapping")
        return doc

    def update_config(self, **changes: Any) -> None:
        doc = {**self.config(), **changes}
        atomic_write(self.run_dir / RUN_FILE, json.dumps(json_safe(doc), indent=2).encode())

    # ---- optuna -------------------------------------------------------------------------------
    def storage(self) -> Any:
        """Optuna's JournalStorage on ``optuna.journal`` (file backend, safe across processes)."""
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(str(self.run_dir / "optuna.journal")))

    # ---- episode records ----------------------------------------------------------------------
    def episode_path(self, trial: int) -> Path:
        return self.episodes_dir / f"{trial:05d}.json"

    def write_episode(self, record: dict[str, Any]) -> None:
        doc = dict(record)
        doc.setdefault("finished_at", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        data = json.dumps(json_safe(doc), indent=2, sort_keys=True).encode()
        atomic_write(self.episode_path(int(record["trial"])), data)

    def read_episode(self, trial: int) -> dict[str, Any] | None:
        path = self.episode_path(trial)
        if not path.is_file():
            return None
        return self._load(path)

    def episodes(self) -> list[dict[str, Any]]:
        """Every finished episode, in trial order (unreadable files are skipped with a warning)."""
        out = []
        for path in sorted(self.episodes_dir.glob("[0-9]*.json")):
            record = self._load(path)
            if record is not None:
                out.append(record)
        return sorted(out, key=lambda r: int(r["trial"]))

    @staticmethod
    def _load(path: Path) -> dict[str, Any] | None:
        try:
            doc = json.loads(path.read_text())
            doc["metrics"] = _restore_floats(doc.get("metrics") or {})
            doc["proxy_metrics"] = _restore_floats(doc.get("proxy_metrics") or {})
            return doc
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("skipping unreadable episode record %s (%s)", path.name, exc)
            return None
