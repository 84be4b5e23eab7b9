"""Structured pruning through torch-pruning: the model really gets smaller.

``prune-structured`` removes whole output channels of Linear/Conv layers and everything that
depends on them (the next layer's inputs, BatchNorm/LayerNorm entries, residual partners), so
parameter count, file size and compute all fall. Modes:

- ``channels``: every Linear/Conv layer may lose ``ratio`` of its output channels;
- ``mlp``: only the MLP hidden width (``targets`` patterns, default ``*up``, ``*up_proj``,
  ``*gate_proj``, ``*fc1``, ``*c_fc``) shrinks;
- ``heads``: whole attention heads go from modules with ``q_proj``/``k_proj``/``v_proj``
  children and a ``num_heads`` attribute (multi-head, not grouped-query) or from
  ``nn.MultiheadAttention``; ``num_heads`` is updated after pruning.

Layers that produce the model's output are never pruned: they are found by walking the
autograd graph back from the output of one calibration batch to the first Linear/Conv on
each path. ``iterative_steps`` prunes gradually (linear ramp), with ``finetune_steps`` of task
loss on labelled calibration data after each step.
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

__all__ = ["StructuredConfig", "output_layers", "prune_structured"]

log = logging.getLogger(__name__)

_ROOTS = (nn.Linear, nn.Conv1d, nn.Conv2d)
_MLP_DEFAULT = ["*up", "*up_proj", "*gate_proj", "*fc1", "*c_fc"]


class StructuredConfig(StepConfig):
    """How much to remove, where, by which importance, and how gradually."""

    ratio: float = Field(default=0.5, ge=0.0, le=0.95)
    mode: Literal["channels", "mlp", "heads"] = "channels"
    targets: list[str] = Field(default_factory=list, description="fnmatch module-name patterns")
    importance: Literal["l1", "l2", "taylor", "random"] = "l2"
    global_pruning: bool = False
    iterative_steps: int = Field(default=1, ge=1, le=50)
    finetune_steps: int = Field(default=0, ge=0)
    lr: float = Field(default=1e-3, gt=0)
    round_to: int | None = Field(default=None, ge=1)
    seed: int = 0


def output_layers(model: nn.Module, calib: Calibration) -> list[nn.Module]:
    """The Linear/Conv layers whose outputs reach the model output without another such layer."""
    producer: dict[Any, nn.Module] = {}

    def hook(module: nn.Module, _args: Any, out: Any) -> None:
        if isinstance(out, torch.Tensor) and out.grad_fn is not None:
            producer[out.grad_fn] = module

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _ROOTS)]
    try:
        with torch.enable_grad():
            out = calib.run(model, calib.example)
    finally:
        for h in handles:
            h.remove()
    if out.grad_fn is None:
        raise BadInputError("the model output does not depend on any trainable weight")
    found: list[nn.Module] = []
    seen: set[Any] = set()
    stack = [out.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        if fn in producer:
            if producer[fn] not in found:
                found.append(producer[fn])
            continue
        stack.extend(nxt for nxt, _ in fn.next_functions)
    return found


def _importance(name: str) -> Any:
    import torch_pruning as tp

    if name == "l1":
        return tp.importance.MagnitudeImportance(p=1)
    if name == "l2":
        return tp.importance.MagnitudeImportance(p=2)
    if name == "taylor":
        return tp.importance.TaylorImportance()
    return tp.importance.RandomImportance()


def _attention_modules(model: nn.Module) -> list[nn.Module]:
    found = []
    for module in model.modules():
        if isinstance(module, nn.MultiheadAttention):
            found.append(module)
        elif all(hasattr(module, k) for k in ("q_proj", "k_proj", "v_proj", "num_heads")):
            if module.k_proj.out_features != module.q_proj.out_features:
                raise BadInputError("head pruning of grouped-query attention is not supported")
            found.append(module)
    if not found:
        raise BadInputError("mode 'heads' found no attention module (q_proj/k_proj/v_proj)")
    return found


def prune_structured(model: nn.Module, cfg: StructuredConfig, calib: Calibration) -> nn.Module:
    """Run torch-pruning on ``model`` as ``cfg`` says (in place) and return it."""
    import torch_pruning as tp

    torch.manual_seed(cfg.seed)
    if any(type(p.data) is not torch.Tensor for p in model.parameters()):
        raise BadInputError("weights are already quantized; prune before quantizing")
    outputs = output_layers(model, calib)
    roots = {n: m for n, m in model.named_modules() if isinstance(m, _ROOTS)}
    ignored: list[nn.Module] = list(outputs)
    kwargs: dict[str, Any] = {}
    if cfg.mode == "heads":
        attn = _attention_modules(model)
        num_heads: dict[nn.Module, int] = {}
        qkv: set[nn.Module] = set()
        for a in attn:
            if isinstance(a, nn.MultiheadAttention):
                num_heads[a] = a.num_heads
                continue
            for proj in (a.q_proj, a.k_proj, a.v_proj):
                num_heads[proj] = a.num_heads
                qkv.add(proj)
        ignored += [m for m in roots.values() if m not in qkv and m not in attn]
        kwargs = dict(
            num_heads=num_heads, prune_num_heads=True, prune_head_dims=False,
            head_pruning_ratio=cfg.ratio,
        )  # fmt: skip
        ratio = cfg.ratio  # torch-pruning reaches head pruning only with a non-zero ratio
    else:
        patterns = cfg.targets or (_MLP_DEFAULT if cfg.mode == "mlp" else [])
        if patterns:
            chosen = [n for n in roots if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
            if not chosen:
                raise BadInputError(f"no layer matches the targets {patterns}")
            ignored += [m for n, m in roots.items() if n not in chosen]
        ratio = cfg.ratio
    if cfg.importance == "taylor" and calib.targets is None:
        raise BadInputError("taylor importance needs calibration targets")
    pruner = tp.pruner.BasePruner(
        model,
        example_inputs=calib.example,
        importance=_importance(cfg.importance),
        pruning_ratio=ratio,
        global_pruning=cfg.global_pruning,
        iterative_steps=cfg.iterative_steps,
        ignored_layers=ignored,
        round_to=cfg.round_to,
        forward_fn=lambda m, x: calib.run(m, x),
        **kwargs,
    )
    before = sum(p.numel() for p in model.parameters())
    for step in range(cfg.iterative_steps):
        if cfg.importance == "taylor":
            _backward_once(model, calib)
        pruner.step()
        if cfg.mode == "heads":
            _sync_heads(model)
        if cfg.finetune_steps:
            _finetune(model, calib, cfg.finetune_steps, cfg.lr)
        log.info("prune-structured step %d/%d", step + 1, cfg.iterative_steps)
    after = sum(p.numel() for p in model.parameters())
    if after >= before and cfg.ratio > 0:
        raise BadInputError("structured pruning removed nothing (every layer ignored or too small)")
    log.info("prune-structured: %d -> %d parameters", before, after)
    return model.eval()


def _sync_heads(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.MultiheadAttention):
            continue  # torch-pruning updates it itself
        if all(hasattr(module, k) for k in ("q_proj", "num_heads", "head_dim")):
            module.num_heads = module.q_proj.out_features // module.head_dim
            for attr in ("num_attention_heads", "num_key_value_heads"):
                if hasattr(module, attr):
                    setattr(module, attr, module.num_heads)


def _backward_once(model: nn.Module, calib: Calibration) -> None:
    model.zero_grad()
    for x, y in calib.pairs():
        assert y is not None
        calib.task_loss(calib.run(model, x), y).backward()


def _finetune(model: nn.Module, calib: Calibration, steps: int, lr: float) -> None:
    if calib.targets is None:
        raise BadInputError("finetune_steps needs calibration targets")
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    pairs = list(calib.pairs())
    model.train()
    for i in range(steps):
        x, y = pairs[i % len(pairs)]
        assert y is not None
        opt.zero_grad()
        calib.task_loss(calib.run(model, x), y).backward()
        opt.step()
    model.eval()


@register_step("prune-structured")
class StructuredPruneStep(Step):
    """Remove whole channels / MLP width / attention heads (torch-pruning)."""

    role: ClassVar[str] = "prune"

    config_cls: ClassVar[type[StepConfig]] = StructuredConfig
    needs_extra: ClassVar[tuple[tuple[str, str], ...]] = (("torch_pruning", "shrink"),)
    needs_calibration: ClassVar[bool] = True

    def apply(self, model: nn.Module, config: Any, calib: Calibration | None) -> nn.Module:
        assert calib is not None
        return prune_structured(model, config, calib)

    def memory_estimate(self, model: nn.Module, config: Any, calib: Calibration | None) -> int:
        from ratecraft.shrink.steps import model_bytes

        data = calib.nbytes() if calib is not None else 0
        train = (
            3 * model_bytes(model) if config.finetune_steps or config.importance == "taylor" else 0
        )
        return model_bytes(model) + 8 * data + train
