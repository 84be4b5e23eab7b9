"""One small trainer for every learned table codec: rate–distortion loss, resumable, seeded.

The loss is ``λ·D + R + aux`` where ``D`` is the (optionally per-feature weighted) MSE in
normalized units, ``R`` the rate in bits per feature value (``−Σ log2 p`` of the latents per
sample, divided by the number of features, so λ means the same on narrow and wide tables) and
``aux`` whatever the model adds (the VQ commitment loss). A model plugs in by implementing
:class:`RDModel` (``train_terms(x) -> (x_hat, rate_bits_per_sample, aux)``).

AdamW, cosine or plateau learning-rate schedule, gradient-norm clipping, early stopping on a
validation split (rows, seeded) with the best weights restored. Batch order in epoch ``e`` comes
from a generator seeded by ``(seed, e)`` and the global torch RNG (noise, k-means, dead-code
resampling) is saved in every checkpoint, so a run resumed from its checkpoint ends with
exactly the weights of an uninterrupted run. With ``target_bits`` (rate control) λ is adapted
after every epoch by dual ascent, ``λ ← λ·exp(−gain·(R/target − 1))``; the loss then changes
meaning from epoch to epoch, so early stopping on the loss is off and the last weights are kept.

**Training cost.** ``sample_budget`` sets the number of epochs from the table size: the run sees
about that many training rows in all (``ceil(budget / training rows)`` epochs, never more than
``epochs``), so a 20,000-row table trains a few epochs and a 150-row one many. ``rd_stopping``
stops early on the model's *real* rate–distortion on the validation rows, for models that
measure it cheaply (:meth:`RDModel.rd_point`: the reconstruction through the coding path and its
bits per sample), also under a rate target: the score ``log2 D + 2·R/d`` (distortion ``D``,
``R`` bits per sample over ``d`` features) is what the high-rate bound ``D ∝ 2^(−2R/d)`` keeps
constant along a rate–distortion curve, so a lower score is a better trade at any rate and
epochs at different λ compare. Every run reports its training samples per second.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
import torch
from pydantic import Field
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from ratecraft import progress
from ratecraft.config import CheckedModel, NeutralFields
from ratecraft.errors import BadInputError
from ratecraft.train.checkpoint import (
    flatten_optimizer,
    load_checkpoint,
    save_checkpoint,
    unflatten_optimizer,
)
from ratecraft.train.tracking import Trackers, Tracking

__all__ = ["Distortion", "RDModel", "TrainConfig", "TrainResult", "Trainer", "split_rows"]

Distortion = Callable[[Tensor, Tensor], Tensor]
"""``distortion(x_hat, x) -> scalar``: replaces the weighted MSE (e.g. a spectral or spike term)."""

log = logging.getLogger(__name__)
_CKPT = "trainer_state"
_TASK = "training"  # the progress task of a fit
_RD_MIN_GAIN = 1e-3  # rd_stopping: a score drop (log2 units) below this is no gain


class RDModel(Protocol):
    """What the trainer needs from a model (besides being an ``nn.Module``).

    A model may also define ``rd_point(x) -> (reconstruction, bits per sample)``: what its
    coding path gives for rows ``x`` (hard quantization, the rate its entropy coder would
    spend), used by ``rd_stopping``.
    """

    def train_terms(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(reconstruction, rate in bits per sample (scalar), auxiliary loss (scalar))."""
        ...


class TrainConfig(NeutralFields, CheckedModel):
    """Trainer options; the defaults fit a 2000 × 60 table in seconds on two CPU cores.

    ``sample_budget`` and ``rd_stopping`` came later: at their neutral values (None, False) they
    are left out of saved configs, so older models keep their content hashes.
    """

    neutral: ClassVar[dict[str, Any]] = {"sample_budget": None, "rd_stopping": False}

    epochs: int = Field(default=60, ge=1, le=100_000, description="passes over the training data")
    batch_size: int = Field(default=128, ge=1, description="rows per optimizer step")
    lr: float = Field(default=3e-3, gt=0.0, allow_inf_nan=False, description="AdamW learning rate")
    weight_decay: float = Field(
        default=1e-4, ge=0.0, allow_inf_nan=False, description="AdamW weight decay"
    )
    schedule: Literal["cosine", "plateau", "none"] = Field(
        "cosine", description="learning-rate schedule"
    )
    clip_norm: float | None = Field(
        default=1.0, gt=0.0, description="gradient-norm clip (null: none)"
    )
    patience: int = Field(
        default=12, ge=1, description="epochs without validation gain before stopping early"
    )
    min_delta: float = Field(
        default=1e-5, ge=0.0, description="validation-loss drop that counts as a gain"
    )
    val_fraction: float = Field(
        default=0.1, ge=0.0, lt=1.0, description="rows held out for validation (seeded)"
    )
    lmbda: float = Field(
        default=50.0,
        gt=0.0,
        allow_inf_nan=False,
        description="λ of the loss λ·D + R (adapted each epoch under a rate target)",
    )
    rate_gain: float = Field(
        default=0.5, gt=0.0, le=5.0, description="how fast λ follows a rate target"
    )
    seed: int = Field(default=0, ge=0, description="seed of batch order and initialization")
    workers: int = Field(
        default=0,
        ge=0,
        le=64,
        # how a fit runs, not what it fits: left out of saved configs and of the model's
        # content hash (the same batches reach the model with any number of workers)
        exclude=True,
        description="DataLoader worker processes reading windows of recordings on disk",
    )
    tracking: Tracking = Field(
        "auto", description="metrics besides metrics.jsonl: auto, none, tensorboard or mlflow"
    )
    sample_budget: int | None = Field(
        default=None,
        ge=1,
        le=10**12,
        description="training rows to see in all: epochs = ceil(budget / rows), at most epochs "
        "(null: always epochs)",
    )
    rd_stopping: bool = Field(
        False,
        description="stop early on the real rate-distortion of the validation rows (models "
        "with rd_point), also under a rate target",
    )

    def epochs_for(self, n_train: int) -> int:
        """Epochs a run over ``n_train`` training rows makes (the sample budget, capped)."""
        if self.sample_budget is None:
            return self.epochs
        return max(1, min(self.epochs, math.ceil(self.sample_budget / max(n_train, 1))))


@dataclass
class TrainResult:
    """What a run did: epochs run, the best epoch and its validation loss, the history."""

    epochs_run: int
    best_epoch: int
    best_val_loss: float | None
    stopped_early: bool
    lmbda: float
    history: list[dict[str, Any]] = field(default_factory=list)
    planned_epochs: int | None = None  # what the sample budget (or ``epochs``) allowed
    samples_seen: int = 0  # training rows through optimizer steps, this call and resumed ones
    train_seconds: float = 0.0  # time in the epochs (steps, validation, checkpoints)

    @property
    def samples_per_s(self) -> float | None:
        """Training rows per second of the epochs run (None before any)."""
        return self.samples_seen / self.train_seconds if self.train_seconds > 0 else None

    def summary(self) -> dict[str, Any]:
        """The fields a codec's ``fit_report`` carries about its training run: the epoch whose
        weights were kept and its validation loss (the best epoch's under early stopping, else
        the last one's; None without validation data), the epochs planned, training samples
        seen and samples per second, and the kept epoch's real rate–distortion when measured."""
        kept = self.history[self.best_epoch - 1] if 0 < self.best_epoch <= len(self.history) else {}
        val = self.best_val_loss if self.best_val_loss is not None else kept.get("val_loss")
        out = {
            "epochs": self.epochs_run,
            "planned_epochs": self.planned_epochs,
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "val_loss": val,
            "lmbda": self.lmbda,
            "train_samples": self.samples_seen,
            "train_seconds": self.train_seconds,
            "train_samples_per_s": self.samples_per_s,
        }
        if "val_rd_score" in kept:
            out["val_rd"] = {k: kept[k] for k in ("val_rd_score", "val_rd_mse", "val_rd_bits")}
        return out


def split_rows(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, validation) row indices; no validation rows for tiny tables."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = round(n * val_fraction) if n >= 10 else 0
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


class Trainer:
    """Trains an :class:`RDModel` on a samples × features array of normalized values."""

    def __init__(
        self,
        config: TrainConfig | dict[str, Any] | None = None,
        *,
        checkpoint_dir: str | Path | None = None,
        metrics_path: str | Path | None = None,
    ) -> None:
        self.config = (
            config if isinstance(config, TrainConfig) else TrainConfig.model_validate(config or {})
        )
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.metrics_path = Path(metrics_path) if metrics_path is not None else None
        self._distortion: Distortion | None = None
        self._trackers: Trackers | None = None

    # ---- pieces ----------------------------------------------------------------------------
    def _terms(
        self, terms: Callable[[Tensor], Any], x: Tensor, weights: Tensor, lmbda: float
    ) -> tuple[Tensor, dict[str, float]]:
        x_hat, rate, aux = terms(x)
        if self._distortion is not None:
            distortion = self._distortion(x_hat, x)
        else:
            distortion = (((x_hat - x) ** 2) * weights).mean()
        loss = lmbda * distortion + rate / x.shape[1] + aux
        stats = {
            "loss": float(loss.detach()),
            "distortion": float(distortion.detach()),
            "rate_bits": float(rate.detach()),
            "aux": float(aux.detach()),
        }
        return loss, stats

    def _evaluate(
        self, model: nn.Module, x: Tensor, weights: Tensor, lmbda: float
    ) -> dict[str, float]:
        model.eval()
        with torch.no_grad():
            return self._terms(model.train_terms, x, weights, lmbda)[1]  # type: ignore[arg-type]

    def _rd_score(self, model: nn.Module, x: Tensor, weights: Tensor) -> dict[str, float]:
        """The real rate–distortion of rows ``x`` through the model's coding path."""
        model.eval()
        with torch.no_grad():
            x_hat, bits = model.rd_point(x)  # type: ignore[operator]
            if self._distortion is not None:
                mse = float(self._distortion(x_hat, x))
            else:
                mse = float((((x_hat - x) ** 2) * weights).mean())
        bits = float(bits)
        score = math.log2(max(mse, 1e-30)) + 2.0 * bits / x.shape[1]
        return {"val_rd_score": score, "val_rd_mse": mse, "val_rd_bits": bits}

    def _scheduler(self, opt: torch.optim.Optimizer, epochs: int) -> Any:
        cfg = self.config
        if cfg.schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
        if cfg.schedule == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=3)
        return None

    # ---- the loop ------------------------------------------------------------------------
    def fit(
        self,
        model: nn.Module,
        data: np.ndarray | Dataset[Tensor],
        *,
        feature_weights: np.ndarray | None = None,
        target_bits: float | None = None,
        resume: bool = False,
        stop_after: int | None = None,
        val_data: np.ndarray | None = None,
        distortion: Distortion | None = None,
    ) -> TrainResult:
        """Train ``model`` on ``data``; ``stop_after`` ends this call after that many epochs.

        ``resume=True`` continues from the checkpoint in ``checkpoint_dir`` (an error when there
        is none). ``feature_weights`` (one per feature, > 0) weight the distortion.
        ``val_data`` (same width as ``data``) is the validation set instead of a seeded split of
        ``data`` — e.g. the last stretch of a recording, so validation is later in time than
        training. ``distortion(x_hat, x)`` replaces the weighted MSE.

        ``data`` may also be a ``torch.utils.data.Dataset`` of flat rows (windows read from
        recordings on disk): batches then come from a ``DataLoader`` with ``config.workers``
        processes, in the same seeded order, and ``val_data`` is required. Under
        ``torch.distributed`` (``torchrun``; gloo on CPU) each process takes an equal share of
        every global batch and gradients are averaged by ``DistributedDataParallel`` weighted
        by share, so the processes train one model with the global batch of a single process;
        rank 0 alone writes checkpoints, metrics and progress.
        """
        cfg = self.config
        streamed = isinstance(data, Dataset)
        if streamed:
            assert isinstance(data, Dataset)
            if val_data is None:
                raise BadInputError("training windows read from disk need validation data")
            n = len(data)  # type: ignore[arg-type]
            if n < 2:
                raise BadInputError("training data must hold at least 2 windows")
            d = int(data[0].numel())
            x_all = np.zeros((0, d), np.float32)
        else:
            x_all = np.asarray(data, dtype=np.float32)
            if x_all.ndim != 2 or x_all.shape[0] < 2 or not np.isfinite(x_all).all():
                raise BadInputError("training data must be finite samples × features, ≥ 2 samples")
            n, d = x_all.shape
        w = np.ones(d) if feature_weights is None else np.asarray(feature_weights, np.float64)
        if w.shape != (d,) or not (np.isfinite(w).all() and (w > 0).all()):
            raise BadInputError(f"feature_weights must be {d} positive numbers")
        weights = torch.as_tensor(w / w.mean(), dtype=torch.float32)
        if target_bits is not None and not (math.isfinite(target_bits) and target_bits > 0):
            raise BadInputError(f"target_bits must be > 0, got {target_bits}")
        self._distortion = distortion
        if val_data is not None:
            v_all = np.asarray(val_data, dtype=np.float32)
            if v_all.ndim != 2 or v_all.shape[1] != d or not np.isfinite(v_all).all():
                raise BadInputError(f"validation data must be finite rows of {d} features")
            x_train: Tensor | Dataset[Tensor] = data if streamed else torch.from_numpy(x_all)
            x_val = torch.from_numpy(v_all) if v_all.shape[0] else None
        else:
            train_idx, val_idx = split_rows(n, cfg.val_fraction, cfg.seed)
            x_train = torch.from_numpy(x_all[train_idx])
            x_val = torch.from_numpy(x_all[val_idx]) if val_idx.size else None
        n_train = n if streamed else len(x_train)  # type: ignore[arg-type]
        total = cfg.epochs_for(n_train)
        rd = cfg.rd_stopping and x_val is not None and callable(getattr(model, "rd_point", None))
        early = x_val is not None and (target_bits is None or rd)
        rank, world = _world()
        terms = _terms_of(model, world)
        batches_of = _BatchSource(x_train, cfg.workers)

        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = self._scheduler(opt, total)
        state: dict[str, Any] = {
            "epoch": 0,
            "best_val": None,
            "best_epoch": 0,
            "bad_epochs": 0,
            "lmbda": cfg.lmbda,
            "history": [],
            "samples": 0,
            "seconds": 0.0,
        }
        best_weights: dict[str, Tensor] | None = None
        if resume:
            best_weights = self._restore(model, opt, sched, state)
        else:
            torch.manual_seed(cfg.seed)
        stopped = False
        run_epochs = 0
        run_dir = self.metrics_path.parent if self.metrics_path is not None else None
        self._trackers = Trackers(
            run_dir if rank == 0 else None, cfg.tracking if rank == 0 else "none"
        )
        progress.report(_TASK, state["epoch"], total, unit="epoch")
        while state["epoch"] < total:
            if stop_after is not None and run_epochs >= stop_after:
                break
            epoch = state["epoch"]
            start = time.perf_counter()
            model.train()
            gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
            order = torch.randperm(n_train, generator=gen)
            sums: dict[str, float] = {}
            batches = 0
            shares = [
                (share, len(share) / len(full))
                for s in range(0, n_train, cfg.batch_size)
                if len(full := order[s : s + cfg.batch_size]) >= world
                for share in [full.tensor_split(world)[rank]]
            ]
            for batch, (idx, weight) in zip(
                batches_of.epoch([idx for idx, _ in shares]), shares, strict=True
            ):
                state["samples"] = state.get("samples", 0) + len(idx)
                loss, stats = self._terms(terms, batch, weights, state["lmbda"])
                opt.zero_grad(set_to_none=True)
                (loss * (weight * world)).backward()  # DDP averages: the global batch's mean
                if cfg.clip_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
                opt.step()
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + v * weight
                batches += 1
            sums = _summed(sums, world)
            record: dict[str, Any] = {
                "epoch": epoch + 1,
                "lr": opt.param_groups[0]["lr"],
                "lmbda": state["lmbda"],
            }
            record.update({f"train_{k}": v / batches for k, v in sums.items()})
            val = self._evaluate(model, x_val, weights, state["lmbda"]) if x_val is not None else {}
            record.update({f"val_{k}": v for k, v in val.items()})
            if rd:
                assert x_val is not None
                record.update(self._rd_score(model, x_val, weights))
            if sched is not None:
                if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    sched.step(val.get("loss", record["train_loss"]))
                else:
                    sched.step()
            if target_bits is not None:
                ratio = record["train_rate_bits"] / target_bits
                state["lmbda"] *= math.exp(-cfg.rate_gain * max(-1.0, min(1.0, ratio - 1.0)))
            state["epoch"] = epoch + 1
            run_epochs += 1
            if early:
                score = record["val_rd_score"] if rd else val["loss"]
                gain = _RD_MIN_GAIN if rd else cfg.min_delta
                if state["best_val"] is None or score < state["best_val"] - gain:
                    state.update(best_val=score, best_epoch=epoch + 1, bad_epochs=0)
                    best_weights = copy.deepcopy(model.state_dict())
                else:
                    state["bad_epochs"] += 1
            record["seconds"] = time.perf_counter() - start
            record["samples_per_s"] = len(order) / max(record["seconds"], 1e-9)
            state["seconds"] = state.get("seconds", 0.0) + record["seconds"]
            state["history"].append(record)
            if rank == 0:
                self._log(record)
                self._report(record, d, total)
            if early and state["bad_epochs"] >= cfg.patience:
                stopped = True
                state["epoch"] = total  # a resumed run must not continue past the stop
            if rank == 0:
                self._save(model, opt, sched, state, best_weights)
            if stopped:
                break
        batches_of.close()
        self._trackers.close()
        progress.finish(_TASK)
        finished = state["epoch"] >= total
        if finished and early and best_weights is not None:
            model.load_state_dict(best_weights)
        model.eval()
        return TrainResult(
            epochs_run=len(state["history"]),
            best_epoch=state["best_epoch"] if early else len(state["history"]),
            best_val_loss=None if rd else state["best_val"],
            stopped_early=stopped or (finished and len(state["history"]) < total),
            lmbda=state["lmbda"],
            history=list(state["history"]),
            planned_epochs=total,
            samples_seen=int(state.get("samples", 0)),
            train_seconds=float(state.get("seconds", 0.0)),
        )

    # ---- persistence ---------------------------------------------------------------------
    def _report(self, record: dict[str, Any], n_features: int, total: int) -> None:
        """The epoch's progress: losses and the rate in bits per feature value."""
        progress.report(
            _TASK,
            record["epoch"],
            total,
            unit="epoch",
            loss=record["train_loss"],
            val_loss=record.get("val_loss"),
            bits_per_value=record["train_rate_bits"] / max(n_features, 1),
        )

    def _log(self, record: dict[str, Any]) -> None:
        log.debug("epoch %d: %s", record["epoch"], record)
        if self.metrics_path is not None:
            self.metrics_path.parent.mkdir(parents=True, exist_ok=True)
            with self.metrics_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
        if self._trackers is not None:
            self._trackers.log(record)

    def _save(
        self,
        model: nn.Module,
        opt: torch.optim.Optimizer,
        sched: Any,
        state: dict[str, Any],
        best: dict[str, Tensor] | None,
    ) -> None:
        if self.checkpoint_dir is None:
            return
        opt_tensors, opt_doc = flatten_optimizer(opt.state_dict())
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        tensors.update(opt_tensors)
        if best is not None:
            tensors.update({f"best.{k}": v for k, v in best.items()})
        tensors["rng.torch"] = torch.get_rng_state()
        meta = {
            "state": state,
            "optimizer": opt_doc,
            "scheduler": sched.state_dict() if sched is not None else None,
            "config": self.config.model_dump(mode="json"),
        }
        save_checkpoint(self.checkpoint_dir, _CKPT, tensors, meta)

    def _restore(
        self, model: nn.Module, opt: torch.optim.Optimizer, sched: Any, state: dict[str, Any]
    ) -> dict[str, Tensor] | None:
        if self.checkpoint_dir is None:
            raise BadInputError("resume needs a checkpoint_dir")
        tensors, meta = load_checkpoint(self.checkpoint_dir, _CKPT)
        if meta.get("config") != self.config.model_dump(mode="json"):
            raise BadInputError("checkpoint was written with a different training config")
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        opt.load_state_dict(unflatten_optimizer(tensors, meta["optimizer"]))
        if sched is not None and meta.get("scheduler") is not None:
            sched.load_state_dict(meta["scheduler"])
        torch.set_rng_state(tensors["rng.torch"])
        state.update(meta["state"])
        best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
        return best or None


# ---- batches, one process or several ------------------------------------------------------
def _world() -> tuple[int, int]:
    """``(rank, world size)`` of an initialized ``torch.distributed`` group, else ``(0, 1)``."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _TrainTerms(nn.Module):
    """A model's ``train_terms`` as its ``forward``: what DistributedDataParallel wraps (its
    gradient hooks run only through ``forward``)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.model.train_terms(x)  # type: ignore[operator,no-any-return]


def _terms_of(model: nn.Module, world: int) -> Callable[[Tensor], Any]:
    """What a training step calls: the model's ``train_terms``, or its DDP wrapper."""
    if world == 1:
        return model.train_terms  # type: ignore[return-value]
    return nn.parallel.DistributedDataParallel(_TrainTerms(model), find_unused_parameters=True)


def _summed(sums: dict[str, float], world: int) -> dict[str, float]:
    """Per-batch statistics summed over the processes (each holds its share's weighted part)."""
    if world == 1 or not sums:
        return sums
    keys = sorted(sums)
    t = torch.tensor([sums[k] for k in keys], dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return dict(zip(keys, t.tolist(), strict=True))


class _EpochBatches:
    """The batch sampler of a persistent DataLoader: this epoch's index lists."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Any:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class _BatchSource:
    """Batches of rows by index: slices of an in-memory tensor, or a DataLoader over a dataset
    (worker processes kept for the whole fit)."""

    def __init__(self, rows: Tensor | Dataset[Tensor], workers: int) -> None:
        self.rows = rows
        self.loader: DataLoader[Tensor] | None = None
        if not isinstance(rows, Tensor):
            self.sampler = _EpochBatches()
            self.loader = DataLoader(
                rows,
                batch_sampler=self.sampler,
                num_workers=workers,
                persistent_workers=workers > 0,
                # its own generator: the loader's worker seeds never draw from the global RNG,
                # so the model's noise is the same with any number of workers
                generator=torch.Generator().manual_seed(0),
            )

    def epoch(self, batches: list[Tensor]) -> Any:
        if self.loader is None:
            assert isinstance(self.rows, Tensor)
            return (self.rows[idx] for idx in batches)
        self.sampler.batches = [idx.tolist() for idx in batches]
        return iter(self.loader)

    def close(self) -> None:
        self.loader = None  # its workers end with it
