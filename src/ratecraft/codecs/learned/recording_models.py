"""The networks of the learned recording codecs: conv-ae, lstm-ae and spatial.

Every model maps normalized windows ``x`` (batch, channels, window) to continuous latents
``y`` (n, latent_channels, steps) with :meth:`RecordingModel.analysis`, and quantized latents
back to windows with :meth:`RecordingModel.synthesis`; a :class:`LatentEntropy` gives the
likelihoods. *Per-channel* models (conv-ae, lstm-ae, transformer, vae) share one network over
all electrodes (``n = batch·channels``), so they code any channel count at the same cost per
sample; the *joint* spatial model mixes electrodes and emits ``n = batch`` latent vectors.
``steps = window / 2^stages`` in both cases.

``forward(x)`` returns ``{"x_hat", "likelihoods"}`` (CompressAI's contract);
``train_terms(rows)`` is what :class:`~ratecraft.train.trainer.Trainer` calls, with windows
flattened to rows of ``channels·window`` values and the rate in bits per window.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from ratecraft.entropy.latent import EntropyKind, LatentEntropy
from ratecraft.errors import BadInputError

__all__ = [
    "ConvAE",
    "LstmAE",
    "RecordingModel",
    "SpatialAE",
    "adjacency_from_correlation",
    "adjacency_from_positions",
]


class _Encoder(nn.Module):
    """The traceable encoder of a model: normalized windows → continuous latents ``y``."""

    def __init__(self, model: RecordingModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model.analysis(x)


class RecordingModel(nn.Module):
    """Base: windows ⇄ latents plus an entropy model; subclasses build the two networks."""

    per_channel = True
    linear_path = False  # a learned linear transform code beside the networks (see ConvAE)

    def __init__(
        self,
        n_channels: int,
        window: int,
        latent_channels: int,
        *,
        stages: int = 3,
        entropy: EntropyKind = "factorized",
        hyper_channels: int = 8,
    ) -> None:
        super().__init__()
        if window % (1 << stages):
            raise BadInputError(f"window {window} must be a multiple of 2^stages = {1 << stages}")
        self.n_channels, self.window, self.stages = int(n_channels), int(window), int(stages)
        self.latent_channels = int(latent_channels)
        self.steps = self.window >> self.stages
        self.entropy = LatentEntropy(self.latent_channels, entropy, hyper_channels)
        if self.linear_path:
            f = 1 << self.stages
            self.linear_enc = nn.Conv1d(1, latent_channels, 2 * f, stride=f, padding=f // 2)
            self.linear_dec = nn.ConvTranspose1d(
                latent_channels, 1, 2 * f, stride=f, padding=f // 2
            )

    def analysis(self, x: Tensor) -> Tensor:
        """(batch, channels, window) → y (n, latent_channels, steps), before rounding."""
        b, c, w = x.shape
        flat = x.reshape(b * c, 1, w)
        y = self._encode(flat)
        return y + self.linear_enc(flat) if self.linear_path else y

    def synthesis(self, y_hat: Tensor) -> Tensor:
        """Quantized latents → windows (batch, channels, window)."""
        out = self._decode(y_hat)
        if self.linear_path:
            out = out + self.linear_dec(y_hat)
        return out.reshape(-1, self.n_channels, self.window)

    def _encode(self, x: Tensor) -> Tensor:
        raise TypeError(f"{type(self).__name__} must override _encode or analysis")

    def _decode(self, y_hat: Tensor) -> Tensor:
        raise TypeError(f"{type(self).__name__} must override _decode or synthesis")

    def encoder_module(self) -> nn.Module:
        """A module mapping float32 normalized windows (batch, channels, window) to ``y``."""
        return _Encoder(self)

    def forward(self, x: Tensor) -> dict[str, Any]:
        y = self.analysis(x)
        y_hat, likelihoods = self.entropy(y)
        return {"x_hat": self.synthesis(y_hat), "likelihoods": likelihoods}

    def aux_loss(self, out: dict[str, Any], x: Tensor) -> Tensor:
        """Model-specific extra loss (KL, uncertainty NLL); zero by default."""
        return x.new_zeros(())

    def train_terms(self, rows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(reconstructed rows, bits per window, auxiliary loss) for the trainer."""
        x = rows.reshape(-1, self.n_channels, self.window)
        out = self(x)
        bits = sum(-torch.log2(lik).sum() for lik in out["likelihoods"].values())
        return out["x_hat"].reshape(rows.shape), bits / x.shape[0], self.aux_loss(out, x)

    def latents_per_window(self) -> int:
        """How many latent values one window of all channels becomes."""
        n = self.n_channels if self.per_channel else 1
        return n * self.latent_channels * self.steps


def _down(c_in: int, c_out: int, k: int = 5) -> nn.Conv1d:
    return nn.Conv1d(c_in, c_out, k, stride=2, padding=k // 2)


def _up(c_in: int, c_out: int) -> nn.ConvTranspose1d:
    return nn.ConvTranspose1d(c_in, c_out, 4, stride=2, padding=1)


def conv_encoder(c_out: int, hidden: int, stages: int, c_in: int = 1) -> nn.Sequential:
    """``stages`` stride-2 convolutions (GELU between) from ``c_in`` to ``c_out`` channels."""
    layers: list[nn.Module] = []
    width = c_in
    for i in range(stages):
        last = i == stages - 1
        layers.append(_down(width, c_out if last else hidden, 7 if i == 0 else 5))
        if not last:
            layers.append(nn.GELU())
        width = hidden
    return nn.Sequential(*layers)


def conv_decoder(c_in: int, hidden: int, stages: int, c_out: int = 1) -> nn.Sequential:
    """``stages`` stride-2 transposed convolutions, then a 7-tap output convolution."""
    layers: list[nn.Module] = []
    width = c_in
    for _ in range(stages):
        layers += [_up(width, hidden), nn.GELU()]
        width = hidden
    layers.append(nn.Conv1d(hidden, c_out, 7, padding=3))
    return nn.Sequential(*layers)


def frame_encoder(c_out: int, hidden: int, stages: int) -> nn.Sequential:
    """A fast encoder working at the latent rate: one strided convolution over overlapping
    frames of ``2·2^stages`` samples, then a 3-tap and a 1×1 convolution (few, large GEMMs)."""
    f = 1 << stages
    return nn.Sequential(
        nn.Conv1d(1, hidden, 2 * f, stride=f, padding=f // 2),
        nn.GELU(),
        nn.Conv1d(hidden, hidden, 3, padding=1),
        nn.GELU(),
        nn.Conv1d(hidden, c_out, 1),
    )


class ConvAE(RecordingModel):
    """``conv-ae``: stride-2 1-D conv encoder, transposed-conv decoder, shared over channels.

    The encoder is narrow (``encoder_hidden``, about 150 multiply-adds per sample at the
    defaults) so it runs faster than real time on a couple of CPU cores or an implant's budget;
    the decoder (``hidden``) carries the capacity. A linear path runs beside each network —
    one strided convolution over two frames of ``2^stages`` samples and its transposed twin —
    so the model starts as a learned linear transform code (a filter bank) and the nonlinear
    layers learn what it misses.
    """

    linear_path = True

    def __init__(
        self,
        n_channels: int,
        window: int,
        latent_channels: int,
        hidden: int = 32,
        encoder_hidden: int = 8,
        encoder: Literal["conv", "frame"] = "conv",
        **kw: Any,
    ):
        super().__init__(n_channels, window, latent_channels, **kw)
        build = frame_encoder if encoder == "frame" else conv_encoder
        self.encoder = build(latent_channels, encoder_hidden, self.stages)
        self.decoder = conv_decoder(latent_channels, hidden, self.stages)

    def _encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def _decode(self, y_hat: Tensor) -> Tensor:
        return self.decoder(y_hat)


class _TimeAttention(nn.Module):
    """Residual multi-head self-attention over time steps of (n, steps, features)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, h: Tensor) -> Tensor:
        q = self.norm(h)
        return h + self.attn(q, q, q, need_weights=False)[0]


class LstmAE(RecordingModel):
    """``lstm-ae``: frames → bidirectional LSTM → attention over time → latents, and back
    (with the linear path of :class:`ConvAE` beside it)."""

    linear_path = True

    def __init__(
        self,
        n_channels: int,
        window: int,
        latent_channels: int,
        hidden: int = 32,
        heads: int = 2,
        **kw,
    ):
        super().__init__(n_channels, window, latent_channels, **kw)
        hidden += hidden % 2
        heads = math.gcd(heads, hidden)
        frame = 1 << self.stages
        self.frame_in = nn.Sequential(nn.Conv1d(1, hidden, frame, stride=frame), nn.GELU())
        self.enc_lstm = nn.LSTM(hidden, hidden // 2, batch_first=True, bidirectional=True)
        self.enc_attn = _TimeAttention(hidden, heads)
        self.to_latent = nn.Linear(hidden, latent_channels)
        self.from_latent = nn.Linear(latent_channels, hidden)
        self.dec_lstm = nn.LSTM(hidden, hidden // 2, batch_first=True, bidirectional=True)
        self.dec_attn = _TimeAttention(hidden, heads)
        self.frame_out = nn.Sequential(
            nn.ConvTranspose1d(hidden, hidden, frame, stride=frame),
            nn.GELU(),
            nn.Conv1d(hidden, 1, 5, padding=2),
        )

    def _encode(self, x: Tensor) -> Tensor:
        h = self.frame_in(x).transpose(1, 2)  # (n, steps, hidden)
        h = self.enc_attn(self.enc_lstm(h)[0])
        return self.to_latent(h).transpose(1, 2)

    def _decode(self, y_hat: Tensor) -> Tensor:
        h = self.from_latent(y_hat.transpose(1, 2))
        h = self.dec_attn(self.dec_lstm(h)[0])
        return self.frame_out(h.transpose(1, 2))


def adjacency_from_positions(positions: np.ndarray, k: int = 4) -> np.ndarray:
    """Symmetric kNN adjacency with Gaussian weights from electrode positions (C × dims)."""
    pos = np.asarray(positions, dtype=np.float64)
    d = np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
    c = len(pos)
    scale = np.median(np.sort(d, axis=1)[:, 1]) if c > 1 else 1.0
    w = np.exp(-((d / max(scale, 1e-9)) ** 2))
    return _knn(w, k)


def adjacency_from_correlation(samples: np.ndarray, k: int = 4) -> np.ndarray:
    """Symmetric kNN adjacency weighted by |correlation| between channels (C × frames)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.shape[0] < 2 or x.shape[1] < 2:
        return np.zeros((x.shape[0], x.shape[0]))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.nan_to_num(np.abs(np.corrcoef(x)))
    return _knn(r, k)


def _knn(w: np.ndarray, k: int) -> np.ndarray:
    w = w.copy()
    np.fill_diagonal(w, 0.0)
    keep = np.zeros_like(w, dtype=bool)
    kk = min(k, len(w) - 1)
    if kk > 0:
        idx = np.argsort(-w, axis=1)[:, :kk]
        np.put_along_axis(keep, idx, True, axis=1)
    keep |= keep.T
    return np.where(keep, w, 0.0)


class _GraphMix(nn.Module):
    """Residual graph convolution over electrodes: ``h + GELU(Â h W)``, ``Â`` = norm(A + I)
    plus a learned channel-mixing correction (zero at start)."""

    def __init__(self, n_channels: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("adjacency", torch.eye(n_channels))
        self.mix = nn.Parameter(torch.zeros(n_channels, n_channels))
        self.proj = nn.Linear(dim, dim)

    def set_adjacency(self, a: np.ndarray) -> None:
        a = np.asarray(a, dtype=np.float64) + np.eye(len(a))
        deg = a.sum(1)
        norm = a / np.sqrt(np.outer(deg, deg))
        self.adjacency.copy_(torch.as_tensor(norm, dtype=torch.float32))

    def forward(self, h: Tensor) -> Tensor:  # h: (b, channels, steps, dim)
        mixed = torch.einsum("ij,bjtd->bitd", self.adjacency + self.mix, h)
        return h + nn.functional.gelu(self.proj(mixed))


class SpatialAE(RecordingModel):
    """``spatial``: per-electrode temporal features, graph convolution over the electrode
    adjacency, then a joint projection of all electrodes to ``latent_channels`` per step."""

    per_channel = False

    def __init__(self, n_channels: int, window: int, latent_channels: int, hidden: int = 16, **kw):
        super().__init__(n_channels, window, latent_channels, **kw)
        self.hidden = hidden
        self.temporal_enc = conv_encoder(hidden, hidden, self.stages)
        self.enc_graph = _GraphMix(n_channels, hidden)
        self.to_latent = nn.Conv1d(n_channels * hidden, latent_channels, 1)
        self.from_latent = nn.Conv1d(latent_channels, n_channels * hidden, 1)
        self.dec_graph = _GraphMix(n_channels, hidden)
        self.temporal_dec = conv_decoder(hidden, hidden, self.stages)

    def set_adjacency(self, a: np.ndarray) -> None:
        """Electrode adjacency (C × C, nonnegative) used by both graph convolutions."""
        for g in (self.enc_graph, self.dec_graph):
            g.set_adjacency(a)

    def analysis(self, x: Tensor) -> Tensor:
        b, c, w = x.shape
        h = self.temporal_enc(x.reshape(b * c, 1, w))  # (b·c, hidden, steps)
        h = h.reshape(b, c, self.hidden, self.steps).transpose(2, 3)
        h = self.enc_graph(h).transpose(2, 3).reshape(b, c * self.hidden, self.steps)
        return self.to_latent(h)

    def synthesis(self, y_hat: Tensor) -> Tensor:
        b = y_hat.shape[0]
        c = self.n_channels
        h = self.from_latent(y_hat).reshape(b, c, self.hidden, self.steps).transpose(2, 3)
        h = self.dec_graph(h).transpose(2, 3).reshape(b * c, self.hidden, self.steps)
        return self.temporal_dec(h).reshape(b, c, self.window)
