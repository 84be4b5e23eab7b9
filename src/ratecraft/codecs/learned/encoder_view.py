"""A learned codec's encoder as one module: what export and shrink work on.

The contract: a learned codec exposes ``encoder_module() -> torch.nn.Module`` mapping a float32
tensor of *normalized* inputs to its continuous latents (before rounding or vector
quantization). The recording codecs take ``(batch, channels, window)``. The learned table codecs
(``adaptive-bottleneck``, ``grouped-vae``, ``vqvae``) predate the contract, so
:func:`encoder_for` builds the equivalent module from their trained submodules: each branch or
category encoder applied to its own columns of a ``(batch, features)`` input, outputs
concatenated in the model's branch order — exactly what the codec computes before its
entropy bottleneck or residual quantizers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ratecraft.errors import BadInputError

if TYPE_CHECKING:
    from ratecraft.codecs.base import Codec

__all__ = ["TableEncoder", "encoder_for"]


class TableEncoder(nn.Module):
    """Branch encoders on their own feature columns, concatenated: ``(batch, F) → (batch, D)``."""

    def __init__(self, encoders: list[nn.Module], columns: list[list[int]], n_features: int):
        super().__init__()
        self.encoders = nn.ModuleList(encoders)
        self.n_features = n_features
        for i, cols in enumerate(columns):  # buffers: traced as constants, no Python lists
            self.register_buffer(f"cols{i}", torch.tensor(cols, dtype=torch.long), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        outs = [
            enc(torch.index_select(x, 1, getattr(self, f"cols{i}")))
            for i, enc in enumerate(self.encoders)
        ]
        return torch.cat(outs, dim=1)


def encoder_for(codec: Codec, batch: int = 4) -> tuple[nn.Module, tuple[int, ...]]:
    """The trained codec's encoder (eval mode) and an example input shape for ``batch`` items."""
    if batch < 1:
        raise BadInputError(f"batch must be at least 1, got {batch}")
    if hasattr(codec, "encoder_module"):
        module = codec.encoder_module()
        layout = getattr(codec, "layout", None) or {}
        channels = layout.get("n_channels") if isinstance(layout, dict) else None
        window = getattr(codec.config, "window", None)
        if channels is None or window is None:
            raise BadInputError(f"{codec.name}: cannot tell the encoder's input shape")
        return module.eval(), (batch, int(channels), int(window))
    model = getattr(codec, "model", None)
    if model is None:
        raise BadInputError(f"{codec.name} has no neural encoder to export (not learned/fitted)")
    if hasattr(model, "encoders") and hasattr(model, "columns"):  # BranchedBottleneck
        encoders = list(model.encoders)
    elif hasattr(model, "categories") and hasattr(model, "columns"):  # HierarchicalVQ
        encoders = [cat.encoder for cat in model.categories]
    else:
        raise BadInputError(f"{codec.name}: no encoder adapter for {type(model).__name__}")
    module = TableEncoder(encoders, model.columns, int(model.n_features))
    return module.eval(), (batch, int(model.n_features))
