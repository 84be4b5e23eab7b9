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
from ratecraft.errors import BadInputError

__all__ = ["CategoricalTokens"]


class CategoricalTokens(nn.Module):
    """Token streams coded with per-stream integer frequency tables."""

    def __init__(self) -> None:
        super().__init__()
        self.table_buffers = TableBuffers()
        self._cache: tuple[int, TokenTables] | None = None

    def update(self, streams: list[np.ndarray], sizes: list[int]) -> TokenTables:
        """Tables from training token streams (``sizes``: each stream's codebook size)."""
        tables = TokenTables.fit(streams, sizes)
        self.install(tables)
        return tables

    def install(self, tables: TokenTables) -> None:
        self.table_buffers.store(tables.codes)
        self._cache = (self.table_buffers.generation, tables)

    @property
    def tables(self) -> TokenTables:
        gen = self.table_buffers.generation
        if self._cache is None or self._cache[0] != gen:
            if self.table_buffers.empty:
                raise BadInputError("token model has no coding tables; fit or load it first")
            self._cache = (gen, TokenTables(self.table_buffers.table_codes()))
        return self._cache[1]

    def compress(self, streams: list[np.ndarray]) -> tuple[bytes, float]:
        return self.tables.compress(streams)

    def decompress(self, payload: bytes | memoryview, n: int) -> list[np.ndarray]:
        return self.tables.decompress(payload, n)

    def estimated_bits(self, streams: list[np.ndarray]) -> float:
        return self.tables.estimated_bits(streams)
