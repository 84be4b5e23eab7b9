"""Which registry a command talks to: the embedded one (a folder) or MLflow's (``mlflow:URI``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ratecraft.registry.store import Registry

__all__ = ["open_registry"]

MLFLOW_PREFIX = "mlflow:"


def open_registry(spec: str | None = None) -> Any:
    """The registry ``spec`` names: None → ``$RATECRAFT_HOME`` (or ``~/.ratecraft``), a folder
    path, or ``mlflow:URI`` (MLflow's model registry at that tracking URI; extra ``[track]``)."""
    if spec is not None and spec.startswith(MLFLOW_PREFIX):
        from ratecraft.registry.mlflow_backend import MlflowRegistry

        return MlflowRegistry(spec[len(MLFLOW_PREFIX) :])
    return Registry(Path(spec) if spec else None)
