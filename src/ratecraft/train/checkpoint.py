"""Safe training checkpoints: tensors in safetensors, everything else in JSON, never pickle.

A checkpoint is two files in a directory: ``<name>.safetensors`` (model weights, best weights,
optimizer moments, RNG state) and ``<name>.json`` (epoch counters, schedule state, history).
PyTorch's optimizer state is a nested dict of tensors and numbers; :func:`flatten_optimizer`
splits it into flat tensor keys plus a JSON part so it can be stored without ``torch.save``.
Both files are written through a temporary file and a rename.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from ratecraft.atomic import atomic_write
from ratecraft.errors import BadInputError

__all__ = [
    "flatten_optimizer",
    "load_checkpoint",
    "read_safetensors",
    "safetensors_bytes",
    "save_checkpoint",
    "tensors_digest",
    "unflatten_optimizer",
]


def _contiguous(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous, unshared copies (safetensors refuses shared storage)."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes, in sorted key order (weights identity)."""
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k].detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimizer ``state_dict`` → (flat tensors ``optim.<param>.<key>``, JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{pid}.{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unflatten_optimizer(tensors: dict[str, torch.Tensor], doc: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten_optimizer`."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = value
    for pid, entry in doc.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(entry)
    return {"state": state, "param_groups": doc["param_groups"]}


def safetensors_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    """The safetensors serialization of ``tensors`` (copied, contiguous, unshared)."""
    return save(_contiguous(tensors))


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a safetensors file, or a one-line error."""
    try:
        return load_file(str(path))
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read weights ({exc.strerror or exc})") from None
    except Exception as exc:  # safetensors' own error type for corrupt files
        raise BadInputError(f"{path}: corrupt weights file ({exc})") from None


def save_checkpoint(
    directory: str | Path, name: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> None:
    """Write ``name.safetensors`` and ``name.json`` into ``directory`` atomically."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / f"{name}.safetensors", save(_contiguous(tensors)))
    atomic_write(out / f"{name}.json", json.dumps(meta, indent=1).encode())


def load_checkpoint(directory: str | Path, name: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Read what :func:`save_checkpoint` wrote; a clear error when it is missing or broken."""
    base = Path(directory)
    try:
        tensors = load_file(str(base / f"{name}.safetensors"))
        meta = json.loads((base / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInputError(f"{base}: cannot read checkpoint {name!r} ({first})") from None
    except Exception as exc:  # safetensors raises its own error type on corrupt headers
        raise BadInputError(f"{base}: corrupt checkpoint {name!r} ({exc})") from None
    if not isinstance(meta, dict):
        raise BadInputError(f"{base}: checkpoint metadata {name!r} is not a JSON object")
    return tensors, meta
