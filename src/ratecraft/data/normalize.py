"""Per-feature normalization that survives heavy tails and scales from 1e-3 to 1e4.

Each feature gets two steps, both stored so a decoder can undo them:

1. **Shape.** ``identity``, or the signed log-like transform ``y = asinh(x / s)``: linear for
   ``|x| ≪ s``, ``sign(x)·log(2|x|/s)`` for ``|x| ≫ s``, defined for every sign and exactly
   invertible (``x = s·sinh(y)``). The choice is made per feature by a documented rule (below).
2. **Robust standardization.** ``z = (y − median) / scale`` with ``scale = IQR / 1.349`` (the
   standard deviation for Gaussian data), falling back to the standard deviation when the IQR is
   degenerate (e.g. a mostly-zero feature) and to 1 when that is degenerate too.

**Rule for the shape.** A feature is scored by how far its quantiles are from a Gaussian's:
``score = |ln(T / 3.449)| + |K|`` with tail ratio ``T = (q99 − q01) / (q75 − q25)`` (3.449 for a
Gaussian; ≈ 7 for a log-normal of σ = 1, 6 for Student-t₃) and Kelly skewness
``K = (q90 + q10 − 2·q50) / (q90 − q10)`` (0 when symmetric). The candidates are identity and
``asinh(x / s)`` with ``s = m·10^k``, ``m`` = median of ``|x|``, ``k`` ∈ ``asinh_exponents``
(small ``s`` = a log transform of the whole range, large ``s`` = nearly linear). The best-scoring
asinh candidate is used only when it beats identity by ``min_gain``, so already well-behaved
features stay linear. Quantile-based scores are themselves robust to the outliers that make
moment-based skewness/kurtosis unreliable on exactly the features that need the transform.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Self

import numpy as np
from pydantic import Field, PrivateAttr, model_validator

from ratecraft.config import CheckedModel
from ratecraft.errors import BadInputError

__all__ = ["FeatureNorm", "NormalizeConfig", "Normalizer", "gaussian_score"]

_IQR_TO_SIGMA = 1.3489795003921634  # IQR of a standard normal
_GAUSS_TAIL = 2 * 2.3263478740408408 / _IQR_TO_SIGMA  # (q99 − q01) / IQR of a normal
_PROBS = np.array([0.01, 0.10, 0.25, 0.50, 0.75, 0.90, 0.99])
_DEGENERATE = 1e-12  # a scale below this × max|y| counts as zero
_MAX_RANGE = 1e-200  # the asinh scale is at least this × max|x|, so x / s never overflows
_MIN_SCALE = 1e-290  # and never subnormal


class NormalizeConfig(CheckedModel):
    """Options of :meth:`Normalizer.fit`.

    ``transform``: ``auto`` applies the rule in the module docstring; ``identity`` or ``asinh``
    force one shape for every feature (``asinh`` then uses the best-scoring ``s``).
    ``max_choice_rows`` caps the rows used to score candidates (evenly spaced, deterministic);
    the standardization statistics always use every row.
    """

    transform: Literal["auto", "identity", "asinh"] = Field(
        "auto", description="per-feature shape: auto chooses identity or asinh by a score"
    )
    asinh_exponents: tuple[float, ...] = Field(
        (-4.0, -3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0),
        description="k of the asinh scales tried, s = median |x| · 10^k",
    )
    min_gain: float = Field(
        default=0.1, ge=0.0, description="score gain asinh needs over identity to be chosen"
    )
    max_choice_rows: int = Field(
        default=100_000, ge=10, description="rows (evenly spaced) that score the candidates"
    )

    @model_validator(mode="after")
    def _exponents(self) -> Self:
        if not self.asinh_exponents or not all(-12 <= k <= 12 for k in self.asinh_exponents):
            raise ValueError("asinh_exponents must be a non-empty list of numbers in [-12, 12]")
        return self


class FeatureNorm(CheckedModel):
    """One feature's stored statistics: ``z = (T(x) − center) / scale``.

    ``T`` is ``identity`` or ``asinh(x / asinh_scale)``; ``score`` is the Gaussian-ness score of
    the chosen shape (lower is closer to Gaussian) and ``identity_score`` that of the raw
    values, for the report.
    """

    name: str
    transform: Literal["identity", "asinh"]
    asinh_scale: float = Field(default=1.0, gt=0.0, allow_inf_nan=False)
    center: float = Field(allow_inf_nan=False)
    scale: float = Field(gt=0.0, allow_inf_nan=False)
    score: float | None = None
    identity_score: float | None = None


class Normalizer(CheckedModel):
    """Fitted per-feature normalization; a pydantic model, so its JSON is the checkpoint.

    ``Normalizer.fit(values)`` chooses and fits; ``transform`` maps samples × features to
    normalized units, ``inverse`` maps back (``inverse(transform(x)) == x`` to float64
    round-off). ``model_dump_json`` / ``model_validate_json`` store and restore it exactly.
    """

    features: list[FeatureNorm] = Field(min_length=1)
    config: NormalizeConfig = Field(default_factory=NormalizeConfig)

    _asinh: np.ndarray = PrivateAttr()
    _s: np.ndarray = PrivateAttr()
    _center: np.ndarray = PrivateAttr()
    _scale: np.ndarray = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        self._asinh = np.array([f.transform == "asinh" for f in self.features], dtype=bool)
        self._s = np.array([f.asinh_scale for f in self.features], dtype=np.float64)
        self._center = np.array([f.center for f in self.features], dtype=np.float64)
        self._scale = np.array([f.scale for f in self.features], dtype=np.float64)

    def __eq__(self, other: object) -> bool:  # the cached arrays would make pydantic's fail
        return (
            isinstance(other, Normalizer)
            and self.features == other.features
            and self.config == other.config
        )

    __hash__ = None  # type: ignore[assignment]  # mutable lists inside: not hashable

    @classmethod
    def fit(
        cls,
        values: np.ndarray,
        feature_names: list[str] | None = None,
        config: NormalizeConfig | Mapping[str, Any] | None = None,
    ) -> Normalizer:
        """Choose each feature's shape and fit its robust center and scale on ``values``.

        ``values`` must be finite (clean the table first: :func:`ratecraft.data.clean.clean_table`
        fills holes with medians).
        """
        cfg = (
            config
            if isinstance(config, NormalizeConfig)
            else NormalizeConfig.model_validate(config or {})
        )
        x = _as_table(values, "values")
        if x.shape[0] < 2:
            raise BadInputError(f"need at least 2 samples to fit a normalizer, got {x.shape[0]}")
        if not np.isfinite(x).all():
            raise BadInputError("normalizer input has NaN or inf; clean the table first")
        names = feature_names or [f"f{j}" for j in range(x.shape[1])]
        if len(names) != x.shape[1]:
            raise BadInputError(f"{len(names)} feature names for {x.shape[1]} features")
        step = max(1, -(-x.shape[0] // cfg.max_choice_rows))
        sample = x[::step]
        features = []
        for j, name in enumerate(names):
            kind, s, score, base = _choose(sample[:, j], cfg)
            y = np.arcsinh(x[:, j] / s) if kind == "asinh" else x[:, j]
            center, scale = _robust_center_scale(y)
            features.append(
                FeatureNorm(
                    name=name,
                    transform=kind,
                    asinh_scale=s,
                    center=center,
                    scale=scale,
                    score=score,
                    identity_score=base,
                )
            )
        return cls(features=features, config=cfg)

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def choices(self) -> dict[str, str]:
        """Feature name → chosen transform (``identity`` or ``asinh``)."""
        return {f.name: f.transform for f in self.features}

    def report(self) -> list[dict[str, Any]]:
        """One row per feature: transform, asinh scale, center, scale and Gaussian-ness scores."""
        return [f.model_dump() for f in self.features]

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Samples × features in original units → normalized units (float64; NaN stays NaN)."""
        x = self._check(values, "values")
        y = np.where(self._asinh, np.arcsinh(x / self._s), x)
        return (y - self._center) / self._scale

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Normalized units → original units; exact inverse of :meth:`transform` up to round-off."""
        y = self._check(z, "normalized values") * self._scale + self._center
        with np.errstate(over="ignore"):  # an absurd decoded z may overflow sinh: inf, not a crash
            return np.where(self._asinh, self._s * np.sinh(y), y)

    def _check(self, values: np.ndarray, what: str) -> np.ndarray:
        x = _as_table(values, what)
        if x.shape[1] != self.n_features:
            raise BadInputError(f"{what}: expected {self.n_features} features, got {x.shape[1]}")
        return x


def gaussian_score(y: np.ndarray) -> float:
    """Distance of ``y``'s quantile shape from a Gaussian's: ``|ln(T/3.449)| + |Kelly skew|``.

    ``inf`` when the central or 10–90% range is degenerate (the shape cannot be judged).
    """
    q01, q10, q25, q50, q75, q90, q99 = np.quantile(y, _PROBS)
    iqr, wide = q75 - q25, q90 - q10
    if not (iqr > 0 and wide > 0):
        return float("inf")
    tail = (q99 - q01) / iqr
    kelly = (q90 + q10 - 2.0 * q50) / wide
    return float(abs(np.log(tail / _GAUSS_TAIL)) + abs(kelly))


def _choose(x: np.ndarray, cfg: NormalizeConfig) -> tuple[str, float, float | None, float | None]:
    """(transform, asinh scale, its score, identity's score) for one feature's values."""
    base = gaussian_score(x)
    magnitude = np.abs(x)
    m = float(np.median(magnitude))
    if not m > 0:
        m = float(magnitude.mean())
    if cfg.transform == "identity" or not m > 0:  # an all-zero feature has no shape to fix
        return "identity", 1.0, _finite_or_none(base), _finite_or_none(base)
    # keep x / s finite for every value (and s a normal float), whatever the dynamic range
    floor = max(float(magnitude.max()) * _MAX_RANGE, _MIN_SCALE)
    best_s, best = max(m, floor), float("inf")
    for k in cfg.asinh_exponents:
        s = max(m * 10.0**k, floor)
        score = gaussian_score(np.arcsinh(x / s))
        if score < best:
            best_s, best = s, score
    use_asinh = cfg.transform == "asinh" or (
        np.isfinite(best) and (not np.isfinite(base) or best < base - cfg.min_gain)
    )
    if use_asinh:
        return "asinh", best_s, _finite_or_none(best), _finite_or_none(base)
    return "identity", 1.0, _finite_or_none(base), _finite_or_none(base)


def _robust_center_scale(y: np.ndarray) -> tuple[float, float]:
    """Median and IQR/1.349, falling back to the standard deviation, then to 1."""
    q25, center, q75 = np.quantile(y, [0.25, 0.5, 0.75])
    tiny = _DEGENERATE * float(np.abs(y).max())
    scale = float(q75 - q25) / _IQR_TO_SIGMA
    if not scale > tiny:
        scale = float(y.std())
    if not scale > tiny or not np.isfinite(scale):
        scale = 1.0
    return float(center), scale


def _finite_or_none(v: float) -> float | None:
    return v if np.isfinite(v) else None


def _as_table(values: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(values)
    if x.ndim != 2:
        raise BadInputError(f"{what} must be samples × features, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise BadInputError(f"{what} must be numeric, got dtype {x.dtype}")
    return x.astype(np.float64, copy=False)
