"""Quantization steps: torchao weight-only / dynamic int8, int4–int1 per-group, optimum-quanto.

- ``int8-weight``: torchao ``Int8WeightOnlyConfig`` (per-row symmetric int8 weights, float math).
- ``int8-dynamic``: torchao ``Int8DynamicActivationInt8WeightConfig`` (activations quantized per
  row at run time, int8 matmul).
- ``intx-weight`` (and the presets ``int4-weight``, ``int2-weight``): torchao
  ``IntxWeightOnlyConfig`` with ``PerGroup(group_size)`` granularity, the CPU path for sub-byte
  weights (torchao's ``Int4WeightOnlyConfig`` needs a CUDA-only package). torchao keeps these
  codes unpacked, one per byte, in memory; the artifact writer packs them to their bit width.
- ``quanto``: optimum-quanto ``quantize`` + ``freeze`` (qint8/qint4/qint2 weights, optional
  qint8 activations calibrated on the calibration batches); unlike torchao it also covers
  ``Conv2d``, so convolutional models get integer weights everywhere.
- ``round-fp16``: round what is still float (biases, scales; or everything) to 16-bit precision;
  the artifact then stores those tensors in 16 bits without loss.

torchao quantizes ``nn.Linear`` layers only; ``skip`` takes module-name patterns
(``fnmatch``) to keep in float, ``only`` the patterns to quantize (the rest is left for a
later step: one ``intx-weight`` step per bit width is a mixed-precision recipe), and a layer
whose input width is not a multiple of the group size is kept in float with a log line.
Every step needs the ``shrink`` extra.
"""

from __future__ import annotations

import fnmatch
import logging
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from ratecraft.errors import BadInputError
from ratecraft.shrink.steps import Calibration, Step, StepConfig, register_step

__all__ = [
    "Int8DynamicStep",
    "Int8WeightStep",
    "IntxWeightConfig",
    "IntxWeightStep",
    "QuantizeConfig",
    "QuantoConfig",
    "QuantoStep",
    "skipped",
    "torchao_config",
]

log = logging.getLogger(__name__)

_SHRINK = "shrink"


class QuantizeConfig(StepConfig):
    """Options shared by the torchao steps."""

    skip: list[str] = Field(
        default_factory=list, description="fnmatch patterns of module names to keep in float"
    )
    only: list[str] = Field(
        default_factory=list,
        description="fnmatch patterns: when given, quantize only the modules they match "
        "(several steps with different bits make a mixed-precision recipe)",
    )
    min_features: int = Field(
        default=1, ge=1, description="keep Linear layers narrower than this (in or out) in float"
    )


class IntxWeightConfig(QuantizeConfig):
    """Sub-byte weight-only quantization on CPU: ``bits``-bit codes, one scale per group."""

    bits: int = Field(default=4, ge=1, le=8)
    group_size: int = Field(default=32, ge=2)
    mapping: Literal["symmetric", "asymmetric"] = "symmetric"


def skipped(name: str, patterns: list[str]) -> bool:
    """Whether module ``name`` matches one of the fnmatch ``patterns``."""
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _is_quantized(weight: torch.Tensor) -> bool:
    return type(weight) is not torch.Tensor and type(weight) is not nn.Parameter


def _tied_to_embedding(model: nn.Module) -> set[int]:
    """ids of weights an ``nn.Embedding`` shares (a tied output head)."""
    return {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}


def _linear_filter(
    cfg: QuantizeConfig, group_size: int | None = None, tied: set[int] | None = None
) -> Any:
    def keep(module: nn.Module, fqn: str) -> bool:
        if not isinstance(module, nn.Linear) or _is_quantized(module.weight):
            return False
        if tied and id(module.weight) in tied:
            # quantizing a tied head would untie it: a second copy of the embedding on disk
            log.info("%s stays float: it shares the embedding (use embedding-quant)", fqn)
            return False
        if skipped(fqn, cfg.skip) or (cfg.only and not skipped(fqn, cfg.only)):
            return False
        if min(module.in_features, module.out_features) < cfg.min_features:
            return False
        if group_size is not None and module.in_features % group_size:
            log.info(
                "%s stays float: %d inputs not a multiple of %d",
                fqn,
                module.in_features,
                group_size,
            )
            return False
        return True

    return keep


def torchao_config(kind: str, cfg: StepConfig | None = None) -> Any:
    """The torchao config object for ``kind`` ('int8-weight', 'int8-dynamic', 'intx-weight')."""
    from torchao.quantization import (
        Int8DynamicActivationInt8WeightConfig,
        Int8WeightOnlyConfig,
        IntxWeightOnlyConfig,
        MappingType,
    )
    from torchao.quantization.granularity import PerGroup

    if kind == "int8-weight":
        return Int8WeightOnlyConfig()
    if kind == "int8-dynamic":
        return Int8DynamicActivationInt8WeightConfig()
    if kind == "intx-weight":
        assert isinstance(cfg, IntxWeightConfig)
        mapping = MappingType.SYMMETRIC if cfg.mapping == "symmetric" else MappingType.ASYMMETRIC
        return IntxWeightOnlyConfig(
            weight_dtype=getattr(torch, f"int{cfg.bits}"),
            granularity=PerGroup(cfg.group_size),
            mapping_type=mapping,
        )
    raise BadInputError(f"unknown torchao quantization {kind!r}")


def _count_quantized(model: nn.Module) -> int:
    return sum(1 for m in model.modules() if isinstance(m, nn.Linear) and _is_quantized(m.weight))


class _TorchaoStep(Step):
    needs_extra: ClassVar[tuple[tuple[str, str], ...]] = (("torchao", _SHRINK),)
    role: ClassVar[str] = "quantize"
    kind: ClassVar[str] = ""

    def _group(self, config: Any) -> int | None:
        return None

    def apply(self, model: nn.Module, config: Any, calib: Calibration | None) -> nn.Module:
        from torchao.quantization import quantize_

        before = _count_quantized(model)
        with torch.no_grad():
            quantize_(
                model,
                torchao_config(self.kind, config),
                filter_fn=_linear_filter(config, self._group(config), _tied_to_embedding(model)),
            )
        done = _count_quantized(model) - before
        if done == 0:
            raise BadInputError(f"step {self.name}: no nn.Linear layer was left to quantize")
        log.info("%s: quantized %d Linear layers", self.name, done)
        return model.eval()


@register_step("int8-weight")
class Int8WeightStep(_TorchaoStep):
    """int8 weight-only (torchao): 4x smaller Linear weights, float activations."""

    config_cls: ClassVar[type[StepConfig]] = QuantizeConfig
    kind: ClassVar[str] = "int8-weight"


@register_step("int8-dynamic")
class Int8DynamicStep(_TorchaoStep):
    """int8 weights and dynamically quantized int8 activations (torchao)."""

    config_cls: ClassVar[type[StepConfig]] = QuantizeConfig
    kind: ClassVar[str] = "int8-dynamic"


@register_step("intx-weight")
class IntxWeightStep(_TorchaoStep):
    """1–8-bit per-group weight-only quantization on CPU (torchao ``IntxWeightOnlyConfig``)."""

    config_cls: ClassVar[type[StepConfig]] = IntxWeightConfig
    kind: ClassVar[str] = "intx-weight"

    def _group(self, config: Any) -> int | None:
        return int(config.group_size)


class Int4Config(IntxWeightConfig):
    bits: int = Field(default=4, ge=1, le=8)


class Int2Config(IntxWeightConfig):
    bits: int = Field(default=2, ge=1, le=8)


@register_step("int4-weight")
class Int4WeightStep(IntxWeightStep):
    """``intx-weight`` with 4-bit codes (group 32 by default)."""

    config_cls: ClassVar[type[StepConfig]] = Int4Config


@register_step("int2-weight")
class Int2WeightStep(IntxWeightStep):
    """``intx-weight`` with 2-bit codes (group 32 by default)."""

    config_cls: ClassVar[type[StepConfig]] = Int2Config


class QuantoConfig(StepConfig):
    """optimum-quanto: weight type, optional int8 activations, modules to leave alone."""

    weights: Literal["qint8", "qint4", "qint2"] = "qint8"
    activations: Literal["none", "qint8"] = "none"
    skip: list[str] = Field(default_factory=list)


@register_step("quanto")
class QuantoStep(Step):
    """optimum-quanto quantization (Linear and Conv2d); activations calibrated when asked."""

    config_cls: ClassVar[type[StepConfig]] = QuantoConfig
    needs_extra: ClassVar[tuple[tuple[str, str], ...]] = (("optimum.quanto", _SHRINK),)
    role: ClassVar[str] = "quantize"

    def apply(self, model: nn.Module, config: Any, calib: Calibration | None) -> nn.Module:
        from optimum import quanto

        cfg: QuantoConfig = config
        if cfg.activations != "none" and calib is None:
            raise BadInputError("quanto with quantized activations needs calibration data")
        exclude = [name for name, _ in model.named_modules() if name and skipped(name, cfg.skip)]
        weights = getattr(quanto, cfg.weights)
        activations = None if cfg.activations == "none" else getattr(quanto, cfg.activations)
        quanto.quantize(model, weights=weights, activations=activations, exclude=exclude or None)
        if activations is not None and calib is not None:
            model.eval()
            with torch.no_grad(), quanto.Calibration():
                for batch in calib.inputs:
                    calib.run(model, batch)
        quanto.freeze(model)
        if not quanto.quantization_map(model):
            raise BadInputError("step quanto: the model has no Linear/Conv layer to quantize")
        return model.eval()


class RoundHalfConfig(StepConfig):
    """Which float tensors to round to 16-bit precision (their dtype stays float32)."""

    scope: Literal["rest", "all"] = "rest"
    format: Literal["float16", "bfloat16"] = "float16"


def _round_half(t: torch.Tensor, half: torch.dtype) -> None:
    if t.dtype != torch.float32 or not t.numel():
        return
    fmt = half
    if half == torch.float16 and float(t.abs().max()) > torch.finfo(torch.float16).max:
        fmt = torch.bfloat16  # float16 would overflow: keep the range, lose mantissa instead
    t.copy_(t.to(fmt).float())


@register_step("round-fp16")
class RoundHalfStep(Step):
    """Round float tensors to float16 (or bfloat16) precision, keeping float32 compute.

    ``scope: rest`` touches what quantization left in float — biases, norms, the quantizers'
    scales and any layer kept float — while ``all`` also rounds float weight matrices (an
    fp16-weights strategy on its own). The artifact writer stores such tensors in 16 bits
    losslessly, so the file shrinks while the reloaded model computes exactly the same.
    """

    config_cls: ClassVar[type[StepConfig]] = RoundHalfConfig

    def apply(self, model: nn.Module, config: Any, calib: Calibration | None) -> nn.Module:
        cfg: RoundHalfConfig = config
        half = getattr(torch, cfg.format)
        weights = {
            id(m.weight)
            for m in model.modules()
            if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Embedding)
        }
        with torch.no_grad():
            for t in list(model.parameters()) + list(model.buffers()):
                if _is_quantized(t):
                    names = [*getattr(t, "tensor_data_names", []), "_scale", "_shift"]
                    for name in names:
                        inner = getattr(t, name, None)
                        if isinstance(inner, torch.Tensor) and type(inner) is torch.Tensor:
                            _round_half(inner, half)
                elif cfg.scope == "all" or id(t) not in weights:
                    _round_half(t.data, half)
        return model
