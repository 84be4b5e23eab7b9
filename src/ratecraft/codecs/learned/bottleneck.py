"""`adaptive-bottleneck` and `grouped-vae`: autoencoders with factorized entropy bottlenecks.

Both are one model, :class:`BranchedBottleneck`: a list of branches, each an encoder (MLP, or
the temporal CNN for time-series families), an :class:`EntropyBottleneck` of the branch's width
and an MLP decoder writing back its own columns.

- ``adaptive-bottleneck`` has one branch over every feature, of width
  ``max(1, round(latent_dims / compression_level))`` (half up). The level therefore changes the
  encoder's last layer, the decoder's first layer and the bottleneck, so the parameter count
  and the number of coded latents fall as the level rises. With ``Budget(ratio=R)`` the width
  is the number of components reverse water-filling gives bits to at the budget's bits per
  sample (divided by the level), and the trainer steers the estimated rate to those bits.
- ``grouped-vae`` has one branch per feature group with the width :func:`allocate` gives it
  (strategy or ``compression_ratios`` from the config); ``group_weights`` weight each group's
  distortion in the loss. With ``Budget(ratio=R)`` the bits split across groups by the same
  allocation, and the trainer steers the *total* estimated rate to the budget.

Latents are rounded to integers and coded with per-channel integer tables (escape for
out-of-support values), so ``decode(encode(x))`` equals :meth:`reconstruct` exactly.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field
from torch import Tensor, nn

from ratecraft.allocation import (
    Allocation,
    AllocationBudget,
    GroupAllocation,
    GroupStats,
    allocate,
    parse_compression_ratios,
)
from ratecraft.codecs.base import register_codec
from ratecraft.codecs.learned.blocks import MLP, family_encoder
from ratecraft.codecs.learned.table_codec import LearnedTableCodec, LearnedTableConfig
from ratecraft.entropy.factorized import EntropyBottleneck
from ratecraft.entropy.tables import CountTables
from ratecraft.errors import BadInputError

__all__ = [
    "AdaptiveBottleneckCodec",
    "BottleneckConfig",
    "BranchedBottleneck",
    "GroupedVAECodec",
]


class BranchedBottleneck(nn.Module):
    """Branches ``(name, columns, width, temporal)`` over an ``n_features``-wide input."""

    def __init__(
        self, n_features: int, branches: list[tuple[str, list[int], int, bool]], hidden: int
    ) -> None:
        super().__init__()
        if any(width < 1 for _, _, width, _ in branches):
            raise BadInputError("every branch needs a latent width ≥ 1 (zero-width group)")
        self.n_features = n_features
        self.names = [b[0] for b in branches]
        self.columns = [list(b[1]) for b in branches]
        self.widths = [int(b[2]) for b in branches]
        self.encoders = nn.ModuleList(
            family_encoder(len(c), w, temporal=t, hidden=hidden) for _, c, w, t in branches
        )
        self.decoders = nn.ModuleList(MLP(w, len(c), hidden=hidden) for _, c, w, _ in branches)
        self.bottlenecks = nn.ModuleList(EntropyBottleneck(w) for w in self.widths)

    def encode(self, x: Tensor) -> list[Tensor]:
        return [enc(x[:, c]) for enc, c in zip(self.encoders, self.columns, strict=True)]

    def decode(self, latents: list[Tensor]) -> Tensor:
        out = torch.zeros(latents[0].shape[0], self.n_features, dtype=latents[0].dtype)
        for dec, c, y in zip(self.decoders, self.columns, latents, strict=True):
            out[:, c] = dec(y)
        return out

    def train_terms(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Reconstruction, rate (bits per sample), no auxiliary loss."""
        decoded, rate = [], x.new_zeros(())
        for bn, y in zip(self.bottlenecks, self.encode(x), strict=True):
            y_hat, lik = bn(y)
            decoded.append(y_hat)
            rate = rate - torch.log2(lik).sum() / x.shape[0]
        return self.decode(decoded), rate, x.new_zeros(())

    @torch.no_grad()
    def quantized_latents(self, x: Tensor) -> np.ndarray:
        """Integer latents of every branch, concatenated (samples × Σ widths)."""
        return torch.cat([torch.round(y) for y in self.encode(x)], dim=1).numpy().astype(np.int64)

    @torch.no_grad()
    def decode_ints(self, ints: np.ndarray) -> Tensor:
        y = torch.from_numpy(ints.astype(np.float32))
        return self.decode(list(torch.split(y, self.widths, dim=1)))


class BottleneckConfig(LearnedTableConfig):
    """Bottleneck codecs: ``max_support`` bounds the integer tables (escape beyond it)."""

    max_support: int = Field(
        default=4096, ge=1, le=1 << 20, description="integer table support; values beyond it escape"
    )


class _BottleneckCodec(LearnedTableCodec):
    config_cls: ClassVar[type[BottleneckConfig]] = BottleneckConfig  # type: ignore[assignment]
    config: BottleneckConfig
    model: BranchedBottleneck | None

    @abstractmethod
    def _branches(self) -> list[tuple[str, list[int], int, bool]]: ...

    def _build_model(self) -> nn.Module:
        assert self.layout is not None
        return BranchedBottleneck(self.layout.n_features, self._branches(), self.config.hidden)

    def _target_rate(self, bits: float | None) -> float | None:
        if bits is None:
            return None
        return bits / self.config.compression_level

    def _finalize(self, z: np.ndarray) -> None:
        assert self.model is not None
        for bn in self.model.bottlenecks:
            bn.update(1.0, self.config.max_support)

    def _tables(self) -> CountTables:
        if self.model is None:
            raise BadInputError(f"{self.name} has no entropy tables; fit or load it first")
        return CountTables.concat([bn.tables for bn in self.model.bottlenecks])

    def _encode_z(self, z: np.ndarray) -> tuple[bytes, float]:
        assert self.model is not None
        ints = self.model.quantized_latents(torch.from_numpy(z.astype(np.float32)))
        return self._tables().compress(ints)

    def _decode_z(self, payload: memoryview, n: int) -> np.ndarray:
        assert self.model is not None
        ints = self._tables().decompress(payload, n)
        return self.model.decode_ints(ints).numpy().astype(np.float64)

    def _forward_z(self, z: np.ndarray) -> np.ndarray:
        assert self.model is not None
        self.model.eval()
        with torch.no_grad():
            ints = self.model.quantized_latents(torch.from_numpy(z.astype(np.float32)))
            return self.model.decode_ints(ints).numpy().astype(np.float64)

    def latents(self, values: np.ndarray) -> np.ndarray:
        """Integer latents of a samples × features table (original units), per branch order."""
        z, _ = self._z_of(values)
        assert self.model is not None
        return self.model.quantized_latents(torch.from_numpy(z.astype(np.float32)))

    def _install_legacy_tables(self, doc: dict[str, Any]) -> None:
        assert self.model is not None
        tables = CountTables.from_json(doc.get("entropy_tables", {}))
        if tables.channels != sum(self.model.widths):
            raise BadInputError("entropy tables do not match the model's latent width")
        pos = 0
        for bn in self.model.bottlenecks:
            n = bn.channels
            bn.install(CountTables(tables.offsets[pos : pos + n], tables.codes[pos : pos + n]))
            pos += n


@register_codec("adaptive-bottleneck")
class AdaptiveBottleneckCodec(_BottleneckCodec):
    """One MLP autoencoder over all features; width ``latent_dims / compression_level``."""

    def _plan(self, stats: list[GroupStats], bits: float | None) -> Allocation:
        cfg = self.config
        n = sum(s.dims for s in stats)
        if bits is None:
            width, _ = AllocationBudget(
                latent_dims=cfg.latent_dims, compression_level=cfg.compression_level
            ).effective()
        else:  # components worth coding at this many bits (reverse water-filling)
            single = GroupStats.from_spectrum("all", np.concatenate([s.spectrum for s in stats]))
            plan = AllocationBudget(bits=bits, compression_level=cfg.compression_level)
            width = allocate([single], plan, "rd").latent_dims
        width = max(1, int(width or 1))
        total_bits = None if bits is None else bits / cfg.compression_level
        return Allocation(
            strategy="single",
            requested_strategy=cfg.allocation_strategy,
            latent_dims=width,
            bits=total_bits,
            compression_level=cfg.compression_level,
            levels=1,
            groups=[GroupAllocation(name="all", features=n, latent_dims=width, bits=total_bits)],
        )

    def _branches(self) -> list[tuple[str, list[int], int, bool]]:
        assert self.layout is not None and self.allocation is not None
        cols = list(range(self.layout.n_features))
        return [("all", cols, self.allocation.latent_dims, False)]


@register_codec("grouped-vae")
class GroupedVAECodec(_BottleneckCodec):
    """One encoder/bottleneck/decoder branch per group with its allocated width."""

    def _plan(self, stats: list[GroupStats], bits: float | None) -> Allocation:
        cfg = self.config
        names = [s.name for s in stats]
        ratios = parse_compression_ratios(cfg.compression_ratios, names, levels=1)
        strategy = "manual" if ratios is not None else cfg.allocation_strategy
        budget = AllocationBudget(
            latent_dims=cfg.latent_dims, bits=bits, compression_level=cfg.compression_level
        )
        return allocate(stats, budget, strategy, weights=ratios, levels=1)

    def _branches(self) -> list[tuple[str, list[int], int, bool]]:
        assert self.layout is not None and self.allocation is not None
        temporal = set(self.config.temporal_families)
        return [
            (g.name, self.layout.groups[g.name], g.latent_dims, g.name in temporal)
            for g in self.allocation.groups
        ]
