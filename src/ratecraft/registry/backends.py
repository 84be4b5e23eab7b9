"""Which registry a command talks to: ``--registry`` (or ``$RATECRAFT_REGISTRY``) names a
folder for the embedded registry or ``mlflow:URI`` for MLflow's; neither → the embedded one under
``$RATECRAFT_HOME`` (default ``~/.ratecraft``)."""

from __future__ import annotations

import os
from pathlib import Path

from ratecraft.registry.protocol import ModelRegistry
from ratecraft.registry.store import Registry

__all__ = ["MLFLOW_PREFIX", "REGISTRY_ENV", "open_registry", "registry_configured"]

MLFLOW_PREFIX = "mlflow:"
REGISTRY_ENV = "RATECRAFT_REGISTRY"


def open_registry(spec: str | None = None) -> ModelRegistry:
    """The registry ``spec`` names: ``mlflow:URI``, a folder, or None → ``$RATECRAFT_REGISTRY``,
    else ``$RATECRAFT_HOME`` (or ``~/.ratecraft``)."""
    spec = spec or os.environ.get(REGISTRY_ENV) or None
    if spec is not None and spec.startswith(MLFLOW_PREFIX):
        from ratecraft.registry.mlflow_store import MlflowRegistry

        return MlflowRegistry(spec[len(MLFLOW_PREFIX) :])
    return Registry(Path(spec) if spec else None)


def registry_configured() -> bool:
    """Whether a registry exists to look in without creating one: ``$RATECRAFT_REGISTRY`` is
    set, or the default home already holds a registry."""
    from ratecraft.registry.store import DB, default_home

    return bool(os.environ.get(REGISTRY_ENV)) or (default_home() / DB).is_file()
