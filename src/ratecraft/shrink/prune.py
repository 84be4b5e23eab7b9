"""Unstructured and N:M pruning: magnitude, Wanda and SparseGPT, with a gradual schedule.

- ``prune-magnitude``: zero the smallest ``|W|`` (per layer or one global threshold); covers
  ``Linear`` and, with ``conv: true``, convolutions.
- ``prune-wanda`` (Sun et al., 2023): score ``|W_ij| · ‖X_j‖₂`` with input-feature norms from
  the calibration batches, compared within each output row; no weight update.
- ``prune-sparsegpt`` (Frantar & Alistarh, 2023): per layer, the calibration Hessian
  ``H = 2XᵀX/n`` (dampened), then column by column the OBS choice of what to drop with the
  error spread over the not-yet-pruned columns (blocks of ``blocksize`` columns). Hessians are
  gathered in one calibration pass over the model as it is before the step.

``pattern: "2:4"`` keeps N of every M consecutive input weights (the hardware-friendly pattern)
instead of a free sparsity. ``schedule_steps: k`` prunes gradually along the cubic schedule
``s_t = s·(1 − (1 − t/k)³)`` and, with ``finetune_steps`` and labelled calibration data,
fine-tunes between steps with the pruned weights held at zero. Pruned weights are exact zeros
in ordinary tensors; the artifact writer stores them as bitmask + values, so the file shrinks.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from ratecraft.errors import BadInputError
from ratecraft.shrink.quantize import skipped
from ratecraft.shrink.steps import Calibration, Step, StepConfig, register_step

__all__ = ["PruneConfig", "SparseGPTConfig", "cubic_schedule", "prunable_layers"]

log = logging.getLogger(__name__)


class PruneConfig(StepConfig):
    """Target sparsity (or an N:M pattern), layers to skip, and the gradual schedule."""

    sparsity: float = Field(default=0.5, ge=0.0, lt=1.0)
    pattern: str | None = Field(default=None, description="'N:M', e.g. '2:4'")
    scope: Literal["layer", "global"] = "layer"
    conv: bool = False
    skip: list[str] = Field(default_factory=list)
    schedule_steps: int = Field(default=1, ge=1, le=100)
    finetune_steps: int = Field(default=0, ge=0)
    lr: float = Field(default=1e-3, gt=0)

    @model_validator(mode="after")
    def _check(self) -> PruneConfig:
        if self.pattern is not None:
            n, m = self.nm()
            self.sparsity = 1.0 - n / m
            if self.schedule_steps != 1:
                raise ValueError("an N:M pattern is applied in one step (schedule_steps: 1)")
        return self

    def nm(self) -> tuple[int, int]:
        """``(N, M)`` of the pattern (keep N of every M)."""
        try:
            n, m = (int(v) for v in str(self.pattern).split(":"))
        except ValueError:
            raise ValueError(f"pattern must look like '2:4', got {self.pattern!r}") from None
        if not 0 < n < m <= 64:
            raise ValueError(f"pattern {self.pattern}: need 0 < N < M ≤ 64")
        return n, m


class SparseGPTConfig(PruneConfig):
    blocksize: int = Field(default=128, ge=1)
    damp: float = Field(default=0.01, gt=0.0, le=1.0)


def cubic_schedule(final: float, steps: int) -> list[float]:
    """Sparsity after each of ``steps`` gradual steps (Zhu & Gupta's cubic ramp)."""
    return [final * (1.0 - (1.0 - t / steps) ** 3) for t in range(1, steps + 1)]


def prunable_layers(model: nn.Module, cfg: PruneConfig) -> dict[str, nn.Module]:
    """Linear (and with ``conv`` Conv1d/2d) layers not skipped, with plain float weights."""
    kinds: tuple[type[nn.Module], ...] = (nn.Linear,)
    if cfg.conv:
        kinds += (nn.Conv1d, nn.Conv2d)
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, kinds) and not skipped(name, cfg.skip):
            if (
                type(module.weight.data) is not torch.Tensor
                or not module.weight.is_floating_point()
            ):
                raise BadInputError(
                    f"{name}: weights are already quantized; prune before quantizing"
                )
            out[name] = module
    if not out:
        raise BadInputError("no layer to prune (all skipped, or no Linear/Conv layer)")
    return out


def _smallest(scores: Tensor, fraction: float, dim: int | None) -> Tensor:
    """Boolean mask of the ``fraction`` smallest scores (whole tensor or per row of ``dim``)."""
    if dim is None:
        k = round(fraction * scores.numel())
        mask = torch.zeros(scores.numel(), dtype=torch.bool)
        if k:
            mask[torch.argsort(scores.flatten())[:k]] = True
        return mask.view_as(scores)
    k = round(fraction * scores.shape[dim])
    mask = torch.zeros_like(scores, dtype=torch.bool)
    if k:
        mask.scatter_(dim, torch.argsort(scores, dim=dim)[..., :k], True)
    return mask


def _nm_mask(scores: Tensor, n: int, m: int) -> Tensor:
    """Prune mask keeping the ``n`` largest of every ``m`` consecutive inputs per row."""
    rows = scores.reshape(scores.shape[0], -1)
    groups = rows.reshape(rows.shape[0], -1, m)
    drop = torch.argsort(groups, dim=-1)[..., : m - n]
    mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, drop, True)
    return mask.reshape(scores.shape)


def _input_stats(
    model: nn.Module, layers: dict[str, nn.Module], calib: Calibration, hessian: bool
) -> dict[str, Tensor]:
    """Per layer: Σx² per input feature (Wanda) or the mean 2·xxᵀ Hessian (SparseGPT)."""
    stats: dict[str, Tensor] = {}
    counts: dict[str, int] = {}

    def hook(name: str) -> Any:
        def fn(module: nn.Module, args: tuple[Tensor, ...], _out: Any) -> None:
            x = args[0].detach().float().reshape(-1, args[0].shape[-1])
            n = x.shape[0]
            if hessian:
                old = counts.get(name, 0)
                h = stats.get(name, torch.zeros(x.shape[1], x.shape[1]))
                h.mul_(old / (old + n)).add_(x.t() @ x, alpha=2.0 / (old + n))
                stats[name] = h
            else:
                stats[name] = stats.get(name, torch.zeros(x.shape[1])) + (x**2).sum(0)
            counts[name] = counts.get(name, 0) + n

        return fn

    handles = [m.register_forward_hook(hook(name)) for name, m in layers.items()]
    try:
        model.eval()
        with torch.no_grad():
            for batch in calib.inputs:
                calib.run(model, batch)
    finally:
        for h in handles:
            h.remove()
    missing = [name for name in layers if name not in stats]
    if missing:
        raise BadInputError(f"calibration never reached layer(s) {missing[:3]}")
    return stats


class _PruneStep(Step):
    role: ClassVar[str] = "prune"
    config_cls: ClassVar[type[StepConfig]] = PruneConfig
    row_wise: ClassVar[bool] = False

    def scores(
        self, model: nn.Module, layers: dict[str, nn.Module], cfg: Any, calib: Calibration | None
    ) -> dict[str, Tensor]:
        return {name: m.weight.detach().abs() for name, m in layers.items()}

    def prune_once(
        self, model: nn.Module, layers: dict[str, nn.Module], target: float, cfg: Any,
        calib: Calibration | None,
    ) -> dict[str, Tensor]:  # fmt: skip
        """Zero weights to reach ``target`` sparsity; returns the prune masks (True = zero)."""
        scores = self.scores(model, layers, cfg, calib)
        masks: dict[str, Tensor] = {}
        if cfg.pattern is not None:
            n, m = cfg.nm()
            for name, s in scores.items():
                if s.reshape(s.shape[0], -1).shape[1] % m:
                    log.info("%s kept dense: %d inputs not a multiple of %d", name, s.shape[1], m)
                    continue
                masks[name] = _nm_mask(s, n, m)
        elif cfg.scope == "global" and not self.row_wise:
            flat = torch.cat([s.flatten() for s in scores.values()])
            k = round(target * flat.numel())
            thresh = torch.kthvalue(flat, k).values if k else flat.min() - 1
            chosen = {name: s <= thresh for name, s in scores.items()}
            masks.update(chosen)
        else:
            dim = 1 if self.row_wise else None
            for name, s in scores.items():
                rows = s.reshape(s.shape[0], -1)
                masks[name] = _smallest(rows, target, dim).reshape(s.shape)
        with torch.no_grad():
            for name, mask in masks.items():
                layers[name].weight.masked_fill_(mask, 0.0)
        return masks

    def apply(self, model: nn.Module, config: Any, calib: Calibration | None) -> nn.Module:
        cfg: PruneConfig = config
        if cfg.finetune_steps and (calib is None or calib.targets is None):
            raise BadInputError("finetune_steps needs calibration data with targets")
        layers = prunable_layers(model, cfg)
        steps = cubic_schedule(cfg.sparsity, cfg.schedule_steps)
        for t, target in enumerate(steps):
            masks = self.prune_once(model, layers, target, cfg, calib)
            if cfg.finetune_steps:
                assert calib is not None
                _finetune(model, masks, layers, calib, cfg.finetune_steps, cfg.lr)
            log.info("%s: step %d/%d, target sparsity %.3f", self.name, t + 1, len(steps), target)
        return model.eval()

    def memory_estimate(self, model: nn.Module, config: Any, calib: Calibration | None) -> int:
        from ratecraft.shrink.steps import model_bytes

        data = calib.nbytes() if calib is not None else 0
        extra = 2 * model_bytes(model) if config.finetune_steps else 0
        return model_bytes(model) // 4 + 4 * data + extra  # masks + activations (+ Adam)


def _finetune(
    model: nn.Module, masks: dict[str, Tensor], layers: dict[str, nn.Module],
    calib: Calibration, steps: int, lr: float,
) -> None:  # fmt: skip
    """A few task-loss steps on the calibration data, re-zeroing pruned weights after each."""
    params = [p for p in model.parameters() if p.requires_grad and p.is_floating_point()]
    opt = torch.optim.Adam(params, lr=lr)
    model.train()
    pairs = list(calib.pairs())
    for i in range(steps):
        x, y = pairs[i % len(pairs)]
        assert y is not None
        opt.zero_grad()
        calib.task_loss(calib.run(model, x), y).backward()
        opt.step()
        with torch.no_grad():
            for name, mask in masks.items():
                layers[name].weight.masked_fill_(mask, 0.0)
    model.eval()


@register_step("prune-magnitude")
class MagnitudePruneStep(_PruneStep):
    """Zero the smallest-magnitude weights (per layer or global)."""


@register_step("prune-wanda")
class WandaPruneStep(_PruneStep):
    """Wanda: |W| times the input-feature norm, pruned within each output row."""

    needs_calibration: ClassVar[bool] = True
    row_wise: ClassVar[bool] = True

    def scores(
        self, model: nn.Module, layers: dict[str, nn.Module], cfg: Any, calib: Calibration | None
    ) -> dict[str, Tensor]:
        assert calib is not None
        linear = {k: v for k, v in layers.items() if isinstance(v, nn.Linear)}
        if len(linear) != len(layers):
            raise BadInputError("prune-wanda covers Linear layers only (set conv: false)")
        norms = _input_stats(model, linear, calib, hessian=False)
        return {k: m.weight.detach().abs() * norms[k].sqrt()[None, :] for k, m in linear.items()}


@register_step("prune-sparsegpt")
class SparseGPTPruneStep(_PruneStep):
    """SparseGPT: OBS pruning with the calibration Hessian and error compensation."""

    config_cls: ClassVar[type[StepConfig]] = SparseGPTConfig
    needs_calibration: ClassVar[bool] = True

    def prune_once(
        self, model: nn.Module, layers: dict[str, nn.Module], target: float, cfg: Any,
        calib: Calibration | None,
    ) -> dict[str, Tensor]:  # fmt: skip
        assert calib is not None
        if any(not isinstance(m, nn.Linear) for m in layers.values()):
            raise BadInputError("prune-sparsegpt covers Linear layers only (set conv: false)")
        hessians = _input_stats(model, layers, calib, hessian=True)
        n, m = cfg.nm() if cfg.pattern is not None else (0, 0)
        masks = {}
        for name, layer in layers.items():
            if m and layer.in_features % m:
                log.info(
                    "%s kept dense: %d inputs not a multiple of %d", name, layer.in_features, m
                )
                continue
            w, mask = sparsegpt_layer(
                layer.weight.detach(), hessians.pop(name), target, n, m, cfg.blocksize, cfg.damp
            )
            with torch.no_grad():
                layer.weight.copy_(w.to(layer.weight.dtype))
            masks[name] = mask
        return masks

    def memory_estimate(self, model: nn.Module, config: Any, calib: Calibration | None) -> int:
        hess = sum(4 * m.in_features**2 for m in model.modules() if isinstance(m, nn.Linear))
        return super().memory_estimate(model, config, calib) + hess


def sparsegpt_layer(
    weight: Tensor, hessian: Tensor, sparsity: float, prune_n: int, prune_m: int,
    blocksize: int, damp: float,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """One layer of SparseGPT: returns the updated weight and its prune mask (True = zero)."""
    w = weight.clone().float()
    h = hessian.clone()
    cols = w.shape[1]
    dead = torch.diag(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    h += damp * torch.mean(torch.diag(h)) * torch.eye(cols)
    try:
        hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    except RuntimeError:
        raise BadInputError("calibration Hessian is singular; use more calibration data") from None
    full_mask = torch.zeros_like(w, dtype=torch.bool)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        w1 = w[:, i1:i2].clone()
        q1 = torch.zeros_like(w1)
        err1 = torch.zeros_like(w1)
        hinv1 = hinv[i1:i2, i1:i2]
        diag = torch.diag(hinv1)
        if prune_n == 0:
            mask1 = _smallest(w1**2 / diag[None, :] ** 2, sparsity, None)
        else:
            mask1 = torch.zeros_like(w1, dtype=torch.bool)
        for i in range(i2 - i1):
            col = w1[:, i]
            if prune_n and i % prune_m == 0:
                tmp = w1[:, i : i + prune_m] ** 2 / diag[i : i + prune_m][None, :] ** 2
                drop = torch.topk(tmp, prune_m - prune_n, dim=1, largest=False)[1]
                mask1.scatter_(1, i + drop, True)
            q = col.clone()
            q[mask1[:, i]] = 0.0
            q1[:, i] = q
            e = (col - q) / hinv1[i, i]
            w1[:, i:] -= e[:, None] @ hinv1[i, i:][None, :]
            err1[:, i] = e
        w[:, i1:i2] = q1
        full_mask[:, i1:i2] = mask1
        w[:, i2:] -= err1 @ hinv[i1:i2, i2:]
    w[full_mask] = 0.0
    return w, full_mask
