"""Categorical token frequencies (VQ codebook indices), integer tables as module buffers.

One table per token stream (a category's quantizer level), from the training tokens'
histogram plus one, so every code stays codable; coded with constriction's ANS
(:class:`~ratecraft.entropy.tables.TokenTables`).
"""

from __future__ import annotations

import numpy as np
from torch import nn

from ratecraft.entropy.buffers import TableBuffers
from ratecraft.entropy.tables import TokenTables

__all__ = ["CategoricalTokens"]


class CategoricalTokens(nn.Module):
    """Token streams coded with per-stream integer frequency tables."""

    def __init__(self) -> None:
        super().__init__()
        self.table_buffers = TableBuffers()

    def update(self, streams: list[np.ndarray], sizes: list[int]) -> TokenTables:
        """Tables from training token streams (``sizes``: each stream's codebook size)."""
        tables = TokenTables.fit(streams, sizes)
        self.install(tables)
        return tables

    def install(self, tables: TokenTables) -> None:
        self.table_buffers.store(tables.codes)

    @property
    def tables(self) -> TokenTables:
        return self.table_buffers.cached(
            lambda b: TokenTables(b.table_codes()),
            "token model has no coding tables; fit or load it first",
        )

    def compress(self, streams: list[np.ndarray]) -> tuple[bytes, float]:
        return self.tables.compress(streams)

    def decompress(self, payload: bytes | memoryview, n: int) -> list[np.ndarray]:
        return self.tables.decompress(payload, n)

    def estimated_bits(self, streams: list[np.ndarray]) -> float:
        return self.tables.estimated_bits(streams)
