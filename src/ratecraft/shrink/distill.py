"""Knowledge distillation: a student derived from the teacher learns its softened outputs.

The ``distill`` step takes the model it is given as the teacher (or ``calib.teacher``), derives
a student from it — fewer blocks (drop indices of the longest ``ModuleList``/``Sequential`` of
identical blocks, or of the container named by ``layers_attr``) and/or narrower (``width``:
the fraction of channels torch-pruning keeps, weights inherited from the teacher) — and trains
it on the calibration batches with

    loss = alpha · T² · KL(softmax(teacher/T) ‖ softmax(student/T)) + (1 − alpha) · task loss

(``kind: features`` uses the mean squared error between outputs instead of the KL term, for
regression models such as codec encoders). ``stages > 1`` narrows progressively, distilling
after each stage; with ``teacher_assistant`` each stage learns from the previous stage's
student rather than from the original teacher.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from ratecraft.errors import BadInputError
from ratecraft.shrink.steps import (
    Calibration,
    Step,
    StepConfig,
    frozen_copy,
    model_bytes,
    register_step,
)

__all__ = ["DistillConfig", "derive_student", "distill_train", "kd_loss"]

log = logging.getLogger(__name__)


class DistillConfig(StepConfig):
    """Student shape, loss mix, and training length."""

    temperature: float = Field(default=4.0, gt=0)
    alpha: float = Field(default=0.7, ge=0.0, le=1.0)
    kind: Literal["logits", "features"] = "logits"
    epochs: int = Field(default=10, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    width: float = Field(default=1.0, gt=0.0, le=1.0)
    drop_layers: list[int] = Field(default_factory=list)
    layers_attr: str | None = None
    stages: int = Field(default=1, ge=1, le=10)
    teacher_assistant: bool = False
    seed: int = 0


def kd_loss(student: Tensor, teacher: Tensor, temperature: float, kind: str = "logits") -> Tensor:
    """Temperature-scaled KL divergence of the softened distributions (× T²), or output MSE."""
    if kind == "features":
        return nn.functional.mse_loss(student, teacher)
    t = temperature
    s = nn.functional.log_softmax(student.reshape(-1, student.shape[-1]) / t, dim=-1)
    p = nn.functional.log_softmax(teacher.reshape(-1, teacher.shape[-1]) / t, dim=-1)
    return nn.functional.kl_div(s, p, log_target=True, reduction="batchmean") * t * t


def _layer_list(model: nn.Module, attr: str | None) -> nn.Module:
    if attr is not None:
        try:
            found = model.get_submodule(attr)
        except AttributeError:
            raise BadInputError(f"model has no sub-module {attr!r}") from None
        if not isinstance(found, nn.ModuleList | nn.Sequential):
            raise BadInputError(f"{attr} is not a ModuleList/Sequential")
        return found
    best: nn.Module | None = None
    for module in model.modules():
        if isinstance(module, nn.ModuleList | nn.Sequential) and len(module) > 1:
            kinds = {type(c) for c in module}
            if len(kinds) == 1 and (best is None or len(module) > len(best)):
                best = module
    if best is None:
        raise BadInputError("no list of identical blocks to drop layers from; set layers_attr")
    return best


def derive_student(
    teacher: nn.Module, cfg: DistillConfig, calib: Calibration, width: float | None = None
) -> nn.Module:
    """A copy of ``teacher`` with ``drop_layers`` removed and ``width`` of its channels."""
    student = frozen_copy(teacher).train()
    for p in student.parameters():
        p.requires_grad_(True)
    if cfg.drop_layers:
        blocks = _layer_list(student, cfg.layers_attr)
        n = len(blocks)
        bad = [i for i in cfg.drop_layers if not -n <= i < n]
        if bad or len(set(i % n for i in cfg.drop_layers)) >= n:
            raise BadInputError(f"drop_layers {cfg.drop_layers} invalid for {n} blocks")
        for i in sorted({i % n for i in cfg.drop_layers}, reverse=True):
            del blocks[i]
    w = cfg.width if width is None else width
    if w < 1.0:
        from ratecraft.shrink.structured import StructuredConfig, prune_structured

        prune_structured(student, StructuredConfig(ratio=1.0 - w, seed=cfg.seed), calib)
    try:
        with torch.no_grad():
            calib.run(student, calib.example)
    except RuntimeError as exc:
        raise BadInputError(f"derived student does not run: {str(exc).splitlines()[0]}") from None
    return student


def distill_train(
    student: nn.Module, teacher: nn.Module, calib: Calibration, cfg: DistillConfig
) -> list[float]:
    """Train ``student`` against ``teacher``; returns the mean loss of every epoch."""
    torch.manual_seed(cfg.seed)
    teacher.eval()
    n = len(calib.inputs)
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * n)
    history = []
    for _epoch in range(cfg.epochs):
        student.train()
        total = 0.0
        for i in torch.randperm(n).tolist():
            x, y = calib.inputs[i], None if calib.targets is None else calib.targets[i]
            with torch.no_grad():
                soft = calib.run(teacher, x)
            out = calib.run(student, x)
            loss = kd_loss(out, soft, cfg.temperature, cfg.kind)
            if y is not None and cfg.alpha < 1.0:
                loss = cfg.alpha * loss + (1.0 - cfg.alpha) * calib.task_loss(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        history.append(total / n)
    student.eval()
    return history


@register_step("distill")
class DistillStep(Step):
    """Derive a smaller student from the model and distill the model into it."""

    role: ClassVar[str] = "train"

    config_cls: ClassVar[type[StepConfig]] = DistillConfig
    needs_calibration: ClassVar[bool] = True

    def apply(self, model: nn.Module, config: Any, calib: Calibration | None) -> nn.Module:
        assert calib is not None
        cfg: DistillConfig = config
        if cfg.width < 1.0:
            self.require_pruning()
        torch.manual_seed(cfg.seed)
        teacher = calib.teacher if calib.teacher is not None else frozen_copy(model)
        current = model
        for stage in range(1, cfg.stages + 1):
            width = 1.0 - (1.0 - cfg.width) * stage / cfg.stages
            prev_width = 1.0 - (1.0 - cfg.width) * (stage - 1) / cfg.stages
            stage_cfg = cfg.model_copy(
                update={"drop_layers": cfg.drop_layers if stage == 1 else []}
            )
            student = derive_student(current, stage_cfg, calib, width=width / prev_width)
            source = frozen_copy(current) if cfg.teacher_assistant and stage > 1 else teacher
            history = distill_train(student, source, calib, cfg)
            log.info("distill stage %d/%d: width %.2f, loss %.4f -> %.4f",
                     stage, cfg.stages, width, history[0], history[-1])  # fmt: skip
            current = student
        for p in current.parameters():
            p.requires_grad_(False)
        return current.eval()

    @staticmethod
    def require_pruning() -> None:
        from ratecraft.shrink.steps import get_step

        get_step("prune-structured").require()

    def memory_estimate(self, model: nn.Module, config: Any, calib: Calibration | None) -> int:
        data = calib.nbytes() if calib is not None else 0
        return 5 * model_bytes(model) + 8 * data  # teacher, student, grads, AdamW moments
