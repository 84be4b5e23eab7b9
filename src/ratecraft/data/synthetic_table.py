"""Synthetic feature tables with families, shared latent structure and the usual pathologies.

Every row is driven by a few latent variables, so the table is genuinely compressible (a latent
codec can find the structure), while the observed features look like real simulation outputs:
moderate-scale initial conditions, heavy-tailed summary statistics spanning 1e-3..1e4, and a
sampled damped oscillation per row. A constant column, a column with many NaNs and an exact
duplicate column exercise the cleaning steps. Each family draws from its own seeded stream, so
choosing a subset of families leaves the chosen ones unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ratecraft.data.types import FeatureTable
from ratecraft.errors import BadInputError

FAMILY_SIZES: dict[str, int] = {"initial": 12, "summary": 16, "temporal": 32}
N_LATENT = 4
_MAX_SAMPLES = 5_000_000
# log10 of each summary feature's median; index 4 is duplicated as 15, index 7 gets the NaNs.
_SUMMARY_LOG10_SCALE = (
    -3.3,
    0.5,
    0.0,
    2.1,
    4.3,
    -1.2,
    3.0,
    -2.4,
    1.4,
    1.0,
    3.7,
    -0.6,
    2.6,
    -0.3,
    -1.8,
    4.3,
)
_SUMMARY_SIGNED = (2, 9, 13)  # Student-t "skewness-like" statistics; the rest are lognormal
_CONSTANT = ("initial", 11)
_NAN = ("summary", 7)
_DUPLICATE = ("summary", 15, 4)  # family, copy, original


@dataclass(frozen=True, kw_only=True)
class TableSimConfig:
    """Every option of :func:`simulate_table`, validated on construction.

    ``families`` picks and orders a subset of ``FAMILY_SIZES`` (all, in that order, when None);
    ``noise`` is the idiosyncratic noise relative to the latent signal; ``pathological=False``
    leaves out the constant, NaN and duplicate columns.
    """

    n_samples: int = 2000
    seed: int = 0
    families: tuple[str, ...] | None = None
    noise: float = 0.1
    nan_fraction: float = 0.3
    pathological: bool = True

    def __post_init__(self) -> None:
        if not (isinstance(self.n_samples, int) and 1 <= self.n_samples <= _MAX_SAMPLES):
            raise BadInputError(f"n_samples must be in 1..{_MAX_SAMPLES}, got {self.n_samples}")
        if not (isinstance(self.seed, int) and self.seed >= 0):
            raise BadInputError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.families is not None:
            families = tuple(self.families)
            unknown = [f for f in families if f not in FAMILY_SIZES]
            if unknown or not families or len(set(families)) != len(families):
                raise BadInputError(
                    f"families must be distinct names from {list(FAMILY_SIZES)}, got {families}"
                )
            object.__setattr__(self, "families", families)
        if not (isinstance(self.noise, int | float) and 0.0 <= self.noise <= 10.0):
            raise BadInputError(f"noise must be in [0, 10], got {self.noise!r}")
        if not (isinstance(self.nan_fraction, int | float) and 0.0 <= self.nan_fraction < 1.0):
            raise BadInputError(f"nan_fraction must be in [0, 1), got {self.nan_fraction!r}")
        if not isinstance(self.pathological, bool):
            raise BadInputError("pathological must be a boolean")

    @property
    def resolved_families(self) -> tuple[str, ...]:
        return tuple(FAMILY_SIZES) if self.families is None else self.families


def simulate_table(config: TableSimConfig | None = None, /, **options: Any) -> FeatureTable:
    """Simulate a samples × features table with named families (float64, NaNs where missing).

    ``options`` are :class:`TableSimConfig` fields and override ``config`` (or the defaults),
    e.g. ``simulate_table(n_samples=500, seed=2, families=["summary", "temporal"])``.
    """
    fields = {f.name for f in dataclasses.fields(TableSimConfig)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise BadInputError(f"unknown table option(s) {unknown}; valid: {sorted(fields)}")
    cfg = dataclasses.replace(config or TableSimConfig(), **options)

    rng_latent, *family_rngs = np.random.default_rng(cfg.seed).spawn(1 + len(FAMILY_SIZES))
    latent = rng_latent.standard_normal((cfg.n_samples, N_LATENT))
    makers = {"initial": _initial, "summary": _summary, "temporal": _temporal}
    rngs = dict(zip(FAMILY_SIZES, family_rngs, strict=True))
    columns: list[np.ndarray] = []
    names: list[str] = []
    families: list[str] = []
    meta: dict[str, Any] = {"synthetic": dataclasses.asdict(cfg), "n_latent": N_LATENT}
    constant: list[str] = []
    nan: list[str] = []
    duplicate: dict[str, str] = {}
    for family in cfg.resolved_families:
        block = makers[family](rngs[family], latent, cfg.noise)
        if cfg.pathological:
            block = _add_pathologies(family, block, rngs[family], cfg.nan_fraction)
            if family == _CONSTANT[0]:
                constant.append(_name(family, _CONSTANT[1]))
            if family == _NAN[0] and cfg.nan_fraction > 0:
                nan.append(_name(family, _NAN[1]))
            if family == _DUPLICATE[0]:
                duplicate[_name(family, _DUPLICATE[1])] = _name(family, _DUPLICATE[2])
        columns.append(block)
        names += [_name(family, j) for j in range(block.shape[1])]
        families += [family] * block.shape[1]
    meta.update(constant_columns=constant, nan_columns=nan, duplicate_columns=duplicate)
    values = np.concatenate(columns, axis=1)
    return FeatureTable(values=values, feature_names=names, families=families, meta=meta)


def _name(family: str, index: int) -> str:
    return f"{family}_{index:02d}"


def _loadings(rng: np.random.Generator, n_features: int) -> np.ndarray:
    """Cluster loadings: each feature follows one latent strongly and the others weakly."""
    weights = rng.normal(0.0, 0.2, (n_features, N_LATENT))
    cluster = np.arange(n_features) % N_LATENT
    weights[np.arange(n_features), cluster] = rng.choice([-1.0, 1.0], n_features)
    return weights / np.linalg.norm(weights, axis=1, keepdims=True)


def _initial(rng: np.random.Generator, latent: np.ndarray, noise: float) -> np.ndarray:
    """Initial conditions: affine in the latents, scales 0.1..100, one integer count column."""
    n_features = FAMILY_SIZES["initial"]
    scale = np.exp(rng.uniform(np.log(0.1), np.log(100.0), n_features))
    loc = scale * rng.uniform(-2.0, 2.0, n_features)
    eps = rng.standard_normal((latent.shape[0], n_features))
    block = loc + scale * (latent @ _loadings(rng, n_features).T + noise * eps)
    block[:, 10] = np.rint(np.exp(2.0 + 0.5 * latent[:, 0]))  # e.g. a particle count
    return block


def _summary(rng: np.random.Generator, latent: np.ndarray, noise: float) -> np.ndarray:
    """Summary statistics: heavy-tailed (lognormal and Student-t) with medians 5e-4..2e4."""
    n_features = FAMILY_SIZES["summary"]
    spread = rng.uniform(0.5, 1.5, n_features)
    eps = rng.standard_t(3.0, (latent.shape[0], n_features))
    core = latent @ _loadings(rng, n_features).T + noise * eps
    scale = 10.0 ** np.asarray(_SUMMARY_LOG10_SCALE)
    block = scale * np.exp(spread * core)
    signed = list(_SUMMARY_SIGNED)
    block[:, signed] = scale[signed] * (core[:, signed] + 0.5 * eps[:, signed])
    return block


def _temporal(rng: np.random.Generator, latent: np.ndarray, noise: float) -> np.ndarray:
    """A damped oscillation sampled at 32 times; amplitude, frequency, decay, phase from latents."""
    n_times = FAMILY_SIZES["temporal"]
    t = np.linspace(0.0, 4.0, n_times)
    amplitude = 3.0 * np.exp(0.4 * latent[:, 0])
    omega = 2.0 * np.pi * (0.6 + 0.25 * np.tanh(latent[:, 1]))
    decay = 0.4 * np.exp(0.3 * latent[:, 2])
    phase = 0.5 * latent[:, 3]
    baseline = 0.3 * (latent[:, 0] - latent[:, 2])
    arg = omega[:, None] * t + phase[:, None]
    clean = amplitude[:, None] * np.exp(-decay[:, None] * t) * np.cos(arg) + baseline[:, None]
    eps = rng.standard_normal(clean.shape)
    return clean + 0.1 * noise * amplitude[:, None] * eps


def _add_pathologies(
    family: str, block: np.ndarray, rng: np.random.Generator, nan_fraction: float
) -> np.ndarray:
    """Overwrite this family's designated columns with a constant, NaNs or an exact copy."""
    if family == _CONSTANT[0]:
        block[:, _CONSTANT[1]] = 9.81
    if family == _NAN[0]:
        missing = rng.random(block.shape[0]) < nan_fraction
        block[missing, _NAN[1]] = np.nan
    if family == _DUPLICATE[0]:
        block[:, _DUPLICATE[1]] = block[:, _DUPLICATE[2]]
    return block
