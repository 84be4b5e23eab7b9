"""A trained codec's state and its content hashes (what containers name a model by)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ratecraft.jsonsafe import json_safe

__all__ = ["ModelState", "sha256_json", "tensors_sha256"]


@dataclass
class ModelState:
    """A trained codec's state beyond its config: tensors (→ safetensors) and a JSON document."""

    tensors: dict[str, Any]
    doc: dict[str, Any]


def sha256_json(doc: Any) -> str:
    text = json.dumps(json_safe(doc), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def tensors_sha256(tensors: dict[str, Any]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of tensors (NumPy or torch), sorted by name."""
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k]
        if not isinstance(t, np.ndarray):  # a torch tensor
            import torch

            t = t.detach().cpu().contiguous()
            dtype, shape = str(t.dtype).removeprefix("torch."), tuple(t.shape)
            raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        else:
            t = np.ascontiguousarray(t)
            dtype, shape, raw = t.dtype.name, t.shape, t.tobytes()
        h.update(f"{k}|{dtype}|{tuple(int(s) for s in shape)}|".encode())
        h.update(raw)
    return h.hexdigest()
