"""`vqvae`: a hierarchical (residual) VQ-VAE per feature category, tokens entropy coded.

Each category (feature group) has its own encoder (MLP, or the temporal CNN for time-series
families), ``levels`` residual quantizers L0 (coarse) … L{n−1} (fine) and an MLP decoder.
Level ``l`` quantizes what the levels before it left over, so tokens are coarse to fine.
Codebook sizes per category and level come from :func:`allocate` (bits per sample split across
groups, then across levels, as ``2^n`` codebooks), and the latent width per category from its
latent-dim allocation. Quantizers are vector-quantize-pytorch's ``VectorQuantize`` with k-means
initialisation, EMA codebooks and dead-code replacement (``threshold_ema_dead_code``); or FSQ
(``quantizer: fsq``; a codebook size ``2^n`` becomes FSQ levels of 3–8 per dimension).

**Codebook health** (:mod:`~ratecraft.codecs.learned.codebooks`): the codebooks are initialized
by k-means on the whole training table (``codebook_init: table``) rather than its first batch, a
code is replaced when its use falls under ``dead_code_share`` of its fair share of a batch, and
after training every code chosen at under a tenth of its fair share is pruned
(``prune_codes``), level by level, so token streams index only live codes. The fit report gives
the dead-code fraction before and after pruning. Models saved before these options existed
reload with all three off (:class:`~ratecraft.config.NeutralFields`).

**Rate.** With ``Budget(ratio=R)`` the bits per sample left after container overhead become the
allocation's bit budget, so the codebooks are sized to spend at most that (the ANS coder with
per-level token frequencies from the training data, stored as integer tables in the
checkpoint, only lowers it); ``compression_level`` divides latent dims and bits alike.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal, cast

import numpy as np
import torch
from pydantic import Field
from torch import Tensor, nn
from vector_quantize_pytorch import FSQ, VectorQuantize

from ratecraft.allocation import (
    Allocation,
    AllocationBudget,
    GroupStats,
    allocate,
    parse_compression_ratios,
)
from ratecraft.codecs.base import register_codec
from ratecraft.codecs.learned.blocks import MLP, family_encoder
from ratecraft.codecs.learned.codebooks import (
    dead_code_threshold,
    kmeans_init_,
    prune_plan,
    shrink_,
)
from ratecraft.codecs.learned.table_codec import LearnedTableCodec, LearnedTableConfig
from ratecraft.config import NeutralFields
from ratecraft.entropy.categorical import CategoricalTokens
from ratecraft.entropy.tables import TokenTables
from ratecraft.errors import BadInputError
from ratecraft.metrics.codebook import dead_code_fraction, utilization
from ratecraft.train.trainer import split_rows

__all__ = ["HierarchicalVQ", "VQVAECodec", "VQVAEConfig", "fsq_levels"]

_PRUNE_PASSES = 4  # recounts per level while pruning moves rows between codes


def fsq_levels(codebook_size: int) -> list[int]:
    """FSQ levels (each 3..8, product ≥ ``codebook_size``) for a ``2^n`` codebook."""
    bits = max(1, math.ceil(math.log2(codebook_size)))
    out = []
    while bits > 0:
        take = min(3, bits)
        out.append(max(3, 2**take))
        bits -= take
    return out


class _Category(nn.Module):
    """One category: encoder → residual quantizers → decoder."""

    def __init__(
        self, n_in: int, dim: int, sizes: list[int], temporal: bool, cfg: VQVAEConfig
    ) -> None:
        super().__init__()
        self.encoder = family_encoder(n_in, dim, temporal=temporal, hidden=cfg.hidden)
        self.decoder = MLP(dim, n_in, hidden=cfg.hidden)
        self.fsq = cfg.quantizer == "fsq"
        self.dim, self.cfg = dim, cfg
        quantizers: list[nn.Module] = []
        for k in sizes:
            quantizers.append(FSQ(levels=fsq_levels(k), dim=dim) if self.fsq else self._vq(k))
        self.quantizers = nn.ModuleList(quantizers)
        self.sizes = [int(np.prod(fsq_levels(k))) if self.fsq else k for k in sizes]

    def _vq(self, k: int) -> nn.Module:
        cfg = self.cfg
        threshold = cfg.dead_code_threshold
        if cfg.dead_code_share is not None:
            threshold = dead_code_threshold(cfg.dead_code_share, cfg.train.batch_size, k)
        return VectorQuantize(
            dim=self.dim,
            codebook_size=k,
            kmeans_init=True,
            kmeans_iters=cfg.kmeans_iters,
            threshold_ema_dead_code=threshold,
            decay=cfg.decay,
            commitment_weight=cfg.commitment_weight,
        )

    @torch.no_grad()
    def init_codebooks(self, x: Tensor, seed: int) -> None:
        """k-means on the rows ``x``, level by level (each on what the levels before left)."""
        if self.fsq:
            return
        was = self.training
        self.eval()  # no EMA update or code replacement while only looking up codes
        residual = self.encoder(x)
        for q in self.quantizers:
            kmeans_init_(q, residual, seed=seed)
            residual = residual - self._lookup(q, self._indices(q, residual))
        self.train(was)

    @torch.no_grad()
    def level_counts(self, x: Tensor) -> list[np.ndarray]:
        """Assignments per code of every level for rows ``x``."""
        tok = self.tokens(x).numpy()
        return [np.bincount(tok[:, i], minlength=k) for i, k in enumerate(self.sizes)]

    @torch.no_grad()
    def prune(self, x: Tensor, min_share: float) -> None:
        """Drop the codes :func:`prune_plan` calls dead on rows ``x``, level by level."""
        if self.fsq:
            return
        residual = self.encoder(x)
        for i in range(len(self.quantizers)):
            for _ in range(_PRUNE_PASSES):  # rows of a dropped code move: recount
                q = self.quantizers[i]
                idx = self._indices(q, residual)
                kept = prune_plan(np.bincount(idx.numpy(), minlength=self.sizes[i]), min_share)
                if len(kept) == self.sizes[i]:
                    break
                q = shrink_(q, kept, self._vq)
                q.eval()
                self.quantizers[i] = q
                self.sizes[i] = len(kept)
            q = self.quantizers[i]
            residual = residual - self._lookup(q, self._indices(q, residual))

    def _lookup(self, q: nn.Module, idx: Tensor) -> Tensor:
        if self.fsq:
            return q.indices_to_codes(idx[:, None])[:, 0]
        return q.codebook[idx]

    def _indices(self, q: nn.Module, residual: Tensor) -> Tensor:
        """The tokens the coding path gives (the library's own distance: ties and round-off
        as at encode time), int64."""
        return self._quantize(q, residual)[1].long().reshape(-1)

    def _quantize(self, q: nn.Module, residual: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(quantized, indices, commitment loss) of samples × dim latents for either kind."""
        if self.fsq:  # FSQ wants batch × tokens × dim
            quantized, idx = q(residual[:, None])
            return quantized[:, 0], idx[:, 0], residual.new_zeros(())
        quantized, idx, loss = q(residual)
        return quantized, idx, loss.sum()

    def train_terms(self, x: Tensor) -> tuple[Tensor, Tensor]:
        residual = self.encoder(x)
        total, aux = torch.zeros_like(residual), x.new_zeros(())
        for q in self.quantizers:
            quantized, _, loss = self._quantize(q, residual)
            aux = aux + loss
            total = total + quantized
            residual = residual - quantized.detach()
        return self.decoder(total), aux

    @torch.no_grad()
    def tokens(self, x: Tensor) -> Tensor:
        """Token indices, samples × levels (int64); residuals use looked-up codes."""
        residual = self.encoder(x)
        out = []
        for q in self.quantizers:
            idx = self._quantize(q, residual)[1].long().reshape(-1)
            out.append(idx)
            residual = residual - self._lookup(q, idx)
        return torch.stack(out, dim=1)

    @torch.no_grad()
    def decode_tokens(self, tokens: Tensor) -> Tensor:
        total = sum(self._lookup(q, tokens[:, i]) for i, q in enumerate(self.quantizers))
        return self.decoder(total)


class HierarchicalVQ(nn.Module):
    """Categories ``(name, columns, dim, codebook sizes, temporal)`` over ``n_features``."""

    def __init__(
        self,
        n_features: int,
        categories: list[tuple[str, list[int], int, list[int], bool]],
        cfg: VQVAEConfig,
    ) -> None:
        super().__init__()
        self.n_features = n_features
        self.names = [c[0] for c in categories]
        self.columns = [list(c[1]) for c in categories]
        self.categories = nn.ModuleList(
            _Category(len(cols), dim, sizes, temporal, cfg)
            for _, cols, dim, sizes, temporal in categories
        )
        self.token_model = CategoricalTokens()  # the tokens' integer tables (buffers)

    def train_terms(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out, aux = torch.zeros_like(x), x.new_zeros(())
        for cat, cols in zip(self.categories, self.columns, strict=True):
            x_hat, loss = cat.train_terms(x[:, cols])
            out[:, cols] = x_hat
            aux = aux + loss
        return out, x.new_zeros(()), aux

    @torch.no_grad()
    def tokens(self, x: Tensor) -> list[np.ndarray]:
        """Per category: samples × levels token indices."""
        return [
            cat.tokens(x[:, cols]).numpy()
            for cat, cols in zip(self.categories, self.columns, strict=True)
        ]

    @torch.no_grad()
    def rd_point(self, x: Tensor) -> tuple[Tensor, float]:
        """The coding path's reconstruction of rows ``x`` and its rate: the empirical entropy
        of every level's tokens, bits per sample (what the ANS coder with these frequencies
        spends, less its tables)."""
        tokens = self.tokens(x)
        bits = 0.0
        for tok in tokens:
            for level in range(tok.shape[1]):
                p = np.bincount(tok[:, level]) / tok.shape[0]
                p = p[p > 0]
                bits -= float((p * np.log2(p)).sum())
        return self.decode_tokens(tokens), bits

    @torch.no_grad()
    def decode_tokens(self, tokens: list[np.ndarray]) -> Tensor:
        n = tokens[0].shape[0]
        out = torch.zeros(n, self.n_features)
        for cat, cols, tok in zip(self.categories, self.columns, tokens, strict=True):
            out[:, cols] = cat.decode_tokens(torch.from_numpy(tok))
        return out


class VQVAEConfig(NeutralFields, LearnedTableConfig):
    """Hierarchical VQ options: bits per sample, levels, codebook limits, quantizer kind.

    ``codebook_init``, ``dead_code_share`` and ``prune_codes`` came later; a saved config
    without them is read with their neutral values (batch, None, False): the model it describes.
    """

    neutral: ClassVar[dict[str, Any]] = {
        "codebook_init": "batch",
        "dead_code_share": None,
        "prune_codes": False,
    }

    bits: float = Field(
        default=36.0,
        gt=0.0,
        allow_inf_nan=False,
        description="token bits per sample (row) without a ratio budget",
    )
    levels: int = Field(default=3, ge=1, le=8, description="residual quantizers, coarse to fine")
    max_codebook_size: int = Field(
        default=256, ge=2, le=1 << 16, description="largest codebook of any group and level"
    )
    quantizer: Literal["vq", "fsq"] = Field(
        "vq", description="vq: learned codebooks; fsq: finite scalar quantization"
    )
    commitment_weight: float = Field(
        default=0.25, ge=0.0, description="weight of the VQ commitment loss"
    )
    decay: float = Field(default=0.8, gt=0.0, lt=1.0, description="EMA decay of the codebooks")
    dead_code_threshold: float = Field(
        default=2.0, ge=0.0, description="EMA use below which a code is replaced"
    )
    kmeans_iters: int = Field(
        default=10, ge=1, description="k-means iterations of the codebook initialization"
    )
    codebook_init: Literal["batch", "table"] = Field(
        "table", description="k-means on the first batch (the library's) or the training table"
    )
    dead_code_share: float | None = Field(
        default=0.1,
        gt=0.0,
        le=1.0,
        description="replace a code used under this share of its fair share of a batch "
        "(null: dead_code_threshold, an EMA count)",
    )
    prune_codes: bool = Field(
        True, description="after training, drop codes chosen under a tenth of their fair share"
    )


@register_codec("vqvae")
class VQVAECodec(LearnedTableCodec):
    """Residual VQ per category; token streams coded with per-level integer frequency tables."""

    config_cls: ClassVar[type[VQVAEConfig]] = VQVAEConfig  # type: ignore[assignment]
    config: VQVAEConfig
    model: HierarchicalVQ | None
    _built_sizes: dict[str, list[int]] | None = None  # pruned codebook sizes of a loaded model
    _health: dict[str, Any] | None = None

    def _plan(self, stats: list[GroupStats], bits: float | None) -> Allocation:
        self._built_sizes, self._health = None, None  # a new model is built from this plan
        cfg = self.config
        names = [s.name for s in stats]
        ratios = parse_compression_ratios(cfg.compression_ratios, names, levels=cfg.levels)
        strategy = "manual" if ratios is not None else cfg.allocation_strategy
        budget = AllocationBudget(
            latent_dims=cfg.latent_dims,
            bits=cfg.bits if bits is None else bits,
            compression_level=cfg.compression_level,
        )
        return allocate(
            stats,
            budget,
            strategy,
            weights=ratios,
            levels=cfg.levels,
            max_codebook_size=cfg.max_codebook_size,
        )

    def _build_model(self) -> nn.Module:
        assert self.layout is not None and self.allocation is not None
        temporal = set(self.config.temporal_families)
        built = self._built_sizes or {}
        cats = [
            (
                g.name,
                self.layout.groups[g.name],
                g.latent_dims,
                list(built.get(g.name, g.codebook_sizes)),
                g.name in temporal,
            )
            for g in self.allocation.groups
        ]
        return HierarchicalVQ(self.layout.n_features, cats, self.config)

    def load_model_state(self, state: Any) -> None:
        sizes = state.doc.get("codebook_sizes")
        if self.config.quantizer == "vq" and isinstance(sizes, dict):
            self._built_sizes = {str(k): [int(x) for x in v] for k, v in sizes.items()}
        super().load_model_state(state)

    def _before_training(self, z: np.ndarray) -> None:
        if self.config.codebook_init != "table" or self.model is None:
            return
        train, _ = split_rows(len(z), self.config.train.val_fraction, self.config.train.seed)
        x = torch.from_numpy(z[train].astype(np.float32))
        for cat, cols in zip(self.model.categories, self.model.columns, strict=True):
            cast(_Category, cat).init_codebooks(x[:, cols], self.config.seed)

    def _codebook_health(self, z: Tensor) -> dict[str, float]:
        assert self.model is not None
        counts = [
            c
            for cat, cols in zip(self.model.categories, self.model.columns, strict=True)
            for c in cast(_Category, cat).level_counts(z[:, cols])
        ]
        dead = [dead_code_fraction(c) * c.size for c in counts]
        return {
            "dead_fraction": float(sum(dead) / sum(c.size for c in counts)),
            "max_dead_fraction": max(dead_code_fraction(c) for c in counts),
            "min_utilization": min(utilization(c) for c in counts),
            "codes": int(sum(c.size for c in counts)),
        }

    def codebook_sizes(self) -> dict[str, list[int]]:
        """Category → codebook size per level (as built; FSQ rounds up to its level grid)."""
        assert self.model is not None
        return {
            n: list(c.sizes) for n, c in zip(self.model.names, self.model.categories, strict=True)
        }

    # ---- tokens and their coding ---------------------------------------------------------
    def _tokens_z(self, z: np.ndarray) -> list[np.ndarray]:
        assert self.model is not None
        self.model.eval()
        return self.model.tokens(torch.from_numpy(z.astype(np.float32)))

    def tokens(self, values: np.ndarray) -> dict[str, np.ndarray]:
        """Category → samples × levels token indices for a table (original units)."""
        z, _ = self._z_of(values)
        assert self.model is not None
        return dict(zip(self.model.names, self._tokens_z(z), strict=True))

    def _finalize(self, z: np.ndarray) -> None:
        assert self.model is not None
        if self.config.quantizer == "vq":
            x = torch.from_numpy(z.astype(np.float32))
            before = self._codebook_health(x)
            if self.config.prune_codes:
                for cat, cols in zip(self.model.categories, self.model.columns, strict=True):
                    cast(_Category, cat).prune(x[:, cols], 0.1)
            self._health = {"before_pruning": before, "after_pruning": self._codebook_health(x)}
        streams, sizes = [], []
        for tok, ks in zip(self._tokens_z(z), self.codebook_sizes().values(), strict=True):
            streams += [tok[:, level] for level in range(len(ks))]
            sizes += list(ks)
        self.model.token_model.update(streams, sizes)

    def _token_model(self) -> CategoricalTokens:
        if self.model is None:
            raise BadInputError("vqvae has no token tables; fit or load it first")
        return self.model.token_model

    def _encode_z(self, z: np.ndarray) -> tuple[bytes, float]:
        streams = [tok[:, i] for tok in self._tokens_z(z) for i in range(tok.shape[1])]
        return self._token_model().compress(streams)

    def _decode_z(self, payload: memoryview, n: int) -> np.ndarray:
        assert self.model is not None
        flat = self._token_model().decompress(payload, n)
        tokens, pos = [], 0
        for ks in self.codebook_sizes().values():
            tokens.append(np.stack(flat[pos : pos + len(ks)], axis=1))
            pos += len(ks)
        return self.model.decode_tokens(tokens).numpy().astype(np.float64)

    def _forward_z(self, z: np.ndarray) -> np.ndarray:
        assert self.model is not None
        tokens = self._tokens_z(z)
        return self.model.decode_tokens(tokens).numpy().astype(np.float64)

    def _extra_meta(self) -> dict[str, Any]:
        return {"codebook_sizes": self.codebook_sizes()}

    def _fit_extras(self) -> dict[str, Any]:
        """Codebook health on the fitted table, before and after pruning (``vq`` only)."""
        if self._health is None:
            return {}
        after = self._health["after_pruning"]
        return {"dead_codes": after["dead_fraction"], "codebook_health": self._health}

    def _load_extra(self, meta: dict[str, Any]) -> None:
        sizes = [k for ks in self.codebook_sizes().values() for k in ks]
        if self._token_model().tables.sizes != sizes:
            raise BadInputError("vqvae token tables do not match the codebook sizes")

    def _install_legacy_tables(self, doc: dict[str, Any]) -> None:
        tables = doc.get("token_tables")
        if not isinstance(tables, list):
            raise BadInputError("vqvae token tables are missing")
        self._token_model().install(TokenTables([c for per in tables for c in per]))
        self._load_extra(doc)
