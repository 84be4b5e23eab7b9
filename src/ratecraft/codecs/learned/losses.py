"""Distortion terms for the learned recording codecs: MSE, spectral, spike-window weighted.

All three work on normalized windows (batch, channels, window) — the trainer hands flat rows,
which :class:`RecordingLoss` reshapes. The **spectral** term compares FFT magnitudes per
channel window, so a reconstruction that keeps the power spectrum (LFP bands, spike energy) but
shifts phase slightly is not punished as hard as plain MSE would. The **spike-window** term is
the squared error restricted to samples near a spike: a sample is "near a spike" when the
high-passed original (window minus its 9-sample moving average) crosses ``threshold`` (per
channel, in normalized units, from the training data) within ±``spike_halfwidth`` samples.
Spikes are a tiny fraction of the samples, so plain MSE spends the bits on the LFP instead.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

__all__ = ["LossConfig", "RecordingLoss", "highpass_sigma"]

_SMOOTH = 9  # moving-average length of the cheap high-pass used to find spikes


class LossConfig(BaseModel):
    """Weights of the three distortion terms and the spike detector's settings."""

    model_config = ConfigDict(extra="forbid")

    mse: float = Field(default=1.0, ge=0.0, allow_inf_nan=False, description="weight of plain MSE")
    spectral: float = Field(
        default=0.05, ge=0.0, allow_inf_nan=False, description="weight of the FFT-magnitude error"
    )
    spike: float = Field(
        default=2.0, ge=0.0, allow_inf_nan=False, description="weight of the MSE near spikes"
    )
    spike_threshold_sigma: float = Field(
        default=4.0,
        gt=0.0,
        allow_inf_nan=False,
        description="a spike crosses this many noise sigmas of the high-passed signal",
    )
    spike_halfwidth: int = Field(
        default=12, ge=0, le=512, description="samples each side of a crossing that count as spike"
    )


def _highpass(x: Tensor) -> Tensor:
    """``x`` minus its centered moving average along the last axis (same length)."""
    flat = x.reshape(-1, 1, x.shape[-1])
    smooth = F.avg_pool1d(flat, _SMOOTH, stride=1, padding=_SMOOTH // 2, count_include_pad=False)
    return (flat - smooth).reshape(x.shape)


def highpass_sigma(windows: np.ndarray) -> np.ndarray:
    """Robust noise level (MAD / 0.6745) of the high-passed signal per channel.

    ``windows`` is (n, channels, window) in normalized units; the result has one value per
    channel and is what the spike threshold is a multiple of.
    """
    with torch.no_grad():
        hp = _highpass(torch.as_tensor(windows, dtype=torch.float32))
    mad = hp.abs().transpose(0, 1).reshape(hp.shape[1], -1).median(dim=1).values
    return np.maximum(mad.numpy().astype(np.float64) / 0.6745, 1e-6)


class RecordingLoss:
    """``mse·MSE + spectral·|FFT| error + spike·spike-window MSE`` on flat window rows."""

    def __init__(self, channels: int, window: int, sigma: np.ndarray, config: LossConfig) -> None:
        self.channels, self.window, self.config = int(channels), int(window), config
        thr = np.asarray(sigma, dtype=np.float32) * config.spike_threshold_sigma
        self.threshold = torch.as_tensor(thr).reshape(1, -1, 1)

    def spike_mask(self, x: Tensor) -> Tensor:
        """1.0 within ``spike_halfwidth`` samples of a threshold crossing, else 0.0."""
        hit = (_highpass(x).abs() > self.threshold).float()
        k = self.config.spike_halfwidth
        if k == 0:
            return hit
        flat = hit.reshape(-1, 1, x.shape[-1])
        return F.max_pool1d(flat, 2 * k + 1, stride=1, padding=k).reshape(x.shape)

    def terms(self, x_hat: Tensor, x: Tensor) -> dict[str, Tensor]:
        """Each term separately (for logging and tests), windows shaped (b, channels, window)."""
        x = x.reshape(-1, self.channels, self.window)
        x_hat = x_hat.reshape(x.shape)
        err = (x_hat - x) ** 2
        out = {"mse": err.mean()}
        if self.config.spectral > 0:
            spec = torch.fft.rfft(x, dim=-1).abs()
            spec_hat = torch.fft.rfft(x_hat, dim=-1).abs()
            out["spectral"] = ((spec_hat - spec) ** 2).mean() / self.window
        if self.config.spike > 0:
            mask = self.spike_mask(x)
            out["spike"] = (err * mask).sum() / mask.sum().clamp_min(1.0)
        return out

    def __call__(self, x_hat: Tensor, x: Tensor) -> Tensor:
        t = self.terms(x_hat, x)
        c = self.config
        loss = c.mse * t["mse"]
        if "spectral" in t:
            loss = loss + c.spectral * t["spectral"]
        if "spike" in t:
            loss = loss + c.spike * t["spike"]
        return loss
