"""Result cache: the metrics of a strategy on an input, keyed by strategy hash + input fingerprint.

A hit skips the run entirely. Entries are small JSON files written atomically, so several
processes (Ray workers, a resumed run) can share one cache folder safely.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from ratecraft.atomic import atomic_write
from ratecraft.autopilot.space import Strategy, strategy_hash

log = logging.getLogger(__name__)


def fingerprint_array(array: np.ndarray, *extra: Any) -> str:
    """A content hash of ``array`` (shape, dtype and bytes) plus any JSON-able ``extra`` facts."""
    h = hashlib.sha256()
    arr = np.ascontiguousarray(array)
    h.update(f"{arr.shape}|{arr.dtype.str}|".encode())
    h.update(memoryview(arr).cast("B"))
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()[:20]


def _encode(metrics: dict[str, float]) -> dict[str, Any]:
    return {k: (v if math.isfinite(v) else repr(v)) for k, v in metrics.items()}


def _decode(doc: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in doc.items()}


class ResultCache:
    """Metrics of finished runs in ``folder``; ``hits`` and ``misses`` count lookups."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0

    def key(self, strategy: Strategy, fingerprint: str, fidelity: str) -> str:
        return f"{strategy_hash(strategy)}-{fingerprint}-{fidelity}"

    def get(self, strategy: Strategy, fingerprint: str, fidelity: str) -> dict[str, float] | None:
        path = self.folder / f"{self.key(strategy, fingerprint, fidelity)}.json"
        try:
            doc = json.loads(path.read_text())
            metrics = _decode(doc["metrics"])
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable cache entry %s (%s)", path.name, exc)
            self.misses += 1
            return None
        self.hits += 1
        return metrics

    def put(
        self, strategy: Strategy, fingerprint: str, fidelity: str, metrics: dict[str, float]
    ) -> None:
        path = self.folder / f"{self.key(strategy, fingerprint, fidelity)}.json"
        doc = {"strategy": strategy, "fidelity": fidelity, "metrics": _encode(metrics)}
        atomic_write(path, json.dumps(doc, sort_keys=True).encode())
