"""LoRA / QLoRA-style recovery: fine-tune low-rank adapters after shrinking, then merge back.

After quantization or pruning a model has lost some quality; ``lora`` freezes it, adds rank-``r``
adapters (peft) to its Linear layers, trains only those on the calibration batches (task loss,
plus a KD term against ``calib.teacher`` when given), then merges them into the weights.

QLoRA-style: Linear layers whose weights are torchao-quantized are trained on their
*dequantized* weights — exactly what the quantized model computes, frozen — and after merging
are quantized again with the same torchao scheme, so the result stays a quantized model of the
same size. Pruned zeros are kept: after merging, the weights are masked to their previous
sparsity pattern (``keep_sparsity``). Works on any ``nn.Module`` with Linear layers, including
Hugging Face models; :func:`attach_lora`, :func:`train_lora` and :func:`merge_lora` are the
three parts for callers that want them separately.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from ratecraft.errors import BadInputError, MissingExtraError
from ratecraft.shrink.quantize import IntxWeightConfig, QuantizeConfig, skipped, torchao_config
from ratecraft.shrink.steps import Calibration, Step, StepConfig, model_bytes, register_step

__all__ = ["LoraStepConfig", "attach_lora", "merge_lora", "train_lora"]

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


def _requant_kind(weight: torch.Tensor) -> tuple[str, StepConfig] | None:
    """The torchao scheme that produced ``weight`` (None for a plain float weight)."""
    name = type(weight).__name__
    if name in ("Tensor", "Parameter"):
        return None
    if name == "Int8Tensor":
        kind = (
            "int8-weight" if getattr(weight, "act_quant_kwargs", None) is None else "int8-dynamic"
        )
        return kind, QuantizeConfig()
    if name == "IntxUnpackedToInt8Tensor":
        bits = int(str(weight.target_dtype).removeprefix("torch.int"))
        group = int(weight.block_size[-1])
        zero = getattr(weight, "zero_point", None)
        mapping = "asymmetric" if zero is not None and bool((zero != 0).any()) else "symmetric"
        return "intx-weight", IntxWeightConfig(bits=bits, group_size=group, mapping=mapping)
    raise BadInputError(f"LoRA recovery over {name} weights is not supported; add lora earlier")


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
    requant: dict[str, tuple[str, StepConfig]] = {}
    masks: dict[str, torch.Tensor] = {}
    for name in names:
        layer = modules[name]
        kind = _requant_kind(layer.weight)
        if kind is not None:
            requant[name] = kind
            layer.weight = nn.Parameter(layer.weight.dequantize().detach().clone())
        w = layer.weight.detach()
        if cfg.keep_sparsity and bool((w == 0).any()):
            masks[name] = w == 0
    pattern = "^(" + "|".join(re.escape(n) for n in names) + ")$"
    config = LoraConfig(
        r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=pattern
    )
    peft_model = get_peft_model(model, config)
    return peft_model, {"requant": requant, "masks": masks}


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
    """Merge the adapters into the weights, re-apply sparsity masks, re-quantize."""
    model = peft_model.merge_and_unload()
    modules = dict(model.named_modules())
    with torch.no_grad():
        for name, mask in state["masks"].items():
            modules[name].weight.masked_fill_(mask, 0.0)
    for p in model.parameters():
        p.requires_grad_(False)
    if state["requant"]:
        from torchao.quantization import quantize_

        for name, (kind, cfg) in state["requant"].items():
            quantize_(model, torchao_config(kind, cfg), filter_fn=lambda _m, fqn, n=name: fqn == n)
    return model.eval()


@register_step("lora")
class LoraStep(Step):
    """LoRA recovery fine-tuning with peft, merged back (re-quantized when it was quantized)."""

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
