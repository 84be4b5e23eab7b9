"""Task evaluators: ``evaluate(artifact) -> dict[str, float]``, keys that objectives can name.

An *artifact* is a saved shrink-artifact folder, a loaded :class:`~ratecraft.shrink.Artifact`
or a plain ``nn.Module``; :func:`resolve_model` turns any of them into a module in eval mode.
Evaluators register by name (:func:`register_evaluator`); ``classification`` is built in and the
language-model evaluators (perplexity, tasks, HumanEval) live in :mod:`ratecraft.evaluate.lm`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from torch import nn

from ratecraft.errors import BadInputError
from ratecraft.plugins import Registry

__all__ = [
    "ArtifactLike",
    "Evaluator",
    "available_evaluators",
    "get_evaluator",
    "register_evaluator",
    "resolve_model",
]

ArtifactLike = Any  # str | Path | ratecraft.shrink.Artifact | nn.Module


@runtime_checkable
class Evaluator(Protocol):
    """Scores a model; every value is a float so objectives and constraints can name keys."""

    def evaluate(self, artifact: ArtifactLike) -> dict[str, float]: ...


def resolve_model(artifact: ArtifactLike) -> nn.Module:
    """The module behind ``artifact`` (a folder is loaded with the safe artifact loader)."""
    if isinstance(artifact, nn.Module):
        return artifact.eval()
    if isinstance(artifact, str | Path):
        from ratecraft.shrink.artifact import load_artifact

        return load_artifact(artifact).model
    model = getattr(artifact, "model", None)
    if isinstance(model, nn.Module):
        return model.eval()
    raise BadInputError(f"cannot evaluate a {type(artifact).__name__}; give a model or a folder")


EVALUATORS: Registry[Callable[..., Evaluator]] = Registry("evaluator")
EVALUATORS.provide("ratecraft.evaluate.classification")
EVALUATORS.provide("ratecraft.evaluate.lm", extra="llm")


def register_evaluator(name: str) -> Callable[[Callable[..., Evaluator]], Callable[..., Evaluator]]:
    """Register an evaluator factory (usually the class) under ``name``."""
    return EVALUATORS.register(name)


def available_evaluators() -> list[str]:
    return EVALUATORS.names()


def get_evaluator(name: str, **kwargs: Any) -> Evaluator:
    """Build the evaluator registered as ``name`` with its keyword arguments."""
    return EVALUATORS.get(name)(**kwargs)
