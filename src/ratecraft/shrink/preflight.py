"""The memory pre-flight: refuse a shrink step before it runs when it would not fit.

Each step estimates what it needs on top of the model (:meth:`Step.memory_estimate`); the
estimate is compared with the memory available now (or a budget the caller sets). Kept apart
from :mod:`ratecraft.shrink.measure`, which measures finished artifacts, so that running a
recipe needs nothing from the artifact code.
"""

from __future__ import annotations

from torch import nn

from ratecraft.errors import BadInputError
from ratecraft.shrink.steps import Calibration, Step, StepConfig, model_bytes
from ratecraft.system import available_memory

__all__ = ["available_memory", "estimate_memory", "preflight"]


def estimate_memory(
    model: nn.Module, step: Step, config: StepConfig, calib: Calibration | None
) -> int:
    """Bytes a step needs: the model itself plus the step's own estimate."""
    return model_bytes(model) + int(step.memory_estimate(model, config, calib))


def preflight(
    model: nn.Module,
    step: Step,
    config: StepConfig,
    calib: Calibration | None,
    *,
    budget_bytes: int | None = None,
) -> int:
    """Estimate a step's memory and refuse it (BadInputError) when it would not fit."""
    need = estimate_memory(model, step, config, calib)
    budget = available_memory() if budget_bytes is None else int(budget_bytes)
    if need > budget:
        raise BadInputError(
            f"step {step.name} needs about {need / 2**20:.1f} MiB but only "
            f"{budget / 2**20:.1f} MiB are allowed; use a smaller model, fewer calibration "
            "batches or a larger memory budget"
        )
    return need
