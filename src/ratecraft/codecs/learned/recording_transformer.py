"""``transformer``: patch tokens, sinusoidal + learned positions, efficient attention, GELU FFN.

Each electrode's window is cut into patches of ``2^stages`` samples; a linear map embeds each
patch as a token; a sinusoidal code plus a learned position table mark where it is. Encoder
blocks (pre-norm, multi-head attention, GELU feed-forward) mix the tokens and a linear
**compression head** maps each token to ``latent_channels`` latents. The decoder mirrors it.

Attention is ``full`` softmax attention (quadratic in the number of tokens) or ``linear``
attention (Katharopoulos et al. 2020: ``φ(q)(φ(k)ᵀv)`` with ``φ = elu + 1``, linear in the
tokens) for long windows; ``auto`` uses full attention up to 64 tokens and linear above.
Everything is plain tensor algebra, so the encoder traces to ONNX/TorchScript.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ratecraft.codecs.learned.recording_models import RecordingModel

__all__ = ["Attention", "TransformerAE"]

AttentionKind = Literal["auto", "full", "linear"]
_AUTO_FULL_MAX_TOKENS = 64


def sinusoidal(tokens: int, dim: int) -> Tensor:
    """The fixed sin/cos position code (tokens × dim)."""
    pos = torch.arange(tokens, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(tokens, dim)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe


class Attention(nn.Module):
    """Multi-head self-attention, softmax (``full``) or kernelized (``linear``)."""

    def __init__(self, dim: int, heads: int, kind: Literal["full", "linear"]) -> None:
        super().__init__()
        self.heads, self.kind = heads, kind
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, h: Tensor) -> Tensor:
        n, t, d = h.shape
        q, k, v = self.qkv(h).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if self.kind == "full":
            o = F.scaled_dot_product_attention(q, k, v)
        else:
            q, k = F.elu(q) + 1.0, F.elu(k) + 1.0
            kv = torch.einsum("nhtd,nhte->nhde", k, v)
            norm = torch.einsum("nhtd,nhd->nht", q, k.sum(2)).clamp_min(1e-6)
            o = torch.einsum("nhtd,nhde->nhte", q, kv) / norm.unsqueeze(-1)
        return self.out(o.transpose(1, 2).reshape(n, t, d))


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, kind: Literal["full", "linear"]) -> None:
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, kind)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, h: Tensor) -> Tensor:
        h = h + self.attn(self.n1(h))
        return h + self.ffn(self.n2(h))


class TransformerAE(RecordingModel):
    """Patch-token transformer autoencoder, shared over electrodes (with the linear path of
    :class:`~ratecraft.codecs.learned.recording_models.ConvAE` beside it)."""

    linear_path = True

    def __init__(
        self,
        n_channels: int,
        window: int,
        latent_channels: int,
        hidden: int = 32,
        heads: int = 2,
        layers: int = 1,
        attention: AttentionKind = "auto",
        **kw,
    ):
        super().__init__(n_channels, window, latent_channels, **kw)
        dim = hidden - hidden % (2 * heads) or 2 * heads
        kind = attention
        if kind == "auto":
            kind = "full" if self.steps <= _AUTO_FULL_MAX_TOKENS else "linear"
        self.attention_kind = kind
        self.patch = 1 << self.stages
        self.embed = nn.Linear(self.patch, dim)
        self.register_buffer("pos_fixed", sinusoidal(self.steps, dim), persistent=False)
        self.pos_enc = nn.Parameter(torch.zeros(self.steps, dim))
        self.pos_dec = nn.Parameter(torch.zeros(self.steps, dim))
        self.enc_blocks = nn.Sequential(*[_Block(dim, heads, kind) for _ in range(layers)])
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, latent_channels))
        self.unhead = nn.Linear(latent_channels, dim)
        self.dec_blocks = nn.Sequential(*[_Block(dim, heads, kind) for _ in range(layers)])
        self.unembed = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, self.patch))

    def _encode(self, x: Tensor) -> Tensor:
        tokens = x.reshape(x.shape[0], self.steps, self.patch)
        h = self.embed(tokens) + self.pos_fixed + self.pos_enc
        return self.head(self.enc_blocks(h)).transpose(1, 2)

    def _decode(self, y_hat: Tensor) -> Tensor:
        h = self.unhead(y_hat.transpose(1, 2)) + self.pos_fixed + self.pos_dec
        patches = self.unembed(self.dec_blocks(h))
        return patches.reshape(y_hat.shape[0], 1, self.window)
