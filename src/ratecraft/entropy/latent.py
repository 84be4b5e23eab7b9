"""Entropy models of recording latents ``y`` (n, channels, steps): factorized or a scale
hyperprior (Ballé et al. 2018), with integer tables as module buffers.

- ``factorized``: one learned density per latent channel
  (:class:`~ratecraft.entropy.factorized.EntropyBottleneck`).
- ``hyperprior``: a small hyper-encoder turns ``|y|`` into side latents ``z`` (half as many
  steps), coded with a factorized bottleneck; a hyper-decoder predicts from ``ẑ`` a scale ``σ``
  for every element of ``y``, coded with a zero-mean Gaussian of that scale
  (:class:`~ratecraft.entropy.gaussian.GaussianConditional`). Local scale adapts the rate to
  spikes vs. quiet stretches.

Both train with additive uniform noise (rate) and straight-through rounding (decoder). At
coding time ``y`` (and ``z``) are quantized with a **step** ``q`` — the codec's rate-control
knob, kept in the ``step`` buffer: ``y_int = round(y / q)``. :meth:`LatentEntropy.set_step`
builds the integer tables for a step; they and the step travel in the model's state dict.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from ratecraft.bitstream.sections import pack_sections, unpack_sections
from ratecraft.entropy.factorized import EntropyBottleneck
from ratecraft.entropy.gaussian import GaussianConditional
from ratecraft.entropy.tables import CountTables, ScaleTables
from ratecraft.errors import BadInputError

__all__ = ["EntropyKind", "LatentEntropy"]

EntropyKind = Literal["factorized", "hyperprior"]


def _rows(y: Tensor) -> Tensor:
    """(n, channels, steps) → (n·steps, channels) for the factorized bottleneck."""
    return y.permute(0, 2, 1).reshape(-1, y.shape[1])


def _unrows(rows: Tensor, shape: torch.Size) -> Tensor:
    n, c, t = shape
    return rows.reshape(n, t, c).permute(0, 2, 1)


class LatentEntropy(nn.Module):
    """The entropy model of latents (n, channels, steps): factorized or scale hyperprior."""

    step_buffer: Tensor

    def __init__(self, channels: int, kind: EntropyKind = "factorized", hyper: int = 8) -> None:
        super().__init__()
        self.kind = kind
        if kind == "factorized":
            self.bottleneck = EntropyBottleneck(channels)
        elif kind == "hyperprior":
            self.h_a = nn.Sequential(
                nn.Conv1d(channels, hyper, 3, padding=1),
                nn.GELU(),
                nn.Conv1d(hyper, hyper, 3, stride=2, padding=1),
            )
            self.h_s = nn.Sequential(
                nn.ConvTranspose1d(hyper, hyper, 4, stride=2, padding=1),
                nn.GELU(),
                nn.Conv1d(hyper, channels, 3, padding=1),
                nn.Softplus(),
            )
            self.bottleneck = EntropyBottleneck(hyper)
            self.gaussian = GaussianConditional()
        else:
            raise BadInputError(f"unknown entropy model {kind!r}; use factorized or hyperprior")
        self.register_buffer("step_buffer", torch.zeros((), dtype=torch.float64))

    def _scales(self, z_hat: Tensor, steps: int) -> Tensor:
        scales: Tensor = self.h_s(z_hat)
        return scales[..., :steps]

    def forward(self, y: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """(decoder input, likelihoods): noisy rate and STE rounding in training."""
        if self.kind == "factorized":
            rows, lik = self.bottleneck(_rows(y))
            return _unrows(rows, y.shape), {"y": lik}
        z = self.h_a(y.abs())
        z_rows, z_lik = self.bottleneck(_rows(z))
        scales = self._scales(_unrows(z_rows, z.shape), y.shape[-1])
        if self.training:
            noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
            y_hat = y + (torch.round(y) - y).detach()
        else:
            noisy = y_hat = torch.round(y)
        return y_hat, {"y": self.gaussian.likelihood(noisy, scales), "z": z_lik}

    # ---- tables ------------------------------------------------------------------------------
    @property
    def step(self) -> float:
        """The installed quantization step (0 before :meth:`set_step`)."""
        return float(self.step_buffer)

    def set_step(self, step: float) -> None:
        """Build and install the integer tables for quantization step ``step``."""
        if not (math.isfinite(step) and step > 0):
            raise BadInputError(f"latent step must be a finite number > 0, got {step}")
        self.bottleneck.update(step)
        if self.kind == "hyperprior":
            self.gaussian.update()
        self.step_buffer.fill_(float(step))

    def install_tables_doc(self, doc: dict[str, Any]) -> None:
        """Install tables stored as JSON (the model folders of ratecraft 0.1)."""
        if doc.get("kind") != self.kind:
            raise BadInputError(f"entropy tables are for {doc.get('kind')!r}, model {self.kind!r}")
        step = float(doc.get("step", 0.0))
        if not (math.isfinite(step) and step > 0):
            raise BadInputError("entropy tables carry no valid quantization step")
        if self.kind == "factorized":
            self.bottleneck.install(CountTables.from_json(doc["factorized"]))
        else:
            self.bottleneck.install(CountTables.from_json(doc["z"]))
            self.gaussian.install(ScaleTables.from_json(doc["gaussian"]))
        self.step_buffer.fill_(step)

    def _need_step(self) -> float:
        step = self.step
        if step <= 0:
            raise BadInputError("latent entropy model has no coding tables; set a step first")
        return step

    # ---- coding ------------------------------------------------------------------------------
    def quantize(self, y: Tensor) -> Tensor:
        """Integer latents (as float) at the installed step; what decode dequantizes."""
        return torch.round(y / self._need_step())

    def dequantize(self, y_int: Tensor) -> Tensor:
        return y_int * self._need_step()

    def compress(self, y: Tensor) -> tuple[bytes, float, Tensor]:
        """(payload, estimated bits, integer latents) of continuous latents ``y``."""
        step = self._need_step()
        y_int = torch.round(y / step)
        ints = y_int.to(torch.int64).numpy()
        if self.kind == "factorized":
            rows = ints.transpose(0, 2, 1).reshape(-1, ints.shape[1])
            payload, est = self.bottleneck.compress(rows)
            return pack_sections([payload]), est, y_int
        z_int = torch.round(self.h_a(y.abs()) / step)
        zi = z_int.to(torch.int64).numpy()
        z_payload, z_est = self.bottleneck.compress(zi.transpose(0, 2, 1).reshape(-1, zi.shape[1]))
        index = self._index(z_int, y.shape[-1])
        y_payload, y_est = self.gaussian.compress(ints, index)
        return pack_sections([z_payload, y_payload]), z_est + y_est, y_int

    def _index(self, z_int: Tensor, steps: int) -> np.ndarray:
        step = self._need_step()
        return self.gaussian.index(self._scales(z_int * step, steps), step)

    def decompress(self, payload: bytes | memoryview, shape: tuple[int, int, int]) -> Tensor:
        """Integer latents (as float32) of ``shape`` from :meth:`compress`'s payload."""
        n, c, t = shape
        if self.kind == "factorized":
            (body,) = unpack_sections(payload, expect=1)
            rows = self.bottleneck.decompress(body, n * t)
            ints = rows.reshape(n, t, c).transpose(0, 2, 1)
        else:
            z_body, y_body = unpack_sections(payload, expect=2)
            zc = self.bottleneck.channels
            tz = (t + 1) // 2
            zi = self.bottleneck.decompress(z_body, n * tz).reshape(n, tz, zc).transpose(0, 2, 1)
            z_int = torch.from_numpy(np.ascontiguousarray(zi)).float()
            index = self._index(z_int, t)
            ints = self.gaussian.decompress(y_body, index).reshape(n, c, t)
        return torch.from_numpy(np.ascontiguousarray(ints)).float()
