"""`LearnedRecordingCodec`: the shared glue of the learned recording codecs.

``fit(recording, Budget(ratio=R))`` normalizes each channel (mean, std of the training part),
cuts windows of ``window`` frames, splits them **by time** (the last ``val_fraction`` of the
recording validates), sizes the model from the budget, trains it with the rate–distortion
:class:`~ratecraft.train.trainer.Trainer` and the losses of :mod:`.losses`, then runs rate
control on the real container.

**Rate control.** ``R`` becomes ``b = 8·itemsize / R`` bits per sample. The number of latent
channels follows ``b`` (``round(b · latent positions per sample⁻¹ / bits_per_latent)``, capped),
so a larger ratio builds a smaller model; training steers its rate toward ``b`` (dual ascent on
λ). Afterwards the latent quantization step ``q`` is searched by the one rate control
(:func:`~ratecraft.codecs.ratecontrol.fit_ratio`): the finest step whose real container meets
``R``, on a central excerpt of the fitted recording, then on the whole of it.

**Coding.** ``encode_block`` codes each chunk's windows: latents ``round(y / q)`` entropy-coded
with integer tables (:mod:`ratecraft.entropy.latent`);
``decode_block`` and :meth:`LearnedRecordingCodec.reconstruct` run the same dequantization and
decoder, batch for batch, so the decoded recording equals ``reconstruct()`` bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import torch
from pydantic import Field

from ratecraft.bitstream.sections import pack_sections, unpack_sections
from ratecraft.codecs.base import (
    DEFAULT_CHUNK_SAMPLES,
    BlockContext,
    BlockResult,
    Codec,
    CodecConfig,
    ModelState,
)
from ratecraft.codecs.budget import Budget
from ratecraft.codecs.learned.blocks import load_weights
from ratecraft.codecs.learned.losses import LossConfig, RecordingLoss, highpass_sigma
from ratecraft.codecs.learned.recording_models import RecordingModel
from ratecraft.codecs.ratecontrol import Knob, fit_ratio
from ratecraft.data.recording_set import RecordingSet
from ratecraft.data.types import Data, Recording
from ratecraft.errors import BadInputError, CorruptStreamError
from ratecraft.train import checkpoint as ckpt
from ratecraft.train.trainer import TrainConfig, Trainer, TrainResult
from ratecraft.train.windows import SourceWindows, channel_stats, window_index

__all__ = ["LearnedRecordingCodec", "LearnedRecordingConfig"]

log = logging.getLogger(__name__)
_STEP_RANGE = (2.0**-8, 2.0**12)
_SIGMA_WINDOWS = 512  # training windows the spike-noise level is estimated on (a set on disk)
_RATE_SAMPLES = 1 << 22  # samples of a held-out recording that rate control runs on (a set)


def _default_train() -> TrainConfig:
    return TrainConfig(epochs=30, batch_size=8, lr=2e-3, patience=6, lmbda=64.0)


class LearnedRecordingConfig(CodecConfig):
    """Options shared by the learned recording codecs (windows, model size, entropy, training)."""

    window: int = Field(
        default=128,
        ge=8,
        le=4096,
        description="frames per window the network codes (a multiple of 2^stages)",
    )
    stages: int = Field(
        default=3,
        ge=1,
        le=6,
        description="stride-2 stages: each latent step covers 2^stages frames",
    )
    latent_channels: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="latent channels without a ratio budget (a ratio sets them)",
    )
    max_latent_channels: int = Field(
        default=64, ge=1, le=1024, description="most latent channels a ratio budget may choose"
    )
    bits_per_latent: float = Field(
        default=1.0,
        gt=0.0,
        le=16.0,
        allow_inf_nan=False,
        description="bits a latent is expected to cost, to size latent channels from a ratio",
    )
    hidden: int = Field(
        default=32, ge=4, le=1024, description="width of the network's hidden layers"
    )
    encoder_hidden: int = Field(
        default=8, ge=2, le=1024, description="width of the (small, implant-sized) encoder"
    )
    entropy: Literal["factorized", "hyperprior"] = Field(
        "factorized",
        description="latent entropy model: fixed per-channel tables or a scale hyperprior",
    )
    hyper_channels: int = Field(
        default=8, ge=1, le=256, description="channels of the hyperprior's side latents"
    )
    latent_step: float = Field(
        default=1.0,
        gt=0.0,
        allow_inf_nan=False,
        description="quantization step of the latents (a ratio budget searches it)",
    )
    loss: LossConfig = Field(default_factory=LossConfig, description="distortion terms of training")
    train: TrainConfig = Field(default_factory=_default_train, description="the trainer")
    val_fraction: float = Field(
        default=0.15,
        ge=0.0,
        lt=0.9,
        description="last fraction of the recording kept for validation",
    )
    max_windows: int = Field(
        default=1500, ge=2, description="training windows at most (a seeded sample of them)"
    )
    batch_windows: int = Field(
        default=64, ge=1, le=65536, description="windows per network call when coding"
    )
    seed: int = Field(default=0, ge=0, description="seed of initialization and window sampling")


class LearnedRecordingCodec(Codec):
    """Base of the learned recording codecs; subclasses build the network."""

    config_cls: ClassVar[type[CodecConfig]] = LearnedRecordingConfig
    config: LearnedRecordingConfig
    kinds = ("recording",)
    supports_lossy = True
    budgets: ClassVar[tuple[str, ...]] = ("ratio",)  # or none: the config's latent width
    learned = True
    trains_on_sets = True
    tensor_framework = "pt"

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.model: RecordingModel | None = None
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.spike_sigma: np.ndarray | None = None
        self.layout: dict[str, Any] = {}
        self.train_result: TrainResult | None = None
        self._memo: dict[bytes, torch.Tensor] | None = None

    # ---- subclass hook -------------------------------------------------------------------
    @abstractmethod
    def _build_model(self, n_channels: int) -> RecordingModel:
        """The untrained network for ``n_channels`` electrodes from ``self.config``."""

    def _prepare_model(self, model: RecordingModel, data: Recording) -> None:
        """Data-dependent set-up before training (the spatial codec sets its adjacency)."""

    def _has_extra(self) -> bool:
        """Whether chunks carry a second layer (then encoding also runs the decoder)."""
        return False

    def _encode_extra(self, block: np.ndarray, recon: np.ndarray) -> tuple[bytes, float]:
        """A second layer coded after the latents (the VAE's residual); none by default."""
        return b"", 0.0

    def _apply_extra(
        self, extra: memoryview | bytes, recon: np.ndarray, codec_version: int
    ) -> np.ndarray:
        if len(extra):
            raise CorruptStreamError(f"{self.name} chunk carries an unexpected extra layer")
        return recon

    def _after_training(self, val: np.ndarray) -> None:
        """Calibration on validation windows after training (the VAE's error bound)."""

    def _extra_meta(self) -> dict[str, Any]:
        return {}

    def _load_extra(self, meta: dict[str, Any]) -> None:
        """Restore what :meth:`_extra_meta` stored."""

    def encoder_module(self) -> torch.nn.Module:
        """Traceable module: float32 normalized windows (batch, channels, window) → ``y``."""
        return self._need_model().encoder_module()

    # ---- checks --------------------------------------------------------------------------
    def check_input(self, data: Data) -> None:
        if not isinstance(data, Recording):
            raise BadInputError(f"{self.name} codes recordings, not {type(data).__name__}")
        if data.samples.dtype.kind == "f" and not np.isfinite(data.samples).all():
            raise BadInputError(f"{self.name}: recording contains NaN or infinite values")
        n = self.layout.get("n_channels")
        if n is not None and data.n_channels != n:
            raise BadInputError(
                f"{self.name}: model was fitted on {n} channels, recording has {data.n_channels}"
            )

    def _need_model(self) -> RecordingModel:
        if self.model is None or self.mean is None or self.std is None:
            raise BadInputError(f"{self.name} is not fitted; call fit() or load() first")
        return self.model

    def _check_budget(self, budget: Budget | None) -> None:
        if budget is not None and budget.lossless:
            raise BadInputError(
                f"{self.name} is a lossy learned codec; it cannot meet a lossless budget "
                "(use a lossless codec such as predictive or flac)"
            )
        if budget is not None and budget.max_error is not None and "max_error" not in self.budgets:
            raise BadInputError(
                f"{self.name} cannot guarantee a max_error; give a ratio (or use the vae codec)"
            )

    # ---- fitting -------------------------------------------------------------------------
    def _latents_for(self, bits: float, n_channels: int, per_channel: bool) -> int:
        cfg = self.config
        per_sample = (1 << cfg.stages) * (1 if per_channel else n_channels)
        return int(
            min(cfg.max_latent_channels, max(1, round(bits * per_sample / cfg.bits_per_latent)))
        )

    def _set_windows(self, rset: RecordingSet) -> tuple[SourceWindows, np.ndarray, Recording]:
        """Training windows read on demand, validation windows in memory and the recording
        rate control runs on, from a set of recordings (statistics from its training part)."""
        cfg = self.config
        by_time = not rset.val
        train_span = (0.0, 1.0 - cfg.val_fraction) if by_time else (0.0, 1.0)
        self.mean, self.std = channel_stats(rset.train, train_span[1])
        w, limit = cfg.window, cfg.max_windows
        index = window_index(rset.train, w, limit, cfg.seed, train_span)
        if len(index) < 2:
            raise BadInputError(f"{self.name}: the training recordings hold fewer than 2 windows")
        train = SourceWindows(rset.train, index, w, self.mean, self.std)
        val_sources = rset.train if by_time else rset.val
        val_span = (train_span[1], 1.0) if by_time else (0.0, 1.0)
        val_index = window_index(val_sources, w, max(2, limit // 4), cfg.seed + 1, val_span)
        val = SourceWindows(val_sources, val_index, w, self.mean, self.std).load()
        rate_source = val_sources[0]
        lo = int(rate_source.frames * val_span[0])
        keep = max(w, _RATE_SAMPLES // max(rate_source.rows, 1))
        example = rate_source.to_data(lo, min(rate_source.frames, lo + keep))
        assert isinstance(example, Recording)
        self.check_input(example)
        log.info(
            "%s: %d training windows from %d recordings, %d validation windows from %d",
            self.name, len(train), len(rset.train), len(val), len(val_sources),
        )  # fmt: skip
        return train, val, example

    def _split_windows(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Non-overlapping windows of the training (early) and validation (late) parts."""
        cfg = self.config
        w = cfg.window
        frames = z.shape[1]
        n_val = int(frames * cfg.val_fraction) // w
        n_all = frames // w
        n_train = n_all - n_val
        if n_train < 2:
            raise BadInputError(
                f"{self.name}: recording too short to fit: needs at least "
                f"{math.ceil(2 * w / (1 - cfg.val_fraction))} frames, has {frames}"
            )
        wins = z[:, : n_all * w].reshape(z.shape[0], n_all, w).transpose(1, 0, 2)
        train, val = wins[:n_train], wins[n_train:]
        rng = np.random.default_rng(cfg.seed)
        if len(train) > cfg.max_windows:
            train = train[np.sort(rng.choice(len(train), cfg.max_windows, replace=False))]
        if len(val) > max(2, cfg.max_windows // 4):
            val = val[np.sort(rng.choice(len(val), max(2, cfg.max_windows // 4), replace=False))]
        return np.ascontiguousarray(train), np.ascontiguousarray(val)

    def fit(
        self,
        data: Data | RecordingSet,
        budget: Budget | None = None,
        *,
        train_dir: str | Path | None = None,
        resume: bool = False,
        stop_after: int | None = None,
    ) -> Self:
        """Normalize, window, size the model from ``budget``, train, then run rate control.

        ``data`` is one recording in memory, or a :class:`RecordingSet` of recordings on disk:
        their windows are read on demand by a ``DataLoader`` (``train.workers`` processes) and
        the model is validated on the set's validation recordings; rate control and the fit
        report then run on a stretch of the first validation recording (of the first training
        recording's later part when the set names none).

        ``train_dir`` receives the trainer's checkpoint and ``metrics.jsonl``; ``resume=True``
        continues an interrupted fit from it; ``stop_after`` ends training after that many
        epochs of this call (a time-boxed or interrupted run; the codec is still usable).
        """
        self._check_budget(budget)
        self.layout = {}
        cfg = self.config
        if isinstance(data, RecordingSet):
            train, val, data = self._set_windows(data)
            sigma_windows = train.load(_SIGMA_WINDOWS)
        else:
            self.check_input(data)
            assert isinstance(data, Recording)
            x = data.samples.astype(np.float64)
            n_fit = max(1, int(x.shape[1] * (1 - cfg.val_fraction)))
            self.mean = x[:, :n_fit].mean(axis=1)
            self.std = np.maximum(x[:, :n_fit].std(axis=1), 1e-6)
            z = ((x - self.mean[:, None]) / self.std[:, None]).astype(np.float32)
            train, val = self._split_windows(z)
            sigma_windows = train
        self.spike_sigma = highpass_sigma(sigma_windows)
        self.layout = {
            "n_channels": data.n_channels,
            "channel_names": list(data.channel_names or []),
            "channel_positions": None
            if data.channel_positions is None
            else data.channel_positions.tolist(),
            "sample_rate": float(data.sample_rate),
            "uv_per_step": float(data.uv_per_step),
            "dtype": data.samples.dtype.name,
        }
        bits = None
        if budget is not None and budget.ratio is not None:
            bits = 8.0 * data.samples.dtype.itemsize / budget.ratio
            per_channel = self._build_model(data.n_channels).per_channel
            self._set(latent_channels=self._latents_for(bits, data.n_channels, per_channel))
        elif budget is not None and budget.max_error is not None:
            self._set_error_bound(budget.max_error)
        torch.manual_seed(cfg.seed)
        self.model = self._build_model(data.n_channels)
        self._prepare_model(self.model, data)
        loss = RecordingLoss(data.n_channels, cfg.window, self.spike_sigma, cfg.loss)
        trainer = Trainer(
            cfg.train,
            checkpoint_dir=train_dir,
            metrics_path=None if train_dir is None else Path(train_dir) / "metrics.jsonl",
        )
        width = data.n_channels * cfg.window
        self.train_result = trainer.fit(
            self.model,
            train if isinstance(train, SourceWindows) else train.reshape(len(train), width),
            target_bits=None if bits is None else 0.9 * bits * width,
            resume=resume,
            stop_after=stop_after,
            val_data=val.reshape(len(val), width),
            distortion=loss,
        )
        self.model.eval()
        self._install_tables(self.config.latent_step)
        self._after_training(val)
        if budget is not None:
            self.budget = budget
        if bits is not None:
            assert budget is not None and budget.ratio is not None
            self._search_step(data, budget.ratio)
            self._after_training(val)
        _, stats = self.encode_with_stats(data)
        self.fit_report = {
            "ratio": stats.ratio,
            "target_ratio": None if budget is None else budget.ratio,
            "bits_per_sample": stats.bits_per_sample,
            "estimated_bits_per_sample": stats.estimated_bits_per_sample,
            "latent_channels": self.config.latent_channels,
            "latent_step": self.config.latent_step,
            "parameters": self.parameter_count(),
            **self.train_result.summary(),
        }
        log.info("%s fitted: %s", self.name, self.fit_report)
        return self

    def _set_error_bound(self, max_error: float) -> None:
        """Budget(max_error) for codecs that can guarantee one (the VAE overrides)."""

    def _install_tables(self, step: float) -> None:
        model = self._need_model()
        self._set(latent_step=float(step))
        model.entropy.set_step(float(step))

    def _search_step(self, data: Recording, target: float) -> float:
        """Finest latent step whose real container meets ``target`` (:func:`fit_ratio`); the
        encoder's output is memoized across the search, only the tables change."""
        self._memo = {}
        try:
            return fit_ratio(
                self,
                data,
                target,
                self._install_tables,
                Knob(*_STEP_RANGE),
                start=self.config.latent_step,
                what=f"{self.name} with {self.config.latent_channels} latent channels",
            )
        finally:
            self._memo = None

    # ---- continuing training (online adaptation) ------------------------------------------
    def training_windows(self, recordings: list[Recording]) -> np.ndarray:
        """The rows this codec's network trains on, from ``recordings``: normalized windows
        (n, channels · window) with the fitted normalization, so a network trained further on
        them keeps the bitstream's meaning (:mod:`ratecraft.online.finetune` uses this)."""
        self._need_model()
        if not recordings:
            return np.zeros((0, 1), np.float32)
        for rec in recordings:
            self.check_input(rec)
        wins = np.concatenate([self._windows(r.samples) for r in recordings])
        return wins.reshape(len(wins), -1)

    def refresh_tables(self) -> None:
        """Rebuild the integer coding tables after the network's weights changed, at the
        fitted latent step (call it after training the network further)."""
        self._memo = None  # encoder outputs of the old weights
        self._install_tables(self.config.latent_step)

    # ---- windows and the networks ---------------------------------------------------------
    def chunk_frames(self, rows: int) -> int:
        w = self.config.window
        return max(w, (DEFAULT_CHUNK_SAMPLES // max(rows, 1)) // w * w)

    def _windows(self, block: np.ndarray) -> np.ndarray:
        """Normalized windows (n, channels, window) of a chunk, edge-padded to whole windows."""
        assert self.mean is not None and self.std is not None
        w = self.config.window
        z = (block.astype(np.float64) - self.mean[:, None]) / self.std[:, None]
        pad = -block.shape[1] % w
        if pad:
            z = np.pad(z, ((0, 0), (0, pad)), mode="edge")
        wins = z.reshape(z.shape[0], -1, w).transpose(1, 0, 2)
        return np.ascontiguousarray(wins, dtype=np.float32)

    @torch.no_grad()
    def _analysis(self, wins: np.ndarray) -> torch.Tensor:
        if self._memo is not None:
            key = hashlib.blake2b(wins.tobytes(), digest_size=16).digest()
            if key not in self._memo:
                self._memo[key] = self._analysis_run(wins)
            return self._memo[key]
        return self._analysis_run(wins)

    def _analysis_run(self, wins: np.ndarray) -> torch.Tensor:
        model = self._need_model()
        x = torch.from_numpy(wins)
        b = self.config.batch_windows
        return torch.cat([model.analysis(x[s : s + b]) for s in range(0, len(x), b)])

    @torch.no_grad()
    def _synthesis(self, y_hat: torch.Tensor, n_windows: int) -> np.ndarray:
        """Windows from dequantized latents, in the same batches on every path."""
        model = self._need_model()
        per = model.n_channels if model.per_channel else 1
        b = self.config.batch_windows
        parts = [model.synthesis(y_hat[s * per : (s + b) * per]) for s in range(0, n_windows, b)]
        return torch.cat(parts).numpy()

    def _to_original(self, wins: np.ndarray, frames: int, dtype: np.dtype) -> np.ndarray:
        assert self.mean is not None and self.std is not None
        z = wins.transpose(1, 0, 2).reshape(wins.shape[1], -1)[:, :frames].astype(np.float64)
        x = z * self.std[:, None] + self.mean[:, None]
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            x = np.clip(np.rint(x), info.min, info.max)
        return x.astype(dtype)

    # ---- blocks --------------------------------------------------------------------------
    def encode_block(self, block: np.ndarray, ctx: BlockContext) -> BlockResult:
        model = self._need_model()
        wins = self._windows(block)
        with torch.no_grad():
            payload, est, y_int = model.entropy.compress(self._analysis(wins))
        extra, extra_est = b"", 0.0
        if self._has_extra():
            y_hat = model.entropy.dequantize(y_int)
            recon_wins = self._synthesis(y_hat, len(wins))
            recon = self._to_original(recon_wins, block.shape[1], block.dtype)
            extra, extra_est = self._encode_extra(block, recon)
        return BlockResult(pack_sections([payload, extra]), est + extra_est)

    def decode_block(self, payload: memoryview, ctx: BlockContext) -> np.ndarray:
        model = self._need_model()
        rows, frames, dtype = ctx.rows, ctx.frames, ctx.dtype
        if rows != model.n_channels:
            raise CorruptStreamError(f"stream has {rows} channels, model {model.n_channels}")
        body, extra = unpack_sections(payload, expect=2)
        n_win = -(-frames // self.config.window)
        n = n_win * (model.n_channels if model.per_channel else 1)
        with torch.no_grad():
            y_int = model.entropy.decompress(body, (n, model.latent_channels, model.steps))
            wins = self._synthesis(model.entropy.dequantize(y_int), n_win)
        return self._apply_extra(extra, self._to_original(wins, frames, dtype), ctx.codec_version)

    def reconstruct(self, data: Recording) -> Recording:
        """The model's own reconstruction without entropy coding (what decode must equal)."""
        self.check_input(data)
        model = self._need_model()
        step = self.chunk_frames(data.n_channels)
        parts = []
        for s in range(0, data.n_samples, step):
            block = np.ascontiguousarray(data.samples[:, s : s + step])
            wins = self._windows(block)
            with torch.no_grad():
                y_hat = model.entropy.dequantize(model.entropy.quantize(self._analysis(wins)))
                wins_hat = self._synthesis(y_hat, len(wins))
            recon = self._to_original(wins_hat, block.shape[1], block.dtype)
            if self._has_extra():
                extra = self._encode_extra(block, recon)[0]
                recon = self._apply_extra(extra, recon, self.version)
            parts.append(recon)
        return data.with_samples(np.concatenate(parts, axis=1) if parts else data.samples.copy())

    # ---- the trained state ---------------------------------------------------------------
    def stream_params(self) -> dict[str, Any]:
        return {}  # everything the decoder needs is in the model the header names

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters()) if self.model is not None else 0

    def model_state(self) -> ModelState | None:
        if self.model is None or self.mean is None or self.std is None:
            return None
        doc = {
            "layout": self.layout,
            "normalization": {"mean": self.mean.tolist(), "std": self.std.tolist()},
            "spike_sigma": None if self.spike_sigma is None else self.spike_sigma.tolist(),
            "parameters": self.parameter_count(),
            **self._extra_meta(),
        }
        return ModelState(dict(self.model.state_dict()), doc)

    def load_model_state(self, state: ModelState) -> None:
        doc = state.doc
        layout = dict(doc["layout"])
        n_channels = int(layout["n_channels"])
        mean = np.asarray(doc["normalization"]["mean"], dtype=np.float64)
        std = np.asarray(doc["normalization"]["std"], dtype=np.float64)
        if mean.shape != (n_channels,) or std.shape != (n_channels,):
            raise BadInputError(f"normalization does not match {n_channels} channels")
        sigma = doc.get("spike_sigma")
        torch.manual_seed(self.config.seed)
        model = load_weights(self._build_model(n_channels), state.tensors)
        if model.entropy.step != self.config.latent_step:
            raise BadInputError("entropy tables do not match the latent step")
        self.model, self.layout, self.mean, self.std = model, layout, mean, std
        self.spike_sigma = None if sigma is None else np.asarray(sigma, np.float64)
        self._load_extra(doc)

    @classmethod
    def migrate_legacy(cls, doc: dict[str, Any], directory: Path) -> ModelState | None:
        """A ratecraft 0.1 folder: tables were JSON beside the weights, not buffers in them."""
        old = ckpt.read_safetensors(Path(directory) / "weights.safetensors")
        if ckpt.tensors_digest(old) != doc.get("weights_sha256"):
            raise BadInputError("weights.safetensors does not match codec.json")
        codec = cls(doc["config"])
        torch.manual_seed(codec.config.seed)
        model = codec._build_model(int(doc["layout"]["n_channels"]))
        missing, unexpected = model.load_state_dict(old, strict=False)
        if unexpected or any("table_buffers" not in k and "step_buffer" not in k for k in missing):
            raise BadInputError("weights do not fit the model")
        tables = doc["entropy_tables"]
        model.entropy.install_tables_doc(tables)
        tables_sha = hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()
        state_doc = {
            k: doc.get(k) for k in ("layout", "normalization", "spike_sigma", "parameters")
        }
        state_doc.update({k: v for k, v in doc.items() if k in cls._extra_keys})
        state_doc["legacy_stream_params"] = {
            "weights_sha256": doc["weights_sha256"],
            "tables_sha256": tables_sha,
        }
        return ModelState(dict(model.state_dict()), state_doc)

    _extra_keys: ClassVar[tuple[str, ...]] = ()
