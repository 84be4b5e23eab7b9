"""A factorized entropy bottleneck (after CompressAI's ``EntropyBottleneck``), integer tables as
module buffers.

Training: every latent channel has its own learned, monotone cumulative density (a tiny
per-channel MLP, Ballé et al. 2018). The rate term is ``−Σ log2 p(ỹ)`` with
``p(y) = CDF(y + ½) − CDF(y − ½)`` and ``ỹ = y + U(−½, ½)`` (additive uniform noise, a
differentiable stand-in for rounding); the decoder sees ``round(y)`` through a straight-through
estimator, so training and inference decode the same values.

Coding: :meth:`EntropyBottleneck.update` evaluates each channel's learned CDF on the bins of
``round(y / step)`` and turns it into an integer count table with an escape symbol
(:class:`~ratecraft.entropy.tables.CountTables`), held in buffers. The float CDF is never consulted
at coding time, so encoder and decoder agree bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ratecraft.entropy.buffers import TableBuffers
from ratecraft.entropy.tables import CountTables, counts_from_probs
from ratecraft.errors import BadInputError

__all__ = ["EntropyBottleneck"]

_LIKELIHOOD_BOUND = 1e-9
_TAIL = 1e-6
_COARSE = 64  # stride of the pass that brackets the support


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
        self.table_buffers = TableBuffers()

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

    # ---- integer tables ----------------------------------------------------------------------
    @torch.no_grad()
    def _cdf_bins(self, grid: Tensor, step: float) -> tuple[Tensor, Tensor]:
        """``P(Y ≤ (k + ½)·step)`` and ``P(Y ≤ (k − ½)·step)`` for integers ``k`` in ``grid``."""
        v = grid.to(torch.float32).expand(self.channels, 1, -1)
        hi = torch.sigmoid(self._logits_cumulative((v + 0.5) * step)).squeeze(1).double()
        lo = torch.sigmoid(self._logits_cumulative((v - 0.5) * step)).squeeze(1).double()
        return hi, lo

    @torch.no_grad()
    def tables_for(self, step: float = 1.0, max_support: int = 4096) -> CountTables:
        """Integer tables of ``round(y / step)``: support where the CDF lies inside the 1e-6
        tails (at most ±``max_support``), counts ``max(1, round(p·2^16))`` plus the escape (the
        tail mass), one-byte quantized. Float evaluation happens only here.

        The CDF is monotone, so a coarse pass (every 64th bin) brackets every channel's support
        and the exact pass evaluates only the bins inside the bracket.
        """
        coarse = torch.arange(-max_support, max_support + 1, _COARSE, dtype=torch.int64)
        c_hi, c_lo = self._cdf_bins(coarse, step)
        below = (c_hi <= _TAIL).to(torch.int64).sum(dim=1)  # coarse bins left of the support
        above = (c_lo >= 1.0 - _TAIL).to(torch.int64).sum(dim=1)  # and right of it
        first = int(coarse[max(int(below.min()) - 1, 0)])
        last = int(coarse[min(len(coarse) - int(above.min()), len(coarse) - 1)])
        grid = torch.arange(first, last + 1, dtype=torch.int64)
        hi, lo = self._cdf_bins(grid, step)
        offsets, codes = [], []
        for c in range(self.channels):
            inside = ((hi[c] > _TAIL) & (lo[c] < 1.0 - _TAIL)).nonzero().ravel()
            if inside.numel() == 0:
                a = b = int(torch.argmax(hi[c] - lo[c]))
            else:
                a, b = int(inside[0]), int(inside[-1])
            pmf = (hi[c, a : b + 1] - lo[c, a : b + 1]).clamp_min(0.0).numpy()
            codes.append(counts_from_probs(np.append(pmf, max(0.0, 1.0 - float(pmf.sum())))))
            offsets.append(first + a)
        return CountTables(offsets, codes)

    def update(self, step: float = 1.0, max_support: int = 4096) -> CountTables:
        """Build the tables for ``step`` (see :meth:`tables_for`) and keep them in the buffers."""
        tables = self.tables_for(step, max_support)
        self.install(tables)
        return tables

    def install(self, tables: CountTables) -> None:
        if tables.channels != self.channels:
            raise BadInputError(
                f"tables for {tables.channels} channels, bottleneck has {self.channels}"
            )
        self.table_buffers.store(tables.codes, tables.offsets)

    @property
    def tables(self) -> CountTables:
        """The installed tables (BadInputError before :meth:`update` or loading trained ones)."""
        return self.table_buffers.cached(
            lambda b: CountTables(b.table_offsets(), b.table_codes()),
            "entropy bottleneck has no coding tables; call update() first",
        )

    # ---- the entropy-model contract -----------------------------------------------------------
    @staticmethod
    def quantize(y: Tensor, step: float = 1.0) -> Tensor:
        """Integer latents (as float) of ``y`` at ``step``."""
        return torch.round(y / step)

    @staticmethod
    def dequantize(q: Tensor, step: float = 1.0) -> Tensor:
        return q * step

    def compress(self, ints: np.ndarray) -> tuple[bytes, float]:
        """Code integer latents (samples × channels); bytes and estimated bits."""
        return self.tables.compress(ints)

    def decompress(self, payload: bytes | memoryview, n: int) -> np.ndarray:
        return self.tables.decompress(payload, n)

    def estimated_bits(self, ints: np.ndarray) -> float:
        return self.tables.estimated_bits(ints)
