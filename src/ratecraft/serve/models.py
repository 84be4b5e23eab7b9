"""Models for the service: resolved through the registry on every request (so a promote or a
rollback takes effect at once), loaded once per content and warmed up, and A/B routing.

An alias is looked up in SQLite per request (a read of one row); the codec itself is cached by
``name@version`` (or ``zoo:NAME``), loaded at first use and warmed up with one encode of a small
block shaped like its training data, so the first real request does not pay for it.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ratecraft.codecs.base import Codec
from ratecraft.data.types import Recording
from ratecraft.registry.names import ModelRef, parse_ref
from ratecraft.registry.protocol import ModelRegistry, VersionInfo
from ratecraft.registry.zoo import load_zoo, zoo_card
from ratecraft.serve.config import ABSplit

__all__ = ["ABTally", "ModelCache", "Served"]

log = logging.getLogger(__name__)
_WARM_FRAMES = 4096


@dataclass
class Served:
    """A model ready to serve: what it is (``label`` is ``name@version`` or ``zoo:NAME``)."""

    label: str
    name: str
    version: int | None
    codec: Codec
    card: dict[str, Any]
    arm: str = "main"  # "main" or "candidate" when an A/B split chose it


@dataclass
class ABTally:
    """Measured quality and ratio of the requests one version served under an A/B split."""

    requests: int = 0
    sndr_sum: float = 0.0
    ratio_sum: float = 0.0
    unflushed: int = 0

    def add(self, sndr_db: float, ratio: float) -> None:
        self.requests += 1
        self.unflushed += 1
        self.sndr_sum += min(sndr_db, 200.0)  # an exact answer counts as 200 dB in the mean
        self.ratio_sum += ratio

    def summary(self) -> dict[str, float]:
        n = max(self.requests, 1)
        return {
            "requests": self.requests,
            "mean_sndr_db": self.sndr_sum / n,
            "mean_ratio": self.ratio_sum / n,
        }


@dataclass
class ModelCache:
    """Loaded codecs by label, the A/B splits and their tallies (thread-safe)."""

    registry: ModelRegistry
    splits: dict[str, ABSplit] = field(default_factory=dict)
    seed: int = 0
    _codecs: dict[str, tuple[Codec, dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    tallies: dict[str, ABTally] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def _version(self, ref: ModelRef) -> VersionInfo:
        split = self.splits.get(ref.name)
        if split is not None and ref.version is None:
            with self._lock:
                draw = self._rng.random()
            if draw < split.share:
                return self.registry.get(ModelRef(ref.name, alias=split.candidate))
        return self.registry.get(ref)

    def get(self, text: str) -> Served:
        """The model ``text`` names (``NAME@alias``, ``NAME@3``, ``NAME`` or ``zoo:NAME``)."""
        ref = parse_ref(text)
        if ref.zoo:
            label = str(ref)
            codec, card = self._load(label, lambda: (load_zoo(ref.name), zoo_card(ref.name)))
            return Served(label, ref.name, None, codec, card)
        info = self._version(ref)
        split = self.splits.get(ref.name)
        arm = "main"
        if split is not None and ref.version is None:
            candidate = self.registry.aliases(ref.name).get(split.candidate)
            arm = "candidate" if candidate == info.version else "main"
        codec, card = self._load(info.ref, lambda: (self.registry.load(info), info.card))
        return Served(info.ref, info.name, info.version, codec, card, arm)

    def _load(self, label: str, loader: Any) -> tuple[Codec, dict[str, Any]]:
        with self._lock:
            hit = self._codecs.get(label)
        if hit is not None:
            return hit
        codec, card = loader()
        warm_up(codec, card)
        with self._lock:
            self._codecs.setdefault(label, (codec, card))
            return self._codecs[label]

    def loaded(self) -> list[str]:
        with self._lock:
            return sorted(self._codecs)

    def in_split(self, served: Served) -> bool:
        return served.name in self.splits and served.version is not None

    def tally(self, served: Served, sndr_db: float, ratio: float) -> ABTally:
        with self._lock:
            t = self.tallies.setdefault(served.label, ABTally())
            t.add(sndr_db, ratio)
            return t


def warm_up(codec: Codec, card: dict[str, Any]) -> None:
    """One encode of a small block shaped like the model's training data (when the card says
    what that was), so the first request finds the code paths compiled and the memory there."""
    facts = card.get("trained_on") or {}
    if facts.get("kind") != "recording":
        return
    rng = np.random.default_rng(0)
    block = (rng.standard_normal((int(facts["channels"]), _WARM_FRAMES)) * 20).astype(
        facts.get("dtype", "int16")
    )
    data = Recording(
        samples=block,
        sample_rate=float(facts["sample_rate"]),
        uv_per_step=float(facts.get("uv_per_step", 1.0)),
    )
    try:
        codec.encode(data)
    except Exception as exc:  # a warm-up is best effort: the request will say what is wrong
        log.warning("warm-up of %s failed: %s", codec.name, exc)
