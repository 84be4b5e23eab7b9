"""What a trial runs: the problem contract and the codec problem (fit a codec, score the stream).

A :class:`Problem` owns its default search space and objectives, a fingerprint of its input
(half of the cache key), a pre-flight resource check, an evaluation at two fidelities — ``proxy``
(a short excerpt, cheap) and ``full`` (the whole input) — and a way to save the artifact of a
strategy. The shrink problem lives in :mod:`ratecraft.autopilot.shrink_problem`.
"""

from __future__ import annotations

import json
import logging
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from ratecraft.autopilot.cache import fingerprint_array
from ratecraft.autopilot.objectives import Constraint, Objective, Reward
from ratecraft.autopilot.space import Param, SearchSpace, Strategy
from ratecraft.errors import BadInputError
from ratecraft.system import available_memory

log = logging.getLogger(__name__)

FIDELITIES = ("proxy", "full")


class Problem(ABC):
    """One thing the autopilot can search over."""

    name: str = "problem"

    @abstractmethod
    def default_space(self) -> SearchSpace:
        """The search space to use when the user gives none."""

    @abstractmethod
    def default_reward(self) -> Reward:
        """Sensible objectives and constraints for this input."""

    @abstractmethod
    def fingerprint(self) -> str:
        """A content hash of the input and of every evaluation setting that changes results."""

    @abstractmethod
    def evaluate(self, strategy: Strategy, fidelity: str) -> dict[str, float]:
        """Run ``strategy`` and return its metrics (objectives and constraints name these keys)."""

    @abstractmethod
    def save_artifact(self, strategy: Strategy, folder: Path) -> dict[str, Any]:
        """Rebuild the artifact of ``strategy`` at full fidelity into ``folder``; return facts."""

    def preflight(self, strategy: Strategy) -> str | None:
        """Why ``strategy`` should not run on this machine, or None when it may."""
        return None

    def describe(self) -> dict[str, Any]:
        return {"problem": self.name}


# ---- codec problem -------------------------------------------------------------------------

CLASSICAL_SPACE: dict[str, dict[str, Param]] = {
    "quant": {
        "max_order": Param("int", 1, 32, log=True),
        "context_block": Param("int", 16, 512, log=True),
        "neighbours": Param("cat", choices=(True, False)),
    },
    "wavelet": {
        "wavelet": Param("cat", choices=("db4", "sym8", "coif3", "haar", "db2")),
        "levels": Param("int", 1, 8),
        "level_scale": Param("float", 0.5, 2.0),
        "dead_zone": Param("float", 0.0, 0.45),
    },
    "pca": {
        "dead_zone": Param("float", 0.0, 0.45),
        "temporal": Param("cat", choices=(True, False)),
        "component_fraction": Param("float", 0.1, 1.0),
    },
}
# learned recording codecs other issues add; they join the space when registered
LEARNED_RECORDING = ("conv-ae", "lstm-ae", "transformer", "vae", "spatial", "spike-lfp")


def _codec_config(method: str, params: dict[str, Any], n_rows: int) -> dict[str, Any]:
    """The codec config of a strategy (``ratio`` is the budget, not a config field)."""
    cfg = {k: v for k, v in params.items() if k != "ratio"}
    if method == "pca" and "component_fraction" in cfg:
        cfg["max_components"] = max(1, round(cfg.pop("component_fraction") * n_rows))
    return cfg


class CodecProblem(Problem):
    """Fit a lossy codec at a target ratio on a recording; score spike F1, SNDR, ratio, speed.

    Classical codecs run their rate control on the data they code. Learned codecs train on a
    stretch of the recording before the scored window and are scored on the window, so nothing
    is scored on what it trained on. ``proxy_seconds`` is the cheap excerpt, ``full_seconds``
    the full evaluation (None: the whole recording).
    """

    name = "codec"

    def __init__(
        self,
        recording: Any,
        *,
        proxy_seconds: float = 0.25,
        full_seconds: float | None = None,
        include_learned: bool = False,
        ratio_range: tuple[float, float] = (2.0, 200.0),
    ) -> None:
        from ratecraft.data.types import Recording

        if not isinstance(recording, Recording):
            raise BadInputError("the codec problem needs a recording (channels x time)")
        if proxy_seconds <= 0:
            raise BadInputError("proxy_seconds must be positive")
        self.recording = recording
        self.proxy_seconds = proxy_seconds
        self.full_seconds = full_seconds
        self.include_learned = include_learned
        self.ratio_range = ratio_range
        self._windows: dict[str, tuple[Any, Any]] = {}

    # ---- data windows -------------------------------------------------------------------------
    def _window(self, fidelity: str) -> tuple[Any, Any]:
        """(train, scored) recordings for a fidelity; train is the stretch before the window."""
        if fidelity not in FIDELITIES:
            raise BadInputError(f"fidelity must be one of {FIDELITIES}, not {fidelity!r}")
        if fidelity not in self._windows:
            rec = self.recording
            n = rec.n_samples
            seconds = self.proxy_seconds if fidelity == "proxy" else self.full_seconds
            length = n if seconds is None else min(n, max(64, round(seconds * rec.sample_rate)))
            start = (n - length) // 2 if fidelity == "proxy" else n - length
            scored = rec.slice_time(start, start + length)
            train_start = max(0, start - length)
            train = rec.slice_time(train_start, start) if start > train_start else scored
            self._windows[fidelity] = (train, scored)
        return self._windows[fidelity]

    def _methods(self) -> dict[str, dict[str, Param]]:
        from ratecraft.codecs import available_codecs

        names = set(available_codecs())
        methods = {m: dict(p) for m, p in CLASSICAL_SPACE.items() if m in names}
        if self.include_learned:
            methods.update({m: {} for m in LEARNED_RECORDING if m in names})
        return methods

    def default_space(self) -> SearchSpace:
        lo, hi = self.ratio_range
        return SearchSpace(
            methods=self._methods(), shared={"ratio": Param("float", lo, hi, log=True)}
        )

    def default_reward(self) -> Reward:
        from ratecraft.metrics.spikes import spike_band_fits

        if spike_band_fits(self.recording.sample_rate):
            quality, limit = "spike_f1:max", "spike_f1>=0.9"
        else:  # too slow a rate for the spike band: waveform fidelity instead
            quality, limit = "sndr_db:max", "sndr_db>=10"
        return Reward(
            objectives=[Objective.parse(quality), Objective.parse("ratio:max")],
            constraints=[Constraint.parse(limit)],
        )

    def fingerprint(self) -> str:
        rec = self.recording
        return fingerprint_array(
            rec.samples, rec.sample_rate, rec.uv_per_step, self.proxy_seconds, self.full_seconds
        )

    def preflight(self, strategy: Strategy) -> str | None:
        _, scored = self._window("full")
        need = scored.samples.size * 8 * 24  # float64 working copies (trained codecs cap windows)
        have = available_memory()
        if need > have:
            return f"needs about {need / 1e9:.1f} GB of memory, {have / 1e9:.1f} GB available"
        return None

    def _fit(self, strategy: Strategy, fidelity: str) -> tuple[Any, Any]:
        from ratecraft.codecs import Budget, get_codec

        train, scored = self._window(fidelity)
        method, params = strategy["method"], strategy["params"]
        cfg = _codec_config(method, params, scored.n_channels)
        codec = get_codec(method, cfg)
        budget = Budget(ratio=float(params["ratio"]))
        codec.fit(train, budget)
        if codec.model_sha256() is None:  # nothing trained: its knob adapts to what it codes
            codec.fit(scored, budget)
        return codec, scored

    def evaluate(self, strategy: Strategy, fidelity: str) -> dict[str, float]:
        from ratecraft.metrics import recording_quality

        t0 = time.perf_counter()
        codec, scored = self._fit(strategy, fidelity)
        fit_s = time.perf_counter() - t0
        blob, stats = codec.encode_with_stats(scored)
        t1 = time.perf_counter()
        back = codec.decode(blob)  # with its trained model, when it has one
        decode_s = time.perf_counter() - t1
        quality = recording_quality(scored.samples, back.samples, scored.sample_rate)
        samples = scored.samples.size
        return {
            **{k: float(v) for k, v in quality.items()},
            "ratio": float(stats.ratio),
            "bits_per_sample": float(stats.bits_per_sample),
            "throughput": samples / max(stats.seconds, 1e-9),
            "decode_throughput": samples / max(decode_s, 1e-9),
            "latency_ms": 1e3 * stats.seconds,
            "fit_seconds": fit_s,
        }

    def save_artifact(self, strategy: Strategy, folder: Path) -> dict[str, Any]:
        from ratecraft.atomic import atomic_write

        folder.mkdir(parents=True, exist_ok=True)
        codec, scored = self._fit(strategy, "full")
        blob, stats = codec.encode_with_stats(scored)
        atomic_write(folder / "stream.rcz", blob)
        codec.save(folder / "model")  # `ratecraft encode --model` replays it
        atomic_write(folder / "strategy.json", json.dumps(strategy, indent=2).encode())
        return {"stream": str(folder / "stream.rcz"), "ratio": stats.ratio}

    def describe(self) -> dict[str, Any]:
        rec = self.recording
        return {
            "problem": self.name,
            "channels": rec.n_channels,
            "samples": rec.n_samples,
            "sample_rate": rec.sample_rate,
            "proxy_seconds": self.proxy_seconds,
            "full_seconds": self.full_seconds,
        }


def excerpt_recording(recording: Any, seconds: float) -> Any:
    """The middle ``seconds`` of a recording (for quick previews and tests)."""
    n = recording.n_samples
    length = int(np.clip(round(seconds * recording.sample_rate), 1, n))
    start = (n - length) // 2
    return recording.slice_time(start, start + length)
