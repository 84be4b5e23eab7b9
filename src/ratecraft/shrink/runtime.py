"""Models that run in another runtime (llama.cpp, ONNX Runtime) behind the ``nn.Module`` call.

A deployment step (``gguf``, ``onnxrt``) turns a PyTorch model into a file for a runtime with
real low-bit kernels. The result is still an ``nn.Module`` — its ``forward`` runs the runtime —
so evaluators, latency and peak-memory measurements and the artifact writer treat it like any
shrunk model. It is always the last step of a recipe: there are no PyTorch weights left for a
later step to change.

A :class:`RuntimeModule` knows its file (:attr:`file`), how many logical weights it holds
(:meth:`logical_parameters`, what a parameter count means after packing) and is saved as that
file beside ``shrink.json`` and reopened by the loader registered for its :attr:`kind`.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from torch import nn

from ratecraft.errors import BadInputError

__all__ = ["RuntimeModule", "is_runtime", "open_runtime", "register_runtime"]

_OPENERS: dict[str, Callable[[Path, dict[str, Any]], RuntimeModule]] = {}


class RuntimeModule(nn.Module, ABC):
    """Base of models held by an external runtime; subclasses set :attr:`kind` and run it."""

    kind: ClassVar[str] = ""
    suffix: ClassVar[str] = ""

    def __init__(self, file: Path) -> None:
        super().__init__()
        self.file = Path(file)

    @abstractmethod
    def logical_parameters(self) -> int:
        """Weights the file holds, counted by their logical shapes (packed or not)."""

    def options(self) -> dict[str, Any]:
        """What reopening needs besides the file (threads, context length)."""
        return {}

    def save_into(self, folder: Path) -> dict[str, Any]:
        """Copy the runtime file into ``folder``; the JSON the loader gets back."""
        name = f"model{self.suffix}"
        shutil.copyfile(self.file, folder / name)
        return {"kind": self.kind, "file": name, "options": self.options()}


def register_runtime(
    kind: str,
) -> Callable[[Callable[[Path, dict[str, Any]], RuntimeModule]], Any]:
    """Register ``opener(file, options) -> RuntimeModule`` for saved artifacts of ``kind``."""

    def deco(fn: Callable[[Path, dict[str, Any]], RuntimeModule]) -> Any:
        _OPENERS[kind] = fn
        return fn

    return deco


def is_runtime(model: Any) -> bool:
    return isinstance(model, RuntimeModule)


def open_runtime(folder: Path, doc: Any) -> RuntimeModule:
    """Reopen the runtime model an artifact's ``runtime`` entry names."""
    import importlib

    if not isinstance(doc, dict) or not isinstance(doc.get("file"), str):
        raise BadInputError(f"{folder}: malformed 'runtime' entry")
    kind = str(doc.get("kind"))
    if kind not in _OPENERS:  # the modules register their openers on import
        module = {"gguf": "ratecraft.shrink.lm.gguf_runtime", "onnx": "ratecraft.shrink.onnxrt"}
        if kind in module:
            importlib.import_module(module[kind])
    if kind not in _OPENERS:
        raise BadInputError(f"{folder}: unknown runtime {kind!r}")
    name = Path(doc["file"]).name  # never a path outside the folder
    path = folder / name
    if not path.is_file():
        raise BadInputError(f"{folder}: runtime file {name} is missing")
    options = doc.get("options") or {}
    if not isinstance(options, dict):
        raise BadInputError(f"{folder}: malformed runtime options")
    return _OPENERS[kind](path, options)
