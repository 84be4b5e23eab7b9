"""``vae``: a variational recording codec with predicted uncertainty and an error-bound fallback.

The encoder outputs a mean and a log-variance per latent; training samples the latent by
reparameterization (``μ + σ·ε``) and adds ``β·KL(q(y|x) ‖ N(0, 1))`` to the loss; coding uses
the mean. The decoder has dropout and two outputs per sample: the reconstruction and its
log-variance (trained by a Gaussian NLL on the detached error, so it learns how wrong the
reconstruction is without pulling on it). :meth:`VaeModel.predict_std` combines that aleatoric
variance with the spread of ``mc_samples`` Monte-Carlo dropout passes.

**Error bound.** With ``error_bound`` (stored units; ``Budget(max_error=e)`` sets it) the
predicted std is calibrated after training on the validation windows (factor ``c``: the
``calibration_quantile`` of actual max error / predicted max std per channel-window). When
encoding, a channel-window is flagged if its calibrated predicted error ``c·max σ`` or its
actual max error exceeds the bound; flagged cells get a residual layer — the error quantized
with step ``2⌊e⌋+1`` (integer data) or ``2e`` (float), entropy coded with a histogram model
carried in the stream — so every decoded sample is within the bound.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field
from torch import Tensor, nn

from ratecraft.bitstream.ans import (
    GroupDecoder,
    SymbolModel,
    dequantize_counts,
    encode_groups,
    fit_model,
    quantize_counts,
)
from ratecraft.bitstream.sections import array_from, pack_sections, unpack_sections
from ratecraft.codecs.base import CodecConfig, register_codec
from ratecraft.codecs.learned.recording_codec import LearnedRecordingCodec, LearnedRecordingConfig
from ratecraft.codecs.learned.recording_models import RecordingModel, conv_encoder
from ratecraft.errors import BadInputError, CorruptStreamError

__all__ = ["VaeCodec", "VaeConfig", "VaeModel"]

_MAX_RESIDUAL_ALPHABET = 1 << 16


class VaeModel(RecordingModel):
    """Per-channel convolutional VAE whose decoder predicts a per-sample log-variance."""

    def __init__(
        self,
        n_channels: int,
        window: int,
        latent_channels: int,
        hidden: int = 32,
        *,
        beta: float = 0.05,
        nll_weight: float = 0.1,
        dropout: float = 0.1,
        encoder_hidden: int = 8,
        **kw: Any,
    ) -> None:
        super().__init__(n_channels, window, latent_channels, **kw)
        self.beta, self.nll_weight = beta, nll_weight
        self.encoder = conv_encoder(2 * latent_channels, encoder_hidden, self.stages)
        layers: list[nn.Module] = []
        width = latent_channels
        for _ in range(self.stages):
            layers += [nn.ConvTranspose1d(width, hidden, 4, 2, 1), nn.GELU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Conv1d(hidden, 2, 7, padding=3))
        self.decoder = nn.Sequential(*layers)

    def _moments(self, x: Tensor) -> tuple[Tensor, Tensor]:
        b, c, w = x.shape
        h = self.encoder(x.reshape(b * c, 1, w))
        return h[:, : self.latent_channels], h[:, self.latent_channels :].clamp(-10.0, 10.0)

    def analysis(self, x: Tensor) -> Tensor:
        return self._moments(x)[0]

    def synthesis(self, y_hat: Tensor) -> Tensor:
        return self.decoder(y_hat)[:, :1].reshape(-1, self.n_channels, self.window)

    def forward(self, x: Tensor) -> dict[str, Any]:
        mean, logvar = self._moments(x)
        y = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean) if self.training else mean
        y_hat, likelihoods = self.entropy(y)
        out = self.decoder(y_hat)
        shape = (-1, self.n_channels, self.window)
        return {
            "x_hat": out[:, :1].reshape(shape),
            "x_logvar": out[:, 1:].clamp(-12.0, 8.0).reshape(shape),
            "likelihoods": likelihoods,
            "mean": mean,
            "logvar": logvar,
        }

    def aux_loss(self, out: dict[str, Any], x: Tensor) -> Tensor:
        kl = 0.5 * (out["mean"] ** 2 + out["logvar"].exp() - 1.0 - out["logvar"]).sum()
        err = (x - out["x_hat"].detach()) ** 2
        nll = 0.5 * (out["x_logvar"] + err * torch.exp(-out["x_logvar"])).mean()
        return self.beta * kl / x.numel() + self.nll_weight * nll

    @torch.no_grad()
    def predict_std(self, y_hat: Tensor, mc_samples: int) -> Tensor:
        """Predicted std of the reconstruction error (batch, channels, window), normalized
        units: aleatoric (decoder's log-variance) plus MC-dropout spread over ``mc_samples``."""
        shape = (-1, self.n_channels, self.window)
        self.eval()
        out = self.decoder(y_hat)
        var = out[:, 1:].clamp(-12.0, 8.0).exp()
        if mc_samples > 1:
            for m in self.decoder.modules():
                if isinstance(m, nn.Dropout):
                    m.train()
            draws = torch.stack([self.decoder(y_hat)[:, :1] for _ in range(mc_samples)])
            self.eval()
            var = var + draws.var(dim=0)
        return var.sqrt().reshape(shape)


class VaeConfig(LearnedRecordingConfig):
    beta: float = Field(default=0.05, ge=0.0, allow_inf_nan=False)
    nll_weight: float = Field(default=0.1, ge=0.0, allow_inf_nan=False)
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    mc_samples: int = Field(default=4, ge=0, le=256)
    error_bound: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)
    calibration_quantile: float = Field(default=0.95, gt=0.0, le=1.0)


def _zigzag(v: np.ndarray) -> np.ndarray:
    return np.where(v >= 0, 2 * v, -2 * v - 1)


def _unzigzag(s: np.ndarray) -> np.ndarray:
    return np.where(s % 2 == 0, s // 2, -(s + 1) // 2)


@register_codec("vae")
class VaeCodec(LearnedRecordingCodec):
    """VAE with β-KL, MC-dropout uncertainty and a residual layer that enforces a bound."""

    config_cls: ClassVar[type[CodecConfig]] = VaeConfig
    config: VaeConfig
    accepts_max_error = True

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.calibration: float = 1.0

    def _build_model(self, n_channels: int) -> RecordingModel:
        c = self.config
        return VaeModel(
            n_channels,
            c.window,
            c.latent_channels,
            c.hidden,
            beta=c.beta,
            nll_weight=c.nll_weight,
            dropout=c.dropout,
            encoder_hidden=c.encoder_hidden,
            stages=c.stages,
            entropy=c.entropy,
            hyper_channels=c.hyper_channels,
        )

    def _set_error_bound(self, max_error: float) -> None:
        self._set(error_bound=float(max_error))

    def _has_extra(self) -> bool:
        return self.config.error_bound is not None

    def _residual_step(self, dtype: np.dtype) -> float:
        e = float(self.config.error_bound or 0.0)
        if dtype.kind in "iu":
            return float(2 * int(np.floor(e)) + 1)
        if e <= 0:
            raise BadInputError("vae: a zero error bound on float data needs a lossless codec")
        return 2.0 * e

    def _cells(self, a: np.ndarray) -> np.ndarray:
        """Per (window, channel) cell maximum of ``a`` (channels × frames)."""
        w = self.config.window
        pad = -a.shape[1] % w
        full = np.pad(a, ((0, 0), (0, pad))) if pad else a
        return full.reshape(a.shape[0], -1, w).max(axis=2).T

    def _predicted(self, y_hat: Tensor, frames: int) -> np.ndarray:
        model = self._need_model()
        assert self.std is not None
        b = self.config.batch_windows
        per = model.n_channels
        n_win = y_hat.shape[0] // per
        parts = [
            model.predict_std(y_hat[s * per : (s + b) * per], self.config.mc_samples)
            for s in range(0, n_win, b)
        ]
        std = torch.cat(parts).numpy().transpose(1, 0, 2).reshape(per, -1)[:, :frames]
        return self._cells(std * self.std[:, None])

    def _after_training(self, val: np.ndarray) -> None:
        """Calibrate predicted error against actual error on the validation windows."""
        if not len(val):
            return
        model = self._need_model()
        with torch.no_grad():
            y_hat = model.entropy.dequantize(model.entropy.quantize(self._analysis(val)))
            wins = self._synthesis(y_hat, len(val))
        assert self.std is not None
        actual = np.abs(wins - val).max(axis=2) * self.std[None, :]
        pred = self._predicted(y_hat, len(val) * self.config.window)
        ratio = actual / np.maximum(pred, 1e-9)
        self.calibration = float(max(np.quantile(ratio, self.config.calibration_quantile), 1e-3))

    def _encode_extra(
        self, block: np.ndarray, recon: np.ndarray, y_hat: Tensor
    ) -> tuple[bytes, float]:
        bound = float(self.config.error_bound or 0.0)
        s = self._residual_step(block.dtype)
        diff = block.astype(np.float64) - recon.astype(np.float64)
        flags = (self._cells(np.abs(diff)) > bound) | (
            self.calibration * self._predicted(y_hat, block.shape[1]) > bound
        )
        w = self.config.window
        cells = [diff[c, i * w : (i + 1) * w] for i, c in zip(*np.nonzero(flags), strict=True)]
        values = np.rint(np.concatenate(cells) / s).astype(np.int64) if cells else np.zeros(0, int)
        sym = _zigzag(values)
        alphabet = int(sym.max()) + 1 if sym.size else 1
        if alphabet > _MAX_RESIDUAL_ALPHABET:
            raise BadInputError("vae: residual too large for the error-bound layer")
        f_model = fit_model(flags.ravel().astype(np.int64), 2)
        v_model = fit_model(sym, alphabet)
        head = np.array([alphabet], "<u4").tobytes() + np.array([s], "<f8").tobytes()
        ans = encode_groups([(flags.ravel().astype(np.int64), f_model), (sym, v_model)])
        est = f_model.estimated_bits(flags.ravel().astype(np.int64)) + v_model.estimated_bits(sym)
        codes = [quantize_counts(m.counts).tobytes() for m in (f_model, v_model)]
        return pack_sections([head, *codes, ans]), est

    def _apply_extra(self, extra: memoryview | bytes, recon: np.ndarray) -> np.ndarray:
        if not len(extra):
            return recon
        head, f_codes, v_codes, ans = unpack_sections(extra, expect=4)
        if len(head) != 12:
            raise CorruptStreamError("vae residual layer header is corrupt")
        alphabet = int(array_from(head[:4], "<u4", 1, "residual alphabet")[0])
        s = float(array_from(head[4:], "<f8", 1, "residual step")[0])
        if not (1 <= alphabet <= _MAX_RESIDUAL_ALPHABET and np.isfinite(s) and s > 0):
            raise CorruptStreamError("vae residual layer declares an impossible alphabet or step")
        f_model = SymbolModel(dequantize_counts(array_from(f_codes, "u1", 2, "flag model")))
        v_counts = dequantize_counts(array_from(v_codes, "u1", alphabet, "residual model"))
        v_model = SymbolModel(v_counts)
        if (f_model.counts.sum() <= 0) or (alphabet > 1 and v_counts.sum() <= 0):
            raise CorruptStreamError("vae residual layer has an empty model")
        w = self.config.window
        rows, frames = recon.shape
        n_win = -(-frames // w)
        dec = GroupDecoder(ans)
        flags = dec.take(n_win * rows, f_model).reshape(n_win, rows).astype(bool)
        lengths = [min(w, frames - i * w) for i, _ in zip(*np.nonzero(flags), strict=True)]
        values = _unzigzag(dec.take(int(sum(lengths)), v_model)).astype(np.float64) * s
        out = recon.astype(np.float64)
        pos = 0
        for (i, c), n in zip(zip(*np.nonzero(flags), strict=True), lengths, strict=True):
            out[c, i * w : i * w + n] += values[pos : pos + n]
            pos += n
        if recon.dtype.kind in "iu":
            info = np.iinfo(recon.dtype)
            out = np.clip(np.rint(out), info.min, info.max)
        return out.astype(recon.dtype)

    def _extra_meta(self) -> dict[str, Any]:
        return {"calibration": self.calibration}

    def _load_extra(self, meta: dict[str, Any]) -> None:
        self.calibration = float(meta.get("calibration", 1.0))
