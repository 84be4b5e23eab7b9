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
    def metric_names(self) -> frozenset[str]:
        """Every key :meth:`evaluate` returns: what objectives and constraints may name."""

    @abstractmethod
    def evaluate(self, strategy: Strategy, fidelity: str) -> dict[str, float]:
        """Run ``strategy`` and return its metrics (objectives and constraints name these keys)."""

    @abstractmethod
    def save_artifact(self, strategy: Strategy, folder: Path) -> dict[str, Any]:
        """Rebuild the artifact of ``strategy`` at full fidelity into ``folder``; return facts."""

    def preflight(self, strategy: Strategy) -> str | None:
        """Why ``strategy`` should not run on this machine, or None when it may."""
        return None

    def initial_strategies(self) -> list[Strategy]:
        """Strategies every run starts with, whatever its proposer (a known-feasible point of a
        space where almost nothing random is feasible); none by default."""
        return []

    def describe(self) -> dict[str, Any]:
        return {"problem": self.name}


# ---- codec problem -------------------------------------------------------------------------

# lossy classical codecs and their own knobs; each also takes the target ``ratio``
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
# lossless codecs (no ratio: they are bit-exact, at whatever ratio the data allows)
LOSSLESS_SPACE: dict[str, dict[str, Param]] = {
    "predictive": {
        "level": Param("cat", choices=("fast", "max")),
        "neighbours": Param("cat", choices=(True, False)),
    },
}
# learned recording codecs other issues add; they join the space when registered, with the
# knobs that interact with the ratio: window, bits per latent (which sizes the latent channels
# for a ratio), λ of the rate-distortion loss and the entropy model
LEARNED_RECORDING = ("conv-ae", "lstm-ae", "transformer", "vae", "spatial", "spike-lfp")
LEARNED_KNOBS: dict[str, Param] = {
    "window": Param("cat", choices=(64, 128, 256)),
    "bits_per_latent": Param("float", 0.5, 4.0, log=True),
    "lmbda": Param("float", 4.0, 1024.0, log=True),
    "entropy": Param("cat", choices=("factorized", "hyperprior")),
}
_LEARNED_WITH_KNOBS = ("conv-ae", "lstm-ae", "transformer")
# what CodecProblem.evaluate returns besides the recording-quality metrics
CODEC_RATE_METRICS = frozenset(
    ("ratio", "bits_per_sample", "throughput", "decode_throughput", "latency_ms", "fit_seconds")
)


def codec_plan(
    strategy: Strategy, n_rows: int, epochs: int | None = None
) -> tuple[str, Any, dict[str, Any]]:
    """``(codec, budget, options)`` of a codec strategy: a strategy with a ``ratio`` is lossy
    at that ratio, one without is lossless (``n_rows``: channels, for relative options;
    ``epochs``: the training budget of a learned codec, None for its own default)."""
    from ratecraft.codecs import Budget

    method, params = strategy["method"], dict(strategy["params"])
    ratio = params.pop("ratio", None)
    if method == "pca" and "component_fraction" in params:
        params["max_components"] = max(1, round(params.pop("component_fraction") * n_rows))
    train = {"lmbda": params.pop("lmbda")} if "lmbda" in params else {}
    if epochs is not None and method in LEARNED_RECORDING:
        train["epochs"] = epochs
    if train:
        params["train"] = train
    budget = Budget(lossless=True) if ratio is None else Budget(ratio=float(ratio))
    return method, budget, params


class CodecProblem(Problem):
    """Fit a codec on a recording — lossy at a target ratio, or lossless; score spike F1, SNDR,
    ratio, speed.

    Classical codecs run their rate control on the data they code. Learned codecs train on a
    stretch of the recording before the scored window and are scored on the window, so nothing
    is scored on what it trained on. ``proxy_seconds`` is the cheap excerpt, ``full_seconds``
    the full evaluation (None: the whole recording). The saved artifacts are built on the whole
    input exactly as ``ratecraft encode INPUT --config strategy.json`` builds them (``source``:
    the input file, opened with ``open_options``; without it the recording in memory).
    """

    name = "codec"

    def __init__(
        self,
        recording: Any,
        *,
        proxy_seconds: float = 0.25,
        full_seconds: float | None = None,
        include_learned: bool = False,
        include_lossless: bool = True,
        ratio_range: tuple[float, float] = (2.0, 200.0),
        learned_epochs: dict[str, int] | None = None,
        source: Path | None = None,
        open_options: dict[str, Any] | None = None,
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
        self.include_lossless = include_lossless
        self.ratio_range = ratio_range
        self.learned_epochs = dict(learned_epochs or {})  # fidelity -> epochs (default: own)
        self.source = source
        self.open_options = dict(open_options or {})
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
        lo, hi = self.ratio_range
        ratio = {"ratio": Param("float", lo, hi, log=True)}
        methods = {m: {**ratio, **p} for m, p in CLASSICAL_SPACE.items() if m in names}
        if self.include_learned:
            for m in LEARNED_RECORDING:
                if m in names:
                    knobs = LEARNED_KNOBS if m in _LEARNED_WITH_KNOBS else {}
                    methods[m] = {**ratio, **knobs}
        if self.include_lossless:
            methods.update({m: dict(p) for m, p in LOSSLESS_SPACE.items() if m in names})
        return methods

    def default_space(self) -> SearchSpace:
        return SearchSpace(methods=self._methods())

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

    def metric_names(self) -> frozenset[str]:
        from ratecraft.metrics.summary import RECORDING_QUALITY_KEYS

        return RECORDING_QUALITY_KEYS | CODEC_RATE_METRICS

    def fingerprint(self) -> str:
        rec = self.recording
        return fingerprint_array(
            rec.samples,
            rec.sample_rate,
            rec.uv_per_step,
            self.proxy_seconds,
            self.full_seconds,
            self.learned_epochs,
        )

    def preflight(self, strategy: Strategy) -> str | None:
        _, scored = self._window("full")
        need = scored.samples.size * 8 * 24  # float64 working copies (trained codecs cap windows)
        have = available_memory()
        if need > have:
            return f"needs about {need / 1e9:.1f} GB of memory, {have / 1e9:.1f} GB available"
        return None

    def _fit(self, strategy: Strategy, fidelity: str) -> tuple[Any, Any]:
        from ratecraft.codecs import get_codec

        train, scored = self._window(fidelity)
        epochs = self.learned_epochs.get(fidelity)
        method, budget, cfg = codec_plan(strategy, scored.n_channels, epochs)
        codec = get_codec(method, cfg)
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

    def _open_input(self) -> Any:
        from ratecraft import api
        from ratecraft.data.sources import as_source

        if self.source is not None:
            return api.open(self.source, **self.open_options)
        return as_source(self.recording)

    def save_artifact(self, strategy: Strategy, folder: Path) -> dict[str, Any]:
        """Encode the **whole input** with ``strategy`` the way ``ratecraft encode --config
        strategy.json`` does, keep the model a learned codec trained, and score the container
        against the whole input (the front's figures come from the scored window only)."""
        from ratecraft import api
        from ratecraft.atomic import atomic_write
        from ratecraft.autopilot.replay import strategy_document
        from ratecraft.metrics import recording_quality

        folder.mkdir(parents=True, exist_ok=True)
        epochs = self.learned_epochs.get("full")
        name, budget, options = codec_plan(strategy, self.recording.n_channels, epochs)
        stream = folder / "stream.rcz"
        with self._open_input() as source:
            fitted = api.fit(
                source.excerpt(api.FIT_SAMPLES), codec=name, budget=budget, config=options
            )
            stats = api.encode_file(source, stream, fitted)
        trained = fitted.model_sha256() is not None
        if trained:
            fitted.save(folder / "model")
        doc = strategy_document(name, budget, options, {"strategy": strategy})
        atomic_write(folder / "strategy.json", json.dumps(doc, indent=2).encode())
        back = api.decode(stream, model=fitted if trained else None)
        rec = self.recording
        quality = recording_quality(rec.samples, back.samples, rec.sample_rate)
        whole = {k: float(v) for k, v in quality.items()}
        whole["ratio"] = float(stats.ratio)
        replay = f"ratecraft encode INPUT --config {folder / 'strategy.json'} -o OUT.rcz"
        if trained:
            replay += " --save-model MODEL_DIR"
        return {
            "stream": str(stream),
            "ratio": stats.ratio,
            "whole_input": whole,
            "replay": replay,
        }

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
