"""Drift detection on a stream of chunk features, with River's detectors (ADWIN, Page-Hinkley).

Each watched feature is standardised against a baseline (the mean and spread of its first
``warmup`` values, taken while the model is known to fit), then fed to one ADWIN and one
Page-Hinkley detector. A drift is reported when any detector on any feature fires; after a drift
(and an adaptation) :meth:`DriftMonitor.reset` starts a new baseline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ratecraft.errors import MissingExtraError

__all__ = ["DriftMonitor", "DriftSignal"]


def _river() -> Any:
    try:
        from river import drift
    except ImportError:
        raise MissingExtraError("river", "online") from None
    return drift


@dataclass(frozen=True)
class DriftSignal:
    """A detector fired: which feature, which detector, at which chunk, on what value."""

    feature: str
    detector: str
    chunk: int
    value: float
    baseline: float


@dataclass
class DriftMonitor:
    """ADWIN + Page-Hinkley per feature on standardised values."""

    features: tuple[str, ...]
    warmup: int = 20
    adwin_delta: float = 0.002
    ph_delta: float = 0.5
    ph_threshold: float = 25.0
    ph_min_instances: int = 5  # after the baseline: a change is seen within a few chunks
    _seen: int = 0
    _base: dict[str, list[float]] = field(default_factory=dict)
    _stats: dict[str, tuple[float, float]] = field(default_factory=dict)
    _detectors: dict[str, dict[str, Any]] = field(default_factory=dict)

    def reset(self) -> None:
        """Forget the baseline and the detectors' state (after an adaptation)."""
        self._seen = 0
        self._base.clear()
        self._stats.clear()
        self._detectors.clear()

    def _make(self) -> dict[str, Any]:
        drift = _river()
        return {
            "adwin": drift.ADWIN(delta=self.adwin_delta),
            "page-hinkley": drift.PageHinkley(
                min_instances=self.ph_min_instances,
                delta=self.ph_delta,
                threshold=self.ph_threshold,
            ),
        }

    def update(self, chunk: int, values: dict[str, float]) -> list[DriftSignal]:
        """Feed one chunk's features; the detectors that fired on it."""
        self._seen += 1
        watched = [(k, float(values[k])) for k in self.features if k in values]
        if self._seen <= self.warmup:
            for k, v in watched:
                self._base.setdefault(k, []).append(v)
            if self._seen == self.warmup:
                for k, vs in self._base.items():
                    mean = sum(vs) / len(vs)
                    sd = math.sqrt(sum((v - mean) ** 2 for v in vs) / max(len(vs) - 1, 1))
                    self._stats[k] = (mean, max(sd, 1e-3 * abs(mean), 1e-9))
                    self._detectors[k] = self._make()
            return []
        fired = []
        for k, v in watched:
            if k not in self._stats:
                continue
            mean, sd = self._stats[k]
            z = (v - mean) / sd
            for name, det in self._detectors[k].items():
                det.update(z)
                if det.drift_detected:
                    fired.append(DriftSignal(k, name, chunk, v, mean))
        return fired

    @staticmethod
    def describe(signals: Iterable[DriftSignal]) -> str:
        return ", ".join(
            f"{s.feature} ({s.detector}: {s.baseline:.3g} → {s.value:.3g})" for s in signals
        )
