"""LoRA / QLoRA-style recovery: fine-tune low-rank adapters after shrinking, then merge back.

After quantization or pruning a model has lost some quality; ``lora`` freezes it, adds
rank-``r`` adapters (peft) to its Linear layers, trains only those on the calibration batches
(task loss, plus a KD term against ``calib.teacher`` when given), then merges them into the
weights.

QLoRA-style: Linear layers whose weights are torchao-quantized are trained on their
*dequantized* weights — exactly what the quantized model computes, frozen — and after merging
are rounded back **onto the quantized model's own grid**: the same scales and zero points
(AutoRound's tuned ones, or RTN's), only the integer codes may move. Re-quantizing from scratch
would choose a new grid and undo a calibrated quantizer's work (it made SmolLM2's perplexity
53% worse); on the own grid the result stays the same quantized model, of the same size, plus
what the adapters could move across rounding boundaries. Pruned zeros are kept: after merging,
the weights are masked to their previous sparsity pattern (``keep_sparsity``). Works on any
``nn.Module`` with Linear layers, including Hugging Face models; :func:`attach_lora`,
:func:`train_lora` and :func:`merge_lora` are the three parts for callers that want them
separately.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from ratecraft.errors import BadInputError, MissingExtraError
from ratecraft.shrink.quantize import skipped
from ratecraft.shrink.steps import Calibration, Step, StepConfig, model_bytes, register_step

__all__ = ["LoraStepConfig", "attach_lora", "merge_lora", "onto_grid", "train_lora"]

log = logging.getLogger(__name__)


class LoraStepConfig(StepConfig):
    """Adapter shape, which layers, and training length."""

    r: int = Field(default=8, ge=1)
    alpha: float = Field(default=16.0, gt=0)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    targets: list[str] = Field(
        default_factory=list, description="fnmatch patterns of Linear names; empty: all Linear"
    )
    skip: list[str] = Field(default_factory=list)
    steps: int = Field(default=100, ge=0)
    lr: float = Field(default=1e-3, gt=0)
    kd_weight: float = Field(default=0.0, ge=0.0)
    temperature: float = Field(default=2.0, gt=0)
    keep_sparsity: bool = True
    seed: int = 0


def _grid_of(weight: torch.Tensor) -> torch.Tensor | None:
    """The quantized weight itself when its grid can be kept (None for a plain float weight)."""
    name = type(weight).__name__
    if name in ("Tensor", "Parameter"):
        return None
    if name in ("Int8Tensor", "IntxUnpackedToInt8Tensor"):
        return weight
    raise BadInputError(f"LoRA recovery over {name} weights is not supported; add lora earlier")


def onto_grid(grid: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``weight`` rounded onto the scales and zero points of the torchao tensor ``grid``.

    The result is a tensor of ``grid``'s type with the same scales, zero points, block size and
    activation handling; only the integer codes change.
    """
    w = weight.detach().float()
    name = type(grid).__name__
    if name == "IntxUnpackedToInt8Tensor":
        from torchao.quantization.quantize_.workflows.intx.intx_unpacked_to_int8_tensor import (
            IntxUnpackedToInt8Tensor,
        )

        group = int(grid.block_size[-1])
        scale = grid.scale.float().repeat_interleave(group, dim=1)
        zero = grid.zero_point.float().repeat_interleave(group, dim=1)
        bits = int(str(grid.target_dtype).removeprefix("torch.int"))
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        q = torch.round(w / scale + zero).clamp(lo, hi).to(torch.int8)
        return IntxUnpackedToInt8Tensor(
            qdata=q,
            scale=grid.scale,
            zero_point=grid.zero_point,
            target_dtype=grid.target_dtype,
            block_size=tuple(grid.block_size),
            dtype=grid.dtype,
            activation_quantization=grid.activation_quantization,
        )
    if name == "Int8Tensor":
        from torchao.quantization.quantize_.workflows.int8.int8_tensor import Int8Tensor

        zero = 0.0 if grid.zero_point is None else grid.zero_point.float()
        q = torch.round(w / grid.scale.float() + zero).clamp(-128, 127).to(torch.int8)
        return Int8Tensor(
            q,
            grid.scale,
            list(grid.block_size),
            grid.dtype,
            zero_point=grid.zero_point,
            act_quant_kwargs=grid.act_quant_kwargs,
        )
    raise BadInputError(f"cannot keep the grid of a {name} weight")


def _targets(model: nn.Module, cfg: LoraStepConfig) -> list[str]:
    names = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear) or skipped(name, cfg.skip):
            continue
        if cfg.targets and not skipped(name, cfg.targets):
            continue
        names.append(name)
    if not names:
        raise BadInputError("lora found no Linear layer to adapt")
    return names


def attach_lora(model: nn.Module, cfg: LoraStepConfig) -> tuple[nn.Module, dict[str, Any]]:
    """Dequantize quantized targets, record masks, wrap with peft adapters.

    Returns the peft model and the bookkeeping :func:`merge_lora` needs.
    """
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise MissingExtraError("peft", "shrink") from None
    if any(type(m).__module__.startswith("optimum.quanto") for m in model.modules()):
        raise BadInputError("LoRA over optimum-quanto weights is not supported; add lora earlier")
    torch.manual_seed(cfg.seed)
    names = _targets(model, cfg)
    modules = dict(model.named_modules())
    grids: dict[str, torch.Tensor] = {}
    masks: dict[str, torch.Tensor] = {}
    for name in names:
        layer = modules[name]
        grid = _grid_of(layer.weight)
        if grid is not None:
            grids[name] = grid
            layer.weight = nn.Parameter(layer.weight.dequantize().detach().clone())
        w = layer.weight.detach()
        if cfg.keep_sparsity and bool((w == 0).any()):
            masks[name] = w == 0
    pattern = "^(" + "|".join(re.escape(n) for n in names) + ")$"
    config = LoraConfig(
        r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=pattern
    )
    peft_model = get_peft_model(model, config)
    return peft_model, {"grids": grids, "masks": masks}


def train_lora(peft_model: nn.Module, calib: Calibration, cfg: LoraStepConfig) -> list[float]:
    """Train only the adapters for ``cfg.steps`` batches; returns the loss of every step."""
    params = [p for p in peft_model.parameters() if p.requires_grad]
    if not params:
        raise BadInputError("lora has no trainable adapter parameters")
    opt = torch.optim.AdamW(params, lr=cfg.lr)
    pairs = list(calib.pairs())
    if calib.targets is None and (calib.teacher is None or cfg.kd_weight == 0):
        raise BadInputError("lora needs calibration targets, or a teacher with kd_weight > 0")
    if calib.teacher is not None:
        calib.teacher.eval()
    history = []
    peft_model.train()
    for i in range(cfg.steps):
        x, y = pairs[i % len(pairs)]
        out = calib.run(peft_model, x)
        loss = out.new_zeros(())
        if y is not None:
            loss = loss + calib.task_loss(out, y)
        if calib.teacher is not None and cfg.kd_weight > 0:
            from ratecraft.shrink.distill import kd_loss

            with torch.no_grad():
                soft = calib.run(calib.teacher, x)
            loss = loss + cfg.kd_weight * kd_loss(out, soft, cfg.temperature)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(float(loss.detach()))
    peft_model.eval()
    return history


def merge_lora(peft_model: nn.Module, state: dict[str, Any]) -> nn.Module:
    """Merge the adapters, re-apply sparsity masks, round back onto each layer's own grid."""
    model = peft_model.merge_and_unload()
    modules = dict(model.named_modules())
    with torch.no_grad():
        for name, mask in state["masks"].items():
            modules[name].weight.masked_fill_(mask, 0.0)
    for p in model.parameters():
        p.requires_grad_(False)
    for name, grid in state["grids"].items():
        layer = modules[name]
        layer.weight = nn.Parameter(onto_grid(grid, layer.weight), requires_grad=False)
    return model.eval()


@register_step("lora")
class LoraStep(Step):
    """LoRA recovery fine-tuning with peft, merged back (onto the quantized grid if any)."""

    config_cls: ClassVar[type[StepConfig]] = LoraStepConfig
    needs_extra: ClassVar[tuple[tuple[str, str], ...]] = (("peft", "shrink"),)
    needs_calibration: ClassVar[bool] = True

    def apply(self, model: nn.Module, config: Any, calib: Calibration | None) -> nn.Module:
        assert calib is not None
        peft_model, state = attach_lora(model, config)
        history = train_lora(peft_model, calib, config)
        if history:
            log.info("lora: loss %.4f -> %.4f over %d steps", history[0], history[-1], len(history))
        return merge_lora(peft_model, state)

    def memory_estimate(self, model: nn.Module, config: Any, calib: Calibration | None) -> int:
        data = calib.nbytes() if calib is not None else 0
        linear = sum(
            4 * m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear)
        )
        return linear + model_bytes(model) // 2 + 16 * data  # dequantized copies, adapters, data
