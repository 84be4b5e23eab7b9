"""A Gaussian conditional entropy model with a scale table (after CompressAI's
``GaussianConditional``), its integer tables held as module buffers.

Training: the likelihood of rounded values under N(0, σ²) per element, σ predicted elsewhere
(the hyperprior's synthesis). Coding: one fixed set of integer tables over a geometric scale
grid (:class:`~ratecraft.entropy.tables.ScaleTables`); each element is coded with the table of
the smallest grid scale at or above its predicted ``σ / step``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from ratecraft.entropy.buffers import TableBuffers
from ratecraft.entropy.tables import SCALE_MIN, ScaleTables

__all__ = ["GaussianConditional"]

_LIK_MIN = 1e-9


def _std_cdf(t: Tensor) -> Tensor:
    return 0.5 * torch.erfc(-t * (2.0**-0.5))


class GaussianConditional(nn.Module):
    """Likelihoods of rounded values under N(0, σ²), and coding with a scale-table grid."""

    def __init__(self, scale_min: float = SCALE_MIN) -> None:
        super().__init__()
        self.scale_min = float(scale_min)
        self.table_buffers = TableBuffers()

    def likelihood(self, y: Tensor, scales: Tensor) -> Tensor:
        s = scales.clamp_min(self.scale_min)
        v = y.abs()
        lik = _std_cdf((0.5 - v) / s) - _std_cdf((-0.5 - v) / s)
        return lik.clamp_min(_LIK_MIN)

    def update(self) -> ScaleTables:
        """Build the fixed scale-grid tables and keep them in the buffers."""
        tables = ScaleTables.build()
        self.install(tables)
        return tables

    def install(self, tables: ScaleTables) -> None:
        self.table_buffers.store(tables.codes, scales=tables.scales.tolist())

    @property
    def tables(self) -> ScaleTables:
        return self.table_buffers.cached(
            lambda b: ScaleTables(b.table_scales(), b.table_codes()),
            "gaussian conditional has no coding tables; call update()",
        )

    def index(self, scales: Tensor, step: float = 1.0) -> np.ndarray:
        """Table index per element for predicted scales (in latent units) at ``step``."""
        s = scales.clamp_min(self.scale_min).double().numpy() / step
        return self.tables.index(s)

    def compress(self, ints: np.ndarray, index: np.ndarray) -> tuple[bytes, float]:
        return self.tables.compress(ints, index)

    def decompress(self, payload: bytes | memoryview, index: np.ndarray) -> np.ndarray:
        return self.tables.decompress(payload, index)
