"""Shared helpers of the shrink tests: tiny model specs (no downloads) and comparisons."""

from __future__ import annotations

import torch

from ratecraft.shrink import Calibration, build_model, load_artifact, save_artifact

MLP = {"builder": "mlp", "sizes": [64, 96, 96, 10]}
CNN = {"builder": "cnn", "in_channels": 1, "image_size": 8, "channels": [8, 16], "hidden": 32}
TX = {"builder": "tiny-transformer", "vocab": 32, "dim": 32, "heads": 4, "layers": 3, "mlp": 64,
      "context": 16}  # fmt: skip


def make(spec: dict) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(spec).eval()


def roundtrip(model: torch.nn.Module, spec: dict, path, **kw):
    """Save ``model`` as an artifact under ``path`` and load it back."""
    save_artifact(model, path, spec=spec, **kw)
    return load_artifact(path)


def outputs(calib: Calibration, model: torch.nn.Module, batch=None) -> torch.Tensor:
    with torch.no_grad():
        return calib.run(model, calib.example if batch is None else batch)


def sqnr_db(ref: torch.Tensor, test: torch.Tensor) -> float:
    """Signal-to-quantization-noise ratio of ``test`` against ``ref`` in dB."""
    noise = (ref - test).pow(2).mean()
    return float(10 * torch.log10(ref.pow(2).mean() / noise.clamp_min(1e-20)))
