"""Shrink models: quantize, prune, distill and LoRA-recover, then measure what really changed.

A *step* is a registered transformation ``apply(model, config, calib) -> model`` with a pydantic
config (:mod:`ratecraft.shrink.steps`); a *recipe* is an ordered list of steps, serializable and
hashable (:mod:`ratecraft.shrink.recipe`). Shrunk models are saved as safetensors + JSON and
loaded back without unpickling (:mod:`ratecraft.shrink.artifact`), and every size, latency and
memory figure is measured on that saved artifact (:mod:`ratecraft.shrink.measure`).

Built-in steps: ``int8-weight``, ``int8-dynamic``, ``intx-weight``, ``int4-weight``,
``int2-weight``, ``quanto``, ``round-fp16`` (quantize); ``prune-magnitude``, ``prune-wanda``,
``prune-sparsegpt`` (unstructured or N:M); ``prune-structured`` (torch-pruning: channels, MLP
width, attention heads); ``distill``; ``lora``. Optional libraries come with
``pip install "ratecraft[shrink]"``.
"""

from ratecraft.shrink.artifact import Artifact, is_artifact, load_artifact, save_artifact
from ratecraft.shrink.models import build_model, register_builder
from ratecraft.shrink.recipe import Recipe, RecipeItem, run_recipe
from ratecraft.shrink.steps import (
    Calibration,
    Step,
    StepConfig,
    available_steps,
    get_step,
    register_step,
)

__all__ = [
    "Artifact",
    "Calibration",
    "Recipe",
    "RecipeItem",
    "Step",
    "StepConfig",
    "available_steps",
    "build_model",
    "get_step",
    "is_artifact",
    "load_artifact",
    "register_builder",
    "register_step",
    "run_recipe",
    "save_artifact",
]
