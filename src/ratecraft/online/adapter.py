"""The online loop: watch each chunk, detect drift, adapt, gate, promote or roll back — every
step a registry event (who, when, why, figures).

:class:`OnlineAdapter` serves ``NAME@alias`` (default ``production``). For each chunk it measures
the features of :mod:`ratecraft.online.features` with the live model and feeds them to a
:class:`~ratecraft.online.drift.DriftMonitor`. Before a drift, chunks go to a seeded reservoir
(the replay buffer) and, one in ``heldout_every``, to the old held-out set. After a drift
(``drift`` event) the next chunks are collected — one in ``heldout_every`` held out — and once
``recent_chunks`` are in, the live version is fine-tuned on them with replay and EWC
(:func:`~ratecraft.online.finetune.finetune`), evaluated on the recent and the old held-out
chunks, and registered with alias ``candidate`` (``register`` event, its card measured on the
recent held-out chunks). It is promoted when it gains at least ``min_gain_db`` SNDR on recent
data and loses at most ``max_forgetting_db`` on old data (``promote``), else refused
(``refuse``). Whenever the mean live SNDR over ``rollback_window`` chunks falls
``rollback_margin_db`` below the figure on the live version's card and the alias has an earlier
version, the alias is rolled back (``rollback``).
"""

from __future__ import annotations

import logging
import random
import tempfile
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ratecraft.codecs.base import Codec
from ratecraft.data.types import Recording
from ratecraft.errors import BadInputError
from ratecraft.metrics.signal import sndr_db
from ratecraft.online.drift import DriftMonitor, DriftSignal
from ratecraft.online.features import FEATURES, chunk_features
from ratecraft.online.finetune import FinetuneConfig, finetune
from ratecraft.registry.card import build_card
from ratecraft.registry.protocol import ModelRegistry, VersionInfo

__all__ = ["AdaptPolicy", "OnlineAdapter", "mean_sndr"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdaptPolicy:
    alias: str = "production"
    candidate_alias: str = "candidate"
    warmup: int = 20
    recent_chunks: int = 30
    heldout_every: int = 5
    replay_chunks: int = 40
    old_heldout_chunks: int = 10
    min_gain_db: float = 0.5
    max_forgetting_db: float = 1.0
    rollback_margin_db: float = 3.0
    rollback_window: int = 5
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    seed: int = 0


def mean_sndr(codec: Codec, chunks: list[Recording]) -> float:
    """Mean SNDR (dB) of ``codec``'s real round trip over ``chunks``."""
    values = []
    for c in chunks:
        recon = codec.decode(codec.encode(c))
        assert isinstance(recon, Recording)
        values.append(min(float(sndr_db(c.samples, recon.samples)), 200.0))
    return float(np.mean(values)) if values else float("nan")


def _concat(chunks: list[Recording]) -> Recording:
    first = chunks[0]
    return Recording(
        samples=np.concatenate([c.samples for c in chunks], axis=1),
        sample_rate=first.sample_rate,
        uv_per_step=first.uv_per_step,
        channel_positions=first.channel_positions,
    )


class OnlineAdapter:
    """Drift detection and adaptation for the registry model ``name``."""

    def __init__(
        self,
        registry: ModelRegistry,
        name: str,
        policy: AdaptPolicy | None = None,
        who: str = "adapt",
    ) -> None:
        self.registry = registry
        self.name = name
        self.policy = policy or AdaptPolicy()
        self.who = who
        self.monitor = DriftMonitor(FEATURES, warmup=self.policy.warmup)
        self._rng = random.Random(self.policy.seed)
        self.replay: list[Recording] = []
        self.old_heldout: list[Recording] = []
        self.recent: list[Recording] = []
        self.recent_heldout: list[Recording] = []
        self.live: deque[float] = deque(maxlen=self.policy.rollback_window)
        self.drift_at: int | None = None
        self.chunks = 0
        self.history: list[dict[str, Any]] = []  # one row per chunk (for benchmarks)
        self._seen_before_drift = 0
        self._seen_after_drift = 0
        self._load()

    # ---- the live version ------------------------------------------------------------------
    def _load(self) -> None:
        self.info: VersionInfo = self.registry.get(f"{self.name}@{self.policy.alias}")
        self.codec: Codec = self.registry.load(self.info)
        held = (self.info.card or {}).get("heldout") or {}
        self.card_sndr: float | None = held.get("sndr_db")
        self._can_roll_back = True
        self.live.clear()

    def _event(self, kind: str, why: str, metrics: dict[str, Any]) -> None:
        self.registry.record_event(self.info.ref, kind, why, metrics, who=self.who)

    # ---- one chunk ---------------------------------------------------------------------------
    def step(self, chunk: Recording) -> dict[str, Any]:
        """Process one chunk; its row (features, version, what happened)."""
        i = self.chunks
        self.chunks += 1
        f = chunk_features(chunk, self.codec)
        row: dict[str, Any] = {"chunk": i, "version": self.info.version, **f, "actions": []}
        self.live.append(f["sndr_db"])
        if self._should_roll_back():
            row["actions"].append(self._roll_back(i))
        signals = self.monitor.update(i, f)
        if signals and self.drift_at is None:
            self._on_drift(i, signals, f)
            row["actions"].append("drift")
        if self.drift_at is None:
            self._keep_old(chunk)
        else:
            self._seen_after_drift += 1
            held = self._seen_after_drift % self.policy.heldout_every == 0
            (self.recent_heldout if held else self.recent).append(chunk)
            if len(self.recent) >= self.policy.recent_chunks:
                row["actions"].append(self.adapt(i))
        self.history.append(row)
        return row

    def _keep_old(self, chunk: Recording) -> None:
        self._seen_before_drift += 1
        p = self.policy
        if self._seen_before_drift % p.heldout_every == 0:
            self.old_heldout.append(chunk)
            if len(self.old_heldout) > p.old_heldout_chunks:
                self.old_heldout.pop(self._rng.randrange(len(self.old_heldout)))
            return
        if len(self.replay) < p.replay_chunks:  # reservoir sample of the chunks seen before
            self.replay.append(chunk)
        else:
            j = self._rng.randrange(self._seen_before_drift)
            if j < p.replay_chunks:
                self.replay[j] = chunk

    def _on_drift(self, i: int, signals: list[DriftSignal], f: dict[str, Any]) -> None:
        self.drift_at = i
        self._seen_after_drift = 0
        self._event(
            "drift",
            f"drift at chunk {i}: {DriftMonitor.describe(signals)}",
            {"chunk": i, **{k: v for k, v in f.items() if isinstance(v, float)}},
        )
        log.info("%s: drift at chunk %d (%s)", self.name, i, DriftMonitor.describe(signals))

    def _should_roll_back(self) -> bool:
        p = self.policy
        if self.card_sndr is None or not self._can_roll_back or len(self.live) < p.rollback_window:
            return False
        return float(np.mean(self.live)) < self.card_sndr - p.rollback_margin_db

    def _roll_back(self, i: int) -> str:
        live = float(np.mean(self.live))
        why = (
            f"live SNDR {live:.2f} dB over {len(self.live)} chunks is below the card's "
            f"{self.card_sndr:.2f} dB by more than {self.policy.rollback_margin_db:g} dB"
        )
        try:
            before = self.info.version
            self.registry.rollback(
                self.name,
                self.policy.alias,
                who=self.who,
                why=why,
                metrics={"chunk": i, "live_sndr_db": live, "card_sndr_db": self.card_sndr},
            )
        except BadInputError as exc:  # no earlier version: say so once, keep serving
            self._can_roll_back = False
            self._event("degraded", f"{why}; {exc}", {"chunk": i, "live_sndr_db": live})
            return "degraded"
        self._load()
        self.monitor.reset()
        log.info("%s: rolled back from version %d to %d", self.name, before, self.info.version)
        return "rollback"

    # ---- adapting ---------------------------------------------------------------------------
    def adapt(self, i: int | None = None, cfg: FinetuneConfig | None = None) -> str:
        """Fine-tune on the recent chunks (replay + EWC), register, and promote or refuse."""
        p = self.policy
        cfg = cfg or p.finetune
        candidate = finetune(self.codec, self.recent, self.replay, cfg)
        recent_before = mean_sndr(self.codec, self.recent_heldout)
        recent_after = mean_sndr(candidate, self.recent_heldout)
        old_before = mean_sndr(self.codec, self.old_heldout)
        old_after = mean_sndr(candidate, self.old_heldout)
        figures: dict[str, Any] = {
            "recent_sndr_before_db": recent_before,
            "recent_sndr_after_db": recent_after,
            "old_sndr_before_db": old_before,
            "old_sndr_after_db": old_after,
            "recent_chunks": len(self.recent),
            "replay_chunks": len(self.replay) if cfg.replay_share > 0 else 0,
            "ewc_lambda": cfg.ewc_lambda,
            "steps": cfg.steps,
            "chunk": i,
        }
        gain = recent_after - recent_before
        loss = old_before - old_after if self.old_heldout else 0.0
        heldout = _concat(self.recent_heldout) if self.recent_heldout else None
        card = build_card(
            candidate,
            heldout=heldout,
            description=f"{self.info.ref} adapted online after a drift",
            heldout_note="held-out chunks recorded after the drift",
        )
        v = self._register(candidate, card, f"fine-tuned {self.info.ref} after drift", figures)
        if gain >= p.min_gain_db and loss <= p.max_forgetting_db:
            self.registry.promote(
                v.ref,
                p.alias,
                who=self.who,
                why=f"better on recent data by {gain:.2f} dB, loses {loss:.2f} dB on old data",
                metrics=figures,
            )
            self._load()
            outcome = "promote"
        else:
            self.registry.record_event(
                v.ref,
                "refuse",
                f"not promoted: gain {gain:.2f} dB (need ≥ {p.min_gain_db:g}), forgetting "
                f"{loss:.2f} dB (allowed ≤ {p.max_forgetting_db:g})",
                figures,
                who=self.who,
            )
            outcome = "refuse"
        self.last_adaptation = {**figures, "outcome": outcome, "version": v.version}
        self.drift_at = None
        self.recent, self.recent_heldout = [], []
        self.monitor.reset()
        return outcome

    def _register(
        self, codec: Codec, card: dict[str, Any], why: str, metrics: dict[str, Any]
    ) -> VersionInfo:
        with tempfile.TemporaryDirectory(prefix="rc-adapt-") as tmp:
            codec.save(tmp)
            return self.registry.register(
                tmp,
                self.name,
                card=card,
                aliases=(self.policy.candidate_alias,),
                source=f"online adaptation of {self.info.ref}",
                who=self.who,
                why=why,
                metrics=metrics,
            )

    def force_update(self, codec: Codec, why: str = "forced update") -> VersionInfo:
        """Register and promote ``codec`` without the gate, carrying the live version's card (an
        update whose evaluation does not hold live): the rollback check must catch it."""
        v = self._register(codec, self.info.card, why, {"forced": True})
        self.registry.promote(
            v.ref, self.policy.alias, who=self.who, why=why, metrics={"forced": True}
        )
        self._load()
        return v
