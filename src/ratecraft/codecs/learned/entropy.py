"""A factorized entropy bottleneck (after CompressAI's EntropyBottleneck) with integer tables.

Training: every latent channel has its own learned, monotone cumulative density (a tiny
per-channel MLP, Ballé et al. 2018). The rate term is ``−Σ log2 p(ỹ)`` with
``p(y) = CDF(y + ½) − CDF(y − ½)`` and ``ỹ = y + U(−½, ½)`` (additive uniform noise, a
differentiable stand-in for rounding); the decoder sees ``round(y)`` through a straight-through
estimator, so training and inference decode the same values.

Coding: :meth:`EntropyBottleneck.update` turns each channel's learned CDF into an *integer*
count table over a finite support ``offset .. offset + n − 1`` plus one **escape** symbol (the
tail mass). Tables are stored as one-byte count codes (:func:`quantize_counts`) and the coder
is built from the decoded integer counts, so the float CDF is never consulted at coding time
and encoder and decoder agree bit for bit. A value outside the support is coded as the escape
symbol followed by its exact value as an int32 in a side section: nothing is clamped, so there
is **no extra error** from out-of-support values, only extra bits (32 + escape cost each).
Values beyond ±2^31 are refused (an encoder that diverged that far is broken).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ratecraft.bitstream.ans import (
    GroupDecoder,
    SymbolModel,
    dequantize_counts,
    encode_groups,
    quantize_counts,
)
from ratecraft.bitstream.sections import array_from, pack_sections, unpack_sections
from ratecraft.errors import BadInputError, CorruptStreamError

__all__ = ["EntropyBottleneck", "EntropyTables"]

_LIKELIHOOD_BOUND = 1e-9
_TABLE_PRECISION = 1 << 16  # total count before one-byte quantization
_INT32 = 2**31 - 1


class EntropyTables:
    """Per-channel integer tables: ``offsets[c]`` and one-byte count codes (escape last)."""

    def __init__(self, offsets: list[int], codes: list[list[int]]) -> None:
        if len(offsets) != len(codes) or not offsets:
            raise BadInputError("entropy tables need one offset and one count table per channel")
        for c in codes:
            if len(c) < 2 or any(not 0 <= v <= 255 for v in c):
                raise BadInputError("entropy count codes must be bytes, ≥ 2 per channel")
        self.offsets = [int(o) for o in offsets]
        self.codes = [[int(v) for v in c] for c in codes]
        self.models = [SymbolModel(dequantize_counts(np.asarray(c))) for c in self.codes]
        if any(int(m.counts.min()) < 1 for m in self.models):
            raise BadInputError("entropy count tables must give every symbol a nonzero count")

    @property
    def channels(self) -> int:
        return len(self.offsets)

    def to_json(self) -> dict:
        return {"offsets": self.offsets, "codes": self.codes}

    @classmethod
    def from_json(cls, doc: dict) -> EntropyTables:
        try:
            return cls(list(doc["offsets"]), list(doc["codes"]))
        except (KeyError, TypeError) as exc:
            raise BadInputError(f"malformed entropy tables ({exc})") from None

    def _symbols(self, values: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Per-channel symbols (escape = last) and the escaped raw values, channel-major."""
        symbols, escapes = [], []
        for c in range(self.channels):
            n = len(self.codes[c]) - 1
            s = values[:, c] - self.offsets[c]
            out = (s < 0) | (s >= n)
            symbols.append(np.where(out, n, s).astype(np.int64))
            escapes.append(values[out, c])
        return symbols, np.concatenate(escapes) if escapes else np.zeros(0, np.int64)

    def compress(self, values: np.ndarray) -> tuple[bytes, float]:
        """Code integer latents (samples × channels); returns bytes and −Σlog2 p + escape bits."""
        v = np.asarray(values)
        if v.ndim != 2 or v.shape[1] != self.channels or not np.issubdtype(v.dtype, np.integer):
            raise BadInputError(f"expected integer latents × {self.channels} channels")
        if v.size and np.abs(v).max() > _INT32:
            raise BadInputError("latent values beyond ±2^31 cannot be coded")
        symbols, escapes = self._symbols(v.astype(np.int64))
        ans = encode_groups(list(zip(symbols, self.models, strict=True)))
        est = sum(m.estimated_bits(s) for s, m in zip(symbols, self.models, strict=True))
        raw = escapes.astype("<i4").tobytes()
        return pack_sections([ans, raw]), float(est + 32 * escapes.size)

    def decompress(self, payload: bytes | memoryview, n: int) -> np.ndarray:
        """Inverse of :meth:`compress` for ``n`` samples (int64, samples × channels)."""
        ans, raw = unpack_sections(payload, expect=2)
        if len(raw) % 4 or len(raw) // 4 > n * self.channels:
            raise CorruptStreamError("entropy payload declares an impossible number of escapes")
        escapes = array_from(raw, "<i4", len(raw) // 4, "escaped latents").astype(np.int64)
        dec = GroupDecoder(ans)
        out = np.empty((n, self.channels), dtype=np.int64)
        pos = 0
        for c, model in enumerate(self.models):
            sym = dec.take(n, model)
            esc = sym == len(self.codes[c]) - 1
            k = int(esc.sum())
            if pos + k > escapes.size:
                raise CorruptStreamError("entropy payload has fewer escaped values than escapes")
            col = sym + self.offsets[c]
            col[esc] = escapes[pos : pos + k]
            pos += k
            out[:, c] = col
        if pos != escapes.size:
            raise CorruptStreamError("entropy payload has more escaped values than escapes")
        return out


class EntropyBottleneck(nn.Module):
    """Per-channel learned factorized density over ``channels`` latents (samples × channels)."""

    def __init__(
        self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0
    ) -> None:
        super().__init__()
        if channels < 1:
            raise BadInputError(f"an entropy bottleneck needs ≥ 1 channel, got {channels}")
        self.channels = int(channels)
        dims = (1, *filters, 1)
        scale = init_scale ** (1.0 / (len(dims) - 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(dims) - 1):
            init = math.log(math.expm1(1.0 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(dims) - 2:
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))
        self.tables: EntropyTables | None = None

    def _logits_cumulative(self, v: Tensor) -> Tensor:
        """Logit of the CDF at ``v`` (channels × 1 × N)."""
        logits = v
        for i, (m, b) in enumerate(zip(self.matrices, self.biases, strict=True)):
            logits = torch.matmul(F.softplus(m), logits) + b
            if i < len(self.factors):
                logits = logits + torch.tanh(self.factors[i]) * torch.tanh(logits)
        return logits

    def likelihood(self, y: Tensor) -> Tensor:
        """``P(round(y) = y)`` under the learned density, samples × channels, ≥ 1e-9."""
        v = y.transpose(0, 1).unsqueeze(1)
        lower = self._logits_cumulative(v - 0.5)
        upper = self._logits_cumulative(v + 0.5)
        sign = -torch.sign(lower + upper).detach()
        lik = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        return lik.squeeze(1).transpose(0, 1).clamp_min(_LIKELIHOOD_BOUND)

    def forward(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """(values the decoder sees, likelihoods). Training: noisy rate, STE-rounded values."""
        if self.training:
            noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
            return y + (torch.round(y) - y).detach(), self.likelihood(noisy)
        y_hat = torch.round(y)
        return y_hat, self.likelihood(y_hat)

    @torch.no_grad()
    def update(self, max_support: int = 4096, tail: float = 1e-6) -> EntropyTables:
        """Integer tables from the learned CDFs: support where the CDF is inside (tail, 1−tail).

        Counts are ``max(1, round(p · 2^16))`` per support value plus the escape (the tail
        mass outside the support), then one-byte quantized. Float evaluation happens only here.
        """
        grid = torch.arange(-max_support, max_support + 1, dtype=torch.float32)
        v = grid.expand(self.channels, 1, -1)
        cdf_hi = torch.sigmoid(self._logits_cumulative(v + 0.5)).squeeze(1)  # P(Y ≤ k + ½)
        cdf_lo = torch.sigmoid(self._logits_cumulative(v - 0.5)).squeeze(1)
        offsets, codes = [], []
        for c in range(self.channels):
            inside = ((cdf_hi[c] > tail) & (cdf_lo[c] < 1.0 - tail)).nonzero().ravel()
            if inside.numel() == 0:
                mid = int(torch.argmax(cdf_hi[c] - cdf_lo[c]))
                lo, hi = mid, mid
            else:
                lo, hi = int(inside[0]), int(inside[-1])
            pmf = (cdf_hi[c, lo : hi + 1] - cdf_lo[c, lo : hi + 1]).double().clamp_min(0.0)
            escape = max(0.0, 1.0 - float(pmf.sum()))
            probs = np.append(pmf.numpy(), escape)
            counts = np.maximum(1, np.rint(probs * _TABLE_PRECISION)).astype(np.int64)
            offsets.append(lo - max_support)
            codes.append(quantize_counts(counts).tolist())
        self.tables = EntropyTables(offsets, codes)
        return self.tables

    def compress(self, latents_int: np.ndarray) -> tuple[bytes, float]:
        """Code integer latents with the tables from :meth:`update`."""
        return self._need_tables().compress(latents_int)

    def decompress(self, payload: bytes | memoryview, n: int) -> np.ndarray:
        return self._need_tables().decompress(payload, n)

    def _need_tables(self) -> EntropyTables:
        if self.tables is None:
            raise BadInputError("entropy bottleneck has no coding tables; call update() first")
        return self.tables
