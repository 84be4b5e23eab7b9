"""Which registry a command talks to: the embedded one under a folder (default
``$RATECRAFT_HOME``). An MLflow backend (``mlflow:URI``) is not built yet and is refused."""

from __future__ import annotations

from pathlib import Path

from ratecraft.errors import BadInputError
from ratecraft.registry.store import Registry

__all__ = ["open_registry"]


def open_registry(spec: str | None = None) -> Registry:
    """The registry ``spec`` names: None → ``$RATECRAFT_HOME`` (or ``~/.ratecraft``), else a
    folder path."""
    if spec is not None and spec.startswith("mlflow:"):
        raise BadInputError("the MLflow registry backend is not built yet; use a registry folder")
    return Registry(Path(spec) if spec else None)
