"""The shrink-step contract: a named, registered transformation ``apply(model, config, calib)``.

A step takes a PyTorch module, a validated pydantic config and optional calibration data, and
returns the shrunk module (often the same object, changed in place). Steps are registered by
name with :func:`register_step` and looked up with :func:`get_step`; a recipe
(:mod:`ratecraft.shrink.recipe`) is an ordered list of ``{step, config}`` entries.

A step that needs an optional library lists it in ``needs_extra`` as ``(module, extra)`` pairs;
:meth:`Step.require` imports each module and turns a failed import into a
:class:`~ratecraft.errors.MissingExtraError` naming the extra, so a missing library is an install
hint and never a silent fallback.
"""

from __future__ import annotations

import copy
import importlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from ratecraft.config import validated
from ratecraft.errors import BadInputError, MissingExtraError
from ratecraft.plugins import Registry

__all__ = [
    "Calibration",
    "Step",
    "StepConfig",
    "available_steps",
    "frozen_copy",
    "get_step",
    "model_bytes",
    "register_step",
]

log = logging.getLogger(__name__)

Batch = Any  # a tensor, a tuple of tensors or a dict of tensors (Hugging Face keyword inputs)


class StepConfig(BaseModel):
    """Base of every step config: unknown keys are refused, so a typo is an error."""

    model_config = ConfigDict(extra="forbid")


def _call(model: nn.Module, batch: Batch) -> Tensor:
    """Run ``model`` on one batch: a dict is passed as keywords, a tuple/list as positions."""
    if isinstance(batch, dict):
        out = model(**batch)
    elif isinstance(batch, tuple | list):
        out = model(*batch)
    else:
        out = model(batch)
    if hasattr(out, "logits"):  # Hugging Face ModelOutput
        out = out.logits
    if isinstance(out, tuple | list):
        out = out[0]
    return out


@dataclass
class Calibration:
    """Data a step may learn from: input batches, optional targets, how to run and score them.

    ``forward(model, batch)`` returns the model's output tensor (default: call the model with the
    batch and take ``.logits`` when present); ``loss(output, target)`` is the task loss used by
    distillation and LoRA recovery (default: cross-entropy); ``teacher`` is the model to distill
    from when a step should not use its own input model as the teacher.
    """

    inputs: list[Batch]
    targets: list[Tensor] | None = None
    forward: Callable[[nn.Module, Batch], Tensor] | None = None
    loss: Callable[[Tensor, Tensor], Tensor] | None = None
    teacher: nn.Module | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.inputs:
            raise BadInputError("calibration data holds no batches")
        if self.targets is not None and len(self.targets) != len(self.inputs):
            raise BadInputError(
                f"calibration has {len(self.inputs)} input batches but {len(self.targets)} targets"
            )

    @classmethod
    def from_tensors(
        cls, x: Tensor, y: Tensor | None = None, *, batch_size: int = 64, **kwargs: Any
    ) -> Calibration:
        """Split ``x`` (and targets ``y``) into batches of ``batch_size`` along the first axis."""
        if batch_size < 1:
            raise BadInputError("batch_size must be ≥ 1")
        if y is not None and len(y) != len(x):
            raise BadInputError(f"{len(x)} calibration inputs but {len(y)} targets")
        xs = list(torch.split(x, batch_size))
        ys = None if y is None else list(torch.split(y, batch_size))
        return cls(inputs=xs, targets=ys, **kwargs)

    def run(self, model: nn.Module, batch: Batch) -> Tensor:
        """The model's output on one batch."""
        return self.forward(model, batch) if self.forward is not None else _call(model, batch)

    def task_loss(self, output: Tensor, target: Tensor) -> Tensor:
        """The task loss of one batch (cross-entropy unless the calibration names another)."""
        if self.loss is not None:
            return self.loss(output, target)
        return nn.functional.cross_entropy(output.reshape(-1, output.shape[-1]), target.flatten())

    def pairs(self) -> Iterator[tuple[Batch, Tensor | None]]:
        """``(inputs, targets)`` per batch; targets are None when the calibration has none."""
        for i, batch in enumerate(self.inputs):
            yield batch, None if self.targets is None else self.targets[i]

    @property
    def example(self) -> Batch:
        """The first batch (graph tracing, shape checks)."""
        return self.inputs[0]

    def nbytes(self) -> int:
        """Bytes held by the calibration inputs (memory pre-flight)."""
        return sum(_batch_bytes(b) for b in self.inputs)


def _batch_bytes(batch: Batch) -> int:
    if isinstance(batch, Tensor):
        return batch.numel() * batch.element_size()
    if isinstance(batch, dict):
        return sum(_batch_bytes(v) for v in batch.values())
    if isinstance(batch, tuple | list):
        return sum(_batch_bytes(v) for v in batch)
    return 0


def model_bytes(model: nn.Module) -> int:
    """Bytes of a module's parameters and buffers as held in memory (shared tensors once)."""
    seen: set[int] = set()
    total = 0
    for t in list(model.parameters()) + list(model.buffers()):
        key = id(t)
        if key in seen:
            continue
        seen.add(key)
        total += t.numel() * t.element_size()
    return total


class Step(ABC):
    """One shrink transformation. Subclasses set ``name``, ``config_cls`` and ``apply``."""

    name: ClassVar[str] = ""
    config_cls: ClassVar[type[StepConfig]] = StepConfig
    needs_extra: ClassVar[tuple[tuple[str, str], ...]] = ()  # (importable module, extra name)
    needs_calibration: ClassVar[bool] = False
    needs_targets: ClassVar[bool] = False
    # what the step does to the weights, for the stacking rules of ratecraft.shrink.stacking:
    # "quantize" (puts weights on a grid), "prune"/"train" (changes float weights), "embedding"
    # (quantizes the embedding only), "keep" (works on any model: round-fp16, lora)
    role: ClassVar[str] = "keep"
    terminal: ClassVar[bool] = False  # the result runs in another runtime; nothing may follow

    def parse(self, config: StepConfig | dict[str, Any] | None) -> StepConfig:
        """Validate ``config`` into this step's config model (one-line error on bad values)."""
        if isinstance(config, self.config_cls):
            return config
        if isinstance(config, StepConfig):
            config = config.model_dump()
        return validated(self.config_cls, config or {}, f"step {self.name}")

    def require(self) -> None:
        """Import every optional module this step needs, or raise the install hint."""
        for module, extra in self.needs_extra:
            try:
                importlib.import_module(module)
            except ImportError:
                raise MissingExtraError(module.split(".")[0], extra) from None

    def __call__(
        self,
        model: nn.Module,
        config: StepConfig | dict[str, Any] | None = None,
        calib: Calibration | None = None,
    ) -> nn.Module:
        """Check the extra and the calibration data, then :meth:`apply` the step."""
        cfg = self.parse(config)
        self.require()
        if self.needs_calibration and calib is None:
            raise BadInputError(f"step {self.name} needs calibration data")
        if self.needs_targets and (calib is None or calib.targets is None):
            raise BadInputError(f"step {self.name} needs calibration targets (labels)")
        return self.apply(model, cfg, calib)

    @abstractmethod
    def apply(self, model: nn.Module, config: Any, calib: Calibration | None) -> nn.Module:
        """Shrink ``model`` as ``config`` says; may change it in place and returns it."""

    def memory_estimate(self, model: nn.Module, config: Any, calib: Calibration | None) -> int:
        """Bytes this step needs on top of the model itself (default: one copy + the data).

        Training steps override this (optimizer state, teacher); the pre-flight in
        :mod:`ratecraft.shrink.preflight` sums it with the model's own bytes.
        """
        data = calib.nbytes() if calib is not None else 0
        return model_bytes(model) + 4 * data


STEPS: Registry[type[Step]] = Registry("shrink step")
for _module in ("quantize", "prune", "structured", "distill", "lora"):
    STEPS.provide(f"ratecraft.shrink.{_module}")
STEPS.provide("ratecraft.shrink.lm", extra="llm")  # language-model steps
STEPS.provide("ratecraft.shrink.onnxrt", extra="export")  # ONNX Runtime deployment step


def register_step(name: str) -> Callable[[type[Step]], type[Step]]:
    """Class decorator: register a :class:`Step` subclass under ``name``."""
    return STEPS.register(name)


def available_steps() -> list[str]:
    """Names of every registered step, sorted."""
    return STEPS.names()


def get_step(name: str) -> Step:
    """A fresh instance of the step registered as ``name`` (BadInputError when unknown)."""
    return STEPS.get(name)()


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy in eval mode with gradients off (a teacher or a reference model)."""
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher
