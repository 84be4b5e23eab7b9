"""Integer tables as module buffers, so a model's coding tables travel with its weights.

:class:`TableBuffers` keeps a list of one-byte count tables (padded into a ``uint8`` matrix with
their lengths), optional integer offsets and optional float scales. Buffers are resized when a
state dict with other table sizes is loaded (as CompressAI's entropy models do), so a model
built from its config accepts its trained tables with ``load_state_dict(strict=True)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from ratecraft.errors import BadInputError

__all__ = ["TableBuffers"]

T = TypeVar("T")


class TableBuffers(nn.Module):
    """Buffers ``codes`` (tables × longest, uint8), ``lengths``, ``offsets`` and ``scales``."""

    codes: Tensor
    lengths: Tensor
    offsets: Tensor
    scales: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("codes", torch.zeros(0, 0, dtype=torch.uint8))
        self.register_buffer("lengths", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("offsets", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("scales", torch.zeros(0, dtype=torch.float64))
        self.generation = 0  # bumped on every change, so readers can cache what they build

    @property
    def empty(self) -> bool:
        return self.lengths.numel() == 0

    def cached(self, build: Callable[[TableBuffers], T], missing: str) -> T:
        """The coding tables ``build`` makes from these buffers, rebuilt only when they change
        (BadInputError ``missing`` while there are none)."""
        cache = self.__dict__.get("_cached")
        if cache is None or cache[0] != self.generation:
            if self.empty:
                raise BadInputError(missing)
            cache = (self.generation, build(self))
            self.__dict__["_cached"] = cache
        return cache[1]

    def store(
        self,
        codes: list[list[int]],
        offsets: list[int] | None = None,
        scales: list[float] | None = None,
    ) -> None:
        """Replace the tables (offsets/scales: one per table, or none)."""
        width = max((len(c) for c in codes), default=0)
        mat = torch.zeros(len(codes), width, dtype=torch.uint8)
        for i, c in enumerate(codes):
            mat[i, : len(c)] = torch.tensor(c, dtype=torch.uint8)
        self.codes = mat
        self.lengths = torch.tensor([len(c) for c in codes], dtype=torch.int64)
        self.offsets = torch.tensor(offsets or [], dtype=torch.int64)
        self.scales = torch.tensor(scales or [], dtype=torch.float64)
        self.generation += 1

    def table_codes(self) -> list[list[int]]:
        mat = self.codes.tolist()
        return [row[:n] for row, n in zip(mat, self.lengths.tolist(), strict=True)]

    def table_offsets(self) -> list[int]:
        return [int(v) for v in self.offsets.tolist()]

    def table_scales(self) -> list[float]:
        return [float(v) for v in self.scales.tolist()]

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        for name in ("codes", "lengths", "offsets", "scales"):
            value = state_dict.get(prefix + name)
            if isinstance(value, Tensor):
                current = getattr(self, name)
                setattr(self, name, torch.empty_like(current).resize_(value.shape))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self.generation += 1
