"""Splitting a latent-dimension and bit budget across feature groups.

Groups differ in how much structure they carry, so one compression ratio for all of them starves
some (the system this replaces saw one family's error 46,578x another's). Each strategy here
turns per-group statistics of the *normalized* training data (:class:`GroupStats`: the
eigenvalue spectrum of each group's covariance) into integer latent dims per group (each ≥ 1,
summing exactly to the total), bits per sample per group (summing to the total) and VQ codebook
sizes per level.

Strategies (``auto`` = ``rd``):

- ``uniform`` — the same compression ratio for every group: shares ∝ the group's feature count.
- ``variance`` — shares ∝ the group's total variance (trace of its covariance).
- ``dimensionality`` — shares ∝ its intrinsic dimension, the participation ratio
  ``(Σλ)² / Σλ²`` of its spectrum (≈ the number of directions that carry the variance).
- ``information`` — shares ∝ its Gaussian information estimate ``Σ ½·log2(1 + λ/δ²)``, the bits
  needed to describe it to MSE ``δ²`` per component (``δ² = reference_distortion``).
- ``balanced`` — equal *relative* distortion in every group (min–max fairness): dims go one at a
  time to the group whose unexplained variance fraction is largest, bits are set so every group's
  Gaussian distortion is the same fraction of its variance. This targets the worst/best
  per-group error ratio directly.
- ``rd`` — rate–distortion optimal for Gaussian components (reverse water-filling) over the union
  of all groups' eigenvalues: dims are the globally largest eigenvalues (each group keeps at least
  its top one), and component ``i`` gets ``max(0, ½·log2(λ_i/θ))`` bits with the water level
  ``θ`` set so the bits sum to the budget. It minimizes the predicted total distortion.
- ``manual`` — shares from user weights (:func:`parse_compression_ratios`).

Integer dims use a *divisor method* (Sainte-Laguë / Webster, seats handed out one at a time by
``w / (s + ½)``) rather than largest remainders: largest remainders suffer the Alabama paradox
(a larger total can take a dim *away* from a group), divisor methods never do, so every group's
dims are non-decreasing in the budget. Dims are capped at the group's feature count while the
total allows it.

:func:`predicted_distortion` evaluates any allocation under the same Gaussian model, so
strategies can be compared before a model is trained.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

import numpy as np
from pydantic import Field, field_validator, model_validator

from ratecraft.config import CheckedModel
from ratecraft.data.grouping import GroupLayout
from ratecraft.errors import BadInputError

__all__ = [
    "STRATEGIES",
    "Allocation",
    "AllocationBudget",
    "AllocationConfig",
    "CompressionRatios",
    "GroupAllocation",
    "GroupStats",
    "allocate",
    "allocate_from_config",
    "parse_compression_ratios",
    "predicted_distortion",
    "reverse_water_fill",
]

STRATEGIES = ("uniform", "variance", "dimensionality", "information", "balanced", "rd", "auto")
_ALL_STRATEGIES = (*STRATEGIES, "manual")
_EIG_RTOL = 1e-12  # eigenvalues below this × the group's largest are numerical zeros
_EIG_FLOOR = 1e-200  # and so are absurdly small ones (normalized data has variances near 1)
_MAX_LATENT_DIMS = 1_000_000


class GroupStats(CheckedModel):
    """Statistics of one group of normalized features, all an allocation strategy needs.

    ``eigenvalues``: the group covariance's spectrum, descending, ≥ 0 (numerical zeros
    clipped). ``variance``: its trace. ``effective_dims``: the participation ratio
    ``(Σλ)²/Σλ²``. ``entropy_bits``: ``Σ ½·log2(1 + λ/δ²)`` with ``δ² = reference_distortion``.
    """

    name: str
    dims: int
    eigenvalues: list[float]
    variance: float = Field(ge=0.0, allow_inf_nan=False)
    effective_dims: float = Field(ge=0.0, allow_inf_nan=False)
    entropy_bits: float = Field(ge=0.0, allow_inf_nan=False)
    reference_distortion: float = Field(default=0.01, gt=0.0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _spectrum(self) -> Self:
        if self.dims < 1:
            raise ValueError(f"group {self.name!r} has zero width (no features)")
        if len(self.eigenvalues) != self.dims:
            raise ValueError(
                f"group {self.name!r}: {len(self.eigenvalues)} eigenvalues for {self.dims} features"
            )
        lam = np.asarray(self.eigenvalues)
        if not (np.isfinite(lam).all() and (lam >= 0).all() and (np.diff(lam) <= 0).all()):
            raise ValueError(f"group {self.name!r}: eigenvalues must be finite, ≥ 0, descending")
        return self

    @classmethod
    def from_spectrum(
        cls, name: str, eigenvalues: Sequence[float], reference_distortion: float = 0.01
    ) -> GroupStats:
        """Stats from a spectrum (sorted, clipped at 0, numerical zeros removed)."""
        lam = np.sort(np.clip(np.asarray(eigenvalues, dtype=np.float64), 0.0, None))[::-1]
        if lam.size and lam[0] > 0:
            lam = np.where(lam < max(_EIG_RTOL * lam[0], _EIG_FLOOR), 0.0, lam)
        total = float(lam.sum())
        squares = float((lam**2).sum())
        return cls(
            name=name,
            dims=int(lam.size),
            eigenvalues=lam.tolist(),
            variance=total,
            effective_dims=total**2 / squares if squares > 0 else 0.0,
            entropy_bits=float(0.5 * np.log2(1.0 + lam / reference_distortion).sum()),
            reference_distortion=reference_distortion,
        )

    @classmethod
    def from_values(
        cls, z: np.ndarray, layout: GroupLayout, *, reference_distortion: float = 0.01
    ) -> list[GroupStats]:
        """One :class:`GroupStats` per group of ``layout``, in its order, from normalized data."""
        x = np.asarray(z, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != layout.n_features:
            raise BadInputError(
                f"expected samples × {layout.n_features} features, got shape {x.shape}"
            )
        if x.shape[0] < 2:
            raise BadInputError("need at least 2 samples to estimate group spectra")
        if not np.isfinite(x).all():
            raise BadInputError("normalized values have NaN or inf; clean the table first")
        if not (math.isfinite(reference_distortion) and reference_distortion > 0):
            raise BadInputError(f"reference_distortion must be > 0, got {reference_distortion}")
        out = []
        for name in layout.names:
            block = x[:, layout.indices(name)]
            cov = np.atleast_2d(np.cov(block, rowvar=False))
            out.append(cls.from_spectrum(name, np.linalg.eigvalsh(cov), reference_distortion))
        return out

    @property
    def spectrum(self) -> np.ndarray:
        return np.asarray(self.eigenvalues, dtype=np.float64)


class AllocationBudget(CheckedModel):
    """Total latent dims and/or total bits per sample, and a compression level.

    ``compression_level`` divides both: level 2 means half the dims and half the bits, so a
    level always changes the model's width and the bitstream. With only ``bits`` the total dims
    are the number of components the rate–distortion solution gives bits to (≥ 1 per group),
    the same for every strategy so they compare at equal dims and bits.
    """

    latent_dims: int | None = Field(default=None, ge=1, le=_MAX_LATENT_DIMS)
    bits: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    compression_level: float = Field(default=1.0, gt=0.0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.latent_dims is None and self.bits is None:
            raise ValueError("give latent_dims, bits, or both")
        return self

    def effective(self) -> tuple[int | None, float | None]:
        """(dims, bits) after dividing by the compression level (dims rounded half up)."""
        dims = None
        if self.latent_dims is not None:
            dims = math.floor(self.latent_dims / self.compression_level + 0.5)
        bits = None if self.bits is None else self.bits / self.compression_level
        return dims, bits


class GroupAllocation(CheckedModel):
    """One group's share: latent dims, bits per sample, and VQ codebook sizes per level.

    ``codebook_bits`` = Σ log2(codebook size): what a VQ with these codebooks actually spends per
    sample, which can differ from ``bits`` by rounding and the codebook size limits.
    """

    name: str
    features: int = Field(ge=1)
    latent_dims: int = Field(ge=1)
    bits: float | None = None
    weight: float | None = None
    codebook_sizes: list[int] = Field(default_factory=list)
    codebook_bits: float | None = None


class Allocation(CheckedModel):
    """The result of :func:`allocate`: per-group shares and the totals they sum to."""

    strategy: str
    requested_strategy: str
    latent_dims: int
    bits: float | None
    compression_level: float
    levels: int
    water_level: float | None = None
    groups: list[GroupAllocation]

    @model_validator(mode="after")
    def _sums(self) -> Self:
        if sum(g.latent_dims for g in self.groups) != self.latent_dims:
            raise ValueError("group latent dims do not sum to the total")
        return self

    @property
    def names(self) -> list[str]:
        return [g.name for g in self.groups]

    def dims_by_group(self) -> dict[str, int]:
        return {g.name: g.latent_dims for g in self.groups}

    def bits_by_group(self) -> dict[str, float | None]:
        return {g.name: g.bits for g in self.groups}

    def codebooks_by_group(self) -> dict[str, list[int]]:
        return {g.name: list(g.codebook_sizes) for g in self.groups}

    def table(self) -> list[dict[str, Any]]:
        """One row per group, for reports and diagnostics."""
        return [g.model_dump() for g in self.groups]


class CompressionRatios(CheckedModel):
    """Parsed ``compression_ratios``: a positive share weight per group (and optionally per level).

    Weights are relative shares of the budget, as in a ratio ``a:b:c``: a group with weight 2
    gets twice the dims and bits of a group with weight 1. ``level_weights`` split a group's
    bits across VQ levels (from the ``{group: [per-level values]}`` form).
    """

    weights: dict[str, float]
    level_weights: dict[str, list[float]] | None = None


class AllocationConfig(CheckedModel):
    """The allocation part of a codec's YAML config.

    ``compression_ratios``: ``auto`` (use ``allocation_strategy``), ``"0.5:1:1.5"`` (one share
    per group, in group order), a list of shares, or ``{group: share | [share per level]}``.
    Giving ratios together with an explicit non-``auto`` strategy is an error (which one wins?).
    """

    allocation_strategy: str = "auto"
    compression_ratios: str | list[float] | dict[str, float | list[float]] = "auto"
    compression_level: float = Field(default=1.0, gt=0.0, allow_inf_nan=False)
    latent_dims: int | None = Field(default=None, ge=1, le=_MAX_LATENT_DIMS)
    bits: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    levels: int = Field(default=3, ge=1, le=16)
    max_codebook_size: int = Field(default=4096, ge=2, le=1 << 20)

    @field_validator("allocation_strategy")
    @classmethod
    def _known(cls, value: str) -> str:
        return _check_strategy(value)

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        ratios_given = not (
            isinstance(self.compression_ratios, str)
            and self.compression_ratios.strip().lower() == "auto"
        )
        if ratios_given and self.allocation_strategy not in ("auto", "manual"):
            raise ValueError(
                f"compression_ratios and allocation_strategy={self.allocation_strategy!r} "
                "both set; give one"
            )
        if self.latent_dims is None and self.bits is None:
            raise ValueError("give latent_dims, bits, or both")
        return self


# --- strategies -------------------------------------------------------------------------------


def allocate(
    stats: Sequence[GroupStats],
    budget: AllocationBudget | Mapping[str, Any],
    strategy: str = "auto",
    *,
    weights: Mapping[str, float] | CompressionRatios | None = None,
    levels: int = 3,
    max_codebook_size: int = 4096,
) -> Allocation:
    """Split ``budget`` across the groups described by ``stats`` with ``strategy``.

    ``weights`` (group → positive share, or parsed :class:`CompressionRatios`) selects the
    ``manual`` strategy. Every group gets ≥ 1 latent dim; dims sum exactly to the (effective)
    total; bits sum to the total bits up to float round-off. Codebook sizes per level are
    ``2^n_l`` with the integer bits ``round(bits)`` split evenly (or by level weights) over
    ``levels`` levels, clipped to ``[2, max_codebook_size]``.
    """
    groups = _check_stats(stats)
    if isinstance(budget, AllocationBudget):
        plan = budget
    elif isinstance(budget, Mapping):
        plan = AllocationBudget.model_validate(dict(budget))
    else:
        raise BadInputError("budget must be an AllocationBudget or {latent_dims, bits} mapping")
    requested = _check_strategy(strategy)
    ratios = _check_weights(weights, [g.name for g in groups])
    if ratios is not None and requested not in ("auto", "manual"):
        raise BadInputError(f"weights given with strategy {requested!r}; use 'manual' or 'auto'")
    if requested == "manual" and ratios is None:
        raise BadInputError("strategy 'manual' needs weights (compression_ratios)")
    resolved = "manual" if ratios is not None else ("rd" if requested == "auto" else requested)
    if not (isinstance(levels, int) and 1 <= levels <= 16):
        raise BadInputError(f"levels must be an integer in 1..16, got {levels!r}")
    if ratios is not None and ratios.level_weights is not None:
        for name, per_level in ratios.level_weights.items():
            if len(per_level) != levels:
                raise BadInputError(
                    f"compression_ratios for {name!r} has {len(per_level)} level value(s), "
                    f"expected {levels}"
                )
    if not (isinstance(max_codebook_size, int) and max_codebook_size >= 2):
        raise BadInputError(f"max_codebook_size must be an integer ≥ 2, got {max_codebook_size!r}")

    total_dims, total_bits = plan.effective()
    if total_dims is None:
        assert total_bits is not None
        total_dims = _rd_active_dims(groups, total_bits)
    if total_dims < len(groups):
        raise BadInputError(
            f"{total_dims} latent dims for {len(groups)} groups (compression level "
            f"{plan.compression_level:g}); every group needs at least one"
        )

    share = _share_weights(groups, resolved, ratios)
    dims = _allocate_dims(groups, total_dims, resolved, share)
    water_level = None
    bits: list[float] | None = None
    if total_bits is not None:
        if resolved == "rd":
            spectra = [g.spectrum[: min(k, g.dims)] for g, k in zip(groups, dims, strict=True)]
            water_level, per_component = reverse_water_fill(np.concatenate(spectra), total_bits)
            bits = [float(p.sum()) for p in _split(per_component, spectra)]
        elif resolved == "balanced":
            bits = _balanced_bits(groups, total_bits)
        else:
            assert share is not None
            bits = (total_bits * (share / share.sum())).tolist()

    out = []
    for i, g in enumerate(groups):
        b = None if bits is None else bits[i]
        level_w = (
            None
            if ratios is None or ratios.level_weights is None
            else (ratios.level_weights.get(g.name))
        )
        sizes = [] if b is None else _codebook_sizes(b, levels, max_codebook_size, level_w)
        out.append(
            GroupAllocation(
                name=g.name,
                features=g.dims,
                latent_dims=dims[i],
                bits=b,
                weight=None if share is None else float(share[i]),
                codebook_sizes=sizes,
                codebook_bits=float(sum(math.log2(k) for k in sizes)) if sizes else None,
            )
        )
    return Allocation(
        strategy=resolved,
        requested_strategy=requested,
        latent_dims=total_dims,
        bits=total_bits,
        compression_level=plan.compression_level,
        levels=levels,
        water_level=water_level,
        groups=out,
    )


def allocate_from_config(stats: Sequence[GroupStats], config: AllocationConfig) -> Allocation:
    """:func:`allocate` driven by an :class:`AllocationConfig`, ratios parsed against the groups."""
    cfg = (
        config if isinstance(config, AllocationConfig) else AllocationConfig.model_validate(config)
    )
    names = [g.name for g in _check_stats(stats)]
    ratios = parse_compression_ratios(cfg.compression_ratios, names, levels=cfg.levels)
    return allocate(
        stats,
        AllocationBudget(
            latent_dims=cfg.latent_dims, bits=cfg.bits, compression_level=cfg.compression_level
        ),
        "manual" if ratios is not None else cfg.allocation_strategy,
        weights=ratios,
        levels=cfg.levels,
        max_codebook_size=cfg.max_codebook_size,
    )


def predicted_distortion(
    stats: Sequence[GroupStats], allocation: Allocation, *, relative: bool = False
) -> dict[str, float]:
    """Per-group MSE (sum over the group's features, normalized units²) the allocation implies.

    Gaussian model: a group with ``k`` latent dims and ``b`` bits keeps its ``k`` largest
    components and reverse-water-fills ``b`` bits over them, so
    ``D = Σ_{i<k} min(λ_i, θ) + Σ_{i≥k} λ_i``. Without bits, only truncation counts. With
    ``relative=True`` each value is divided by the group's variance (1 = nothing kept).
    """
    by_name = {g.name: g for g in _check_stats(stats)}
    out: dict[str, float] = {}
    for ga in allocation.groups:
        if ga.name not in by_name:
            raise BadInputError(f"allocation names group {ga.name!r} that the stats do not have")
        g = by_name[ga.name]
        lam = g.spectrum
        k = min(ga.latent_dims, g.dims)
        kept, tail = lam[:k], float(lam[k:].sum())
        if ga.bits is None:
            d = tail
        else:
            theta, _ = reverse_water_fill(kept, ga.bits)
            d = float(np.minimum(kept, theta).sum()) + tail
        out[ga.name] = d / g.variance if relative and g.variance > 0 else d
    return out


def reverse_water_fill(eigenvalues: np.ndarray, bits: float) -> tuple[float, np.ndarray]:
    """Water level ``θ`` and per-component bits ``max(0, ½·log2(λ_i/θ))`` summing to ``bits``.

    Solved exactly (the bit total is piecewise linear in ``log2 θ``), which is the root a
    bisection on ``θ`` converges to. With no positive eigenvalue the bits are spread evenly
    (there is nothing to reduce) and ``θ = 0``.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if not (math.isfinite(bits) and bits >= 0):
        raise BadInputError(f"bits must be a finite number ≥ 0, got {bits}")
    out = np.zeros(lam.shape)
    positive = np.sort(lam[lam > 0])[::-1]
    if bits == 0 or lam.size == 0:
        return (float(positive[0]) if positive.size else 0.0), out
    if positive.size == 0:
        return 0.0, np.full(lam.shape, bits / lam.size)
    logs = np.log2(positive)
    m = np.arange(1, positive.size + 1)
    candidates = (np.cumsum(logs) - 2.0 * bits) / m  # log2 θ if the m largest are active
    fits = np.append(candidates[:-1] >= logs[1:], True)  # θ_m at or above the next eigenvalue
    log_theta = float(candidates[int(np.argmax(fits))])
    theta = float(2.0**log_theta)
    with np.errstate(divide="ignore"):
        out = np.where(lam > theta, 0.5 * (np.log2(np.where(lam > 0, lam, 1.0)) - log_theta), 0.0)
    return theta, out


# --- compression_ratios -----------------------------------------------------------------------


def parse_compression_ratios(
    value: Any, group_names: Sequence[str], *, levels: int | None = None
) -> CompressionRatios | None:
    """Parse ``compression_ratios`` into per-group share weights; ``None`` for ``auto``.

    Forms: ``"auto"`` / None; ``"0.5:1:1.5"`` or ``[0.5, 1, 1.5]`` (one value per group, in
    group order); ``{group: value}``; ``{group: [value per level]}`` (a group's weight is the sum
    of its level values, which also split its bits across levels; ``levels`` checks the count).
    Every group must get a value, every value must be a finite number > 0, and unknown group
    names are an error.
    """
    names = list(group_names)
    if not names:
        raise BadInputError("no groups to apply compression_ratios to")
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    if isinstance(value, str):
        parts = value.split(":")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            raise BadInputError(
                f"cannot parse compression_ratios {value!r}; expected 'auto' or like '0.5:1:1.5'"
            ) from None
        value = numbers
    if isinstance(value, list | tuple):
        if len(value) != len(names):
            raise BadInputError(
                f"compression_ratios has {len(value)} value(s) for {len(names)} groups "
                f"({', '.join(names)})"
            )
        return CompressionRatios(
            weights={n: _positive(v, n) for n, v in zip(names, value, strict=True)}
        )
    if isinstance(value, Mapping):
        unknown = [str(k) for k in value if k not in names]
        if unknown:
            raise BadInputError(
                f"compression_ratios names unknown group(s) {unknown}; groups are {names}"
            )
        absent = [n for n in names if n not in value]
        if absent:
            raise BadInputError(f"compression_ratios gives no value for group(s) {absent}")
        weights: dict[str, float] = {}
        per_level: dict[str, list[float]] = {}
        for n in names:
            v = value[n]
            if isinstance(v, list | tuple):
                if not v or (levels is not None and len(v) != levels):
                    want = f"{levels}" if levels is not None else "≥ 1"
                    raise BadInputError(
                        f"compression_ratios for {n!r} has {len(v)} level value(s), expected {want}"
                    )
                per_level[n] = [_positive(x, n) for x in v]
                weights[n] = float(sum(per_level[n]))
            else:
                weights[n] = _positive(v, n)
        return CompressionRatios(weights=weights, level_weights=per_level or None)
    raise BadInputError(
        "compression_ratios must be 'auto', 'a:b:c', a list or a mapping, "
        f"got {type(value).__name__}"
    )


# --- helpers ----------------------------------------------------------------------------------


def _positive(v: Any, group: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
        raise BadInputError(f"compression_ratios must be positive numbers, got {v!r} for {group!r}")
    return float(v)


def _check_strategy(value: str) -> str:
    name = str(value).strip().lower()
    if name not in _ALL_STRATEGIES:
        raise BadInputError(
            f"unknown allocation strategy {value!r}; choose one of {', '.join(_ALL_STRATEGIES)}"
        )
    return name


def _check_stats(stats: Sequence[GroupStats]) -> list[GroupStats]:
    groups = list(stats)
    if not groups:
        raise BadInputError("no groups to allocate to")
    for g in groups:
        if not isinstance(g, GroupStats):
            raise BadInputError(f"expected GroupStats, got {type(g).__name__}")
    names = [g.name for g in groups]
    if len(set(names)) != len(names):
        raise BadInputError(f"group names must be unique, got {names}")
    return groups


def _check_weights(
    weights: Mapping[str, float] | CompressionRatios | None, names: list[str]
) -> CompressionRatios | None:
    if weights is None:
        return None
    if isinstance(weights, CompressionRatios):
        parse_compression_ratios(dict(weights.weights), names)  # same checks as a mapping
        return weights
    return parse_compression_ratios(dict(weights), names)


def _share_weights(
    groups: list[GroupStats], strategy: str, ratios: CompressionRatios | None
) -> np.ndarray | None:
    """Each group's share weight, or None for ``rd`` / ``balanced`` (they solve, not share)."""
    if strategy == "manual":
        assert ratios is not None
        w = np.array([ratios.weights[g.name] for g in groups])
    elif strategy == "uniform":
        w = np.array([g.dims for g in groups], dtype=np.float64)
    elif strategy == "variance":
        w = np.array([g.variance for g in groups])
    elif strategy == "dimensionality":
        w = np.array([g.effective_dims for g in groups])
    elif strategy == "information":
        w = np.array([g.entropy_bits for g in groups])
    else:
        return None
    if not w.sum() > 0:  # every group degenerate: nothing tells them apart
        w = np.array([g.dims for g in groups], dtype=np.float64)
    return w


def _allocate_dims(
    groups: list[GroupStats], total: int, strategy: str, share: np.ndarray | None
) -> list[int]:
    sizes = [g.dims for g in groups]
    if strategy == "rd":
        spectra = [g.spectrum for g in groups]

        def priority(i: int, s: int) -> float:
            return float(spectra[i][s])

    elif strategy == "balanced":
        tails = [np.concatenate([np.cumsum(g.spectrum[::-1])[::-1], [0.0]]) for g in groups]

        def priority(i: int, s: int) -> float:
            v = groups[i].variance
            return float(tails[i][s] / v) if v > 0 else 0.0

    else:
        assert share is not None
        w = share

        def priority(i: int, s: int) -> float:
            return float(w[i] / (s + 0.5))

    return _sequential_seats(total, sizes, priority)


def _sequential_seats(
    total: int, sizes: list[int], priority: Callable[[int, int], float]
) -> list[int]:
    """Start every group at 1, then hand out seats one by one to the highest priority.

    While the total fits, a group never exceeds its feature count; beyond that (overcomplete
    latents), seats go by Sainte-Laguë on feature counts. Sequential, so monotone in ``total``.
    Ties go to the larger group, then the earlier one.
    """
    seats = [1] * len(sizes)
    remaining = total - len(sizes)
    heap = [(-priority(i, 1), -sizes[i] / 1.5, i) for i in range(len(sizes)) if seats[i] < sizes[i]]
    heapq.heapify(heap)
    while remaining > 0 and heap:
        _, _, i = heapq.heappop(heap)
        seats[i] += 1
        remaining -= 1
        if seats[i] < sizes[i]:
            heapq.heappush(heap, (-priority(i, seats[i]), -sizes[i] / (seats[i] + 0.5), i))
    if remaining > 0:
        heap = [(-sizes[i] / (seats[i] + 0.5), i) for i in range(len(sizes))]
        heapq.heapify(heap)
        while remaining > 0:
            _, i = heapq.heappop(heap)
            seats[i] += 1
            remaining -= 1
            heapq.heappush(heap, (-sizes[i] / (seats[i] + 0.5), i))
    return seats


def _rd_active_dims(groups: list[GroupStats], bits: float) -> int:
    """Σ max(1, components with positive bits) under global reverse water-filling."""
    spectra = [g.spectrum for g in groups]
    _, per_component = reverse_water_fill(np.concatenate(spectra), bits)
    return sum(max(1, int((p > 0).sum())) for p in _split(per_component, spectra))


def _split(values: np.ndarray, like: list[np.ndarray]) -> list[np.ndarray]:
    """Cut a concatenation back into pieces the sizes of ``like``."""
    return np.split(values, np.cumsum([a.size for a in like])[:-1])


def _group_bits_at(lam: np.ndarray, fraction: float) -> float:
    """Bits for a group to reach distortion ``fraction × Σλ`` by reverse water-filling."""
    total = float(lam.sum())
    if total <= 0 or fraction >= 1.0:
        return 0.0
    target = fraction * total
    asc = np.sort(lam)
    n = asc.size
    # D(θ) = Σ min(λ, θ) is piecewise linear; with the m smallest below θ: D = Σ_{<m} λ + (n−m)θ.
    below = np.concatenate([[0.0], np.cumsum(asc)[:-1]])
    thetas = (target - below) / (n - np.arange(n))
    theta = float(thetas[int(np.argmax(thetas <= asc))])  # the first consistent piece
    with np.errstate(divide="ignore"):
        return float(
            np.where(lam > theta, 0.5 * np.log2(np.maximum(lam, 1e-300) / theta), 0.0).sum()
        )


def _balanced_bits(groups: list[GroupStats], bits: float) -> list[float]:
    """Bits per group so every group's distortion is the same fraction of its variance."""
    live = [g for g in groups if g.variance > 0]
    if not live:
        return [bits / len(groups)] * len(groups)

    def total_at(log_f: float) -> float:
        f = math.exp(log_f)
        return sum(_group_bits_at(g.spectrum, f) for g in live)

    lo, hi = -700.0, 0.0  # fraction from e^-700 (huge rates) to 1 (no bits)
    while total_at(lo) < bits:  # pragma: no cover - only for absurd budgets
        lo *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if total_at(mid) > bits:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * max(1.0, abs(lo)):
            break
    f = math.exp(hi)
    raw = [_group_bits_at(g.spectrum, f) if g.variance > 0 else 0.0 for g in groups]
    spent = sum(raw)
    return [b * bits / spent for b in raw] if spent > 0 else [bits / len(groups)] * len(groups)


def _codebook_sizes(
    bits: float, levels: int, max_size: int, level_weights: list[float] | None
) -> list[int]:
    """Integer bits ``round(bits)`` split across levels (Sainte-Laguë), as ``2^n`` codebooks."""
    n_bits = min(math.floor(bits + 0.5), 64 * levels)  # beyond that every size is capped
    w = level_weights if level_weights is not None and len(level_weights) == levels else None
    weights = w or [1.0] * levels
    per_level = [0] * levels
    for _ in range(n_bits):
        i = max(range(levels), key=lambda j: (weights[j] / (per_level[j] + 0.5), -j))
        per_level[i] += 1
    return [int(min(max(2, 2**b), max_size)) for b in per_level]
