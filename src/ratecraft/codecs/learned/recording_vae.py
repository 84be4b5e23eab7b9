"""``vae``: a variational recording codec with predicted uncertainty and an error-bound fallback.

The encoder outputs a mean and a log-variance per latent; training samples the latent by
reparameterization (``μ + σ·ε``) and adds ``β·KL(q(y|x) ‖ N(0, 1))`` to the loss; coding uses
the mean. The decoder has dropout and two outputs per sample: the reconstruction and its
log-variance (trained by a Gaussian NLL on the detached error, so it learns how wrong the
reconstruction is without pulling on it). :meth:`VaeModel.predict_std` combines that aleatoric
variance with the spread of ``mc_samples`` Monte-Carlo dropout passes.

**Error bound.** With ``error_bound`` (stored units; ``Budget(max_error=e)`` sets it) the
predicted std is calibrated after training on the validation windows (factor ``c``: the
``calibration_quantile`` of actual max error / predicted max std per channel-window; it is
what :meth:`VaeCodec.predicted_error` reports). Every chunk then carries the shared refinement
layer (:class:`~ratecraft.entropy.refinement.Refinement`): the error quantized with step
``2⌊e⌋+1`` (integer data) or ``2e`` (float), which is zero — and costs almost nothing — where
the reconstruction is already within the bound, so every decoded sample is within it.

Payload version 1 (ratecraft 0.1) coded the layer only in flagged channel-windows with a
histogram model in the stream; such chunks still decode.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field
from torch import Tensor, nn

from ratecraft.bitstream.ans import GroupDecoder, SymbolModel, dequantize_counts
from ratecraft.bitstream.sections import array_from, unpack_sections
from ratecraft.codecs.base import CodecConfig, register_codec
from ratecraft.codecs.learned.recording_codec import LearnedRecordingCodec, LearnedRecordingConfig
from ratecraft.codecs.learned.recording_models import RecordingModel, conv_encoder
from ratecraft.entropy.refinement import Refinement, error_bound_step
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
    beta: float = Field(
        default=0.05, ge=0.0, allow_inf_nan=False, description="weight of the KL term"
    )
    nll_weight: float = Field(
        default=0.1,
        ge=0.0,
        allow_inf_nan=False,
        description="weight of the Gaussian likelihood that trains the uncertainty head",
    )
    dropout: float = Field(
        default=0.1, ge=0.0, lt=1.0, description="decoder dropout (for MC-dropout uncertainty)"
    )
    mc_samples: int = Field(
        default=4, ge=0, le=256, description="MC-dropout passes of the uncertainty estimate"
    )
    error_bound: float | None = Field(
        default=None,
        ge=0.0,
        allow_inf_nan=False,
        description="max error (stored units) the residual layer holds; a max_error budget sets it",
    )
    calibration_quantile: float = Field(
        default=0.95,
        gt=0.0,
        le=1.0,
        description="quantile of |error| / predicted std the uncertainty is calibrated to",
    )


def _to_dtype(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        x = np.clip(np.rint(x), info.min, info.max)
    return x.astype(dtype)


def _unzigzag(s: np.ndarray) -> np.ndarray:
    return np.where(s % 2 == 0, s // 2, -(s + 1) // 2)


@register_codec("vae")
class VaeCodec(LearnedRecordingCodec):
    """VAE with β-KL, MC-dropout uncertainty and a residual layer that enforces a bound."""

    config_cls: ClassVar[type[CodecConfig]] = VaeConfig
    config: VaeConfig
    version = 2  # 2: the error-bound layer is the shared refinement layer
    budgets = ("ratio", "max_error")
    _extra_keys = ("calibration",)

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
        try:
            return error_bound_step(float(self.config.error_bound or 0.0), dtype.kind in "iu")
        except BadInputError as exc:
            raise BadInputError(f"vae: {exc}") from None

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

    def predicted_error(self, data: Any) -> np.ndarray:
        """Calibrated predicted max |error| per (window, channel) for a recording, in stored
        units: the VAE's own estimate of its quality, without coding anything."""
        self.check_input(data)
        model = self._need_model()
        wins = self._windows(data.samples)
        with torch.no_grad():
            y_hat = model.entropy.dequantize(model.entropy.quantize(self._analysis(wins)))
        return self.calibration * self._predicted(y_hat, data.samples.shape[1])

    def _encode_extra(self, block: np.ndarray, recon: np.ndarray) -> tuple[bytes, float]:
        layer = Refinement(self._residual_step(block.dtype))
        diff = block.astype(np.float64) - recon.astype(np.float64)
        return layer.compress(layer.quantize(diff))

    def _apply_extra(
        self, extra: memoryview | bytes, recon: np.ndarray, codec_version: int
    ) -> np.ndarray:
        if not len(extra):
            return recon
        if codec_version < 2:
            return self._apply_flagged(extra, recon)
        if self.config.error_bound is None:
            raise CorruptStreamError("vae chunk carries an error-bound layer this model lacks")
        layer = Refinement(self._residual_step(recon.dtype))
        rows, frames = recon.shape
        out = recon.astype(np.float64) + layer.dequantize(layer.decompress(extra, rows, frames))
        return _to_dtype(out, recon.dtype)

    def _apply_flagged(self, extra: memoryview | bytes, recon: np.ndarray) -> np.ndarray:
        """The error-bound layer of payload version 1: flagged windows, a histogram model."""
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
        return _to_dtype(out, recon.dtype)

    def _extra_meta(self) -> dict[str, Any]:
        return {"calibration": self.calibration}

    def _load_extra(self, meta: dict[str, Any]) -> None:
        self.calibration = float(meta.get("calibration", 1.0))
