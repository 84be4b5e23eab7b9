"""Feature-table fidelity: normalized MSE per feature and per feature family.

Tables are samples × features. NMSE divides each feature's MSE by that feature's variance in the
original, so features on different scales weigh alike and 1.0 means "no better than predicting
the mean". Missing values (NaN) in the original are skipped; the reconstruction must be finite
wherever the original is.
"""

from __future__ import annotations

import math

import numpy as np

from ratecraft.errors import BadInputError

_CONSTANT_RTOL = 1e-12  # variance below this × (1 + mean²) counts as a constant feature


def _table_pair(original: np.ndarray, reconstructed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pair = []
    for arr, what in ((original, "original"), (reconstructed, "reconstructed")):
        a = np.asarray(arr)
        if a.ndim != 2:
            raise BadInputError(f"{what} table must be samples × features, got shape {a.shape}")
        if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
            raise BadInputError(f"{what} table must be numeric, got dtype {a.dtype}")
        pair.append(a.astype(np.float64, copy=False))
    x, y = pair
    if x.shape != y.shape:
        raise BadInputError(f"shape mismatch: original {x.shape} vs reconstructed {y.shape}")
    if x.size == 0:
        raise BadInputError("original table is empty")
    if np.isinf(x).any():
        raise BadInputError("original table contains infinite values")
    if not np.isfinite(y[~np.isnan(x)]).all():
        raise BadInputError("reconstructed table is NaN or infinite where the original has data")
    return x, y


def per_feature_nmse(original: np.ndarray, reconstructed: np.ndarray) -> np.ndarray:
    """MSE / Var(original) per feature, over the positions where the original is not NaN.

    A constant feature (variance ≈ 0) uses MSE / (1 + mean²) instead: relative to the value's
    magnitude when it is large, absolute when it is near zero, never a division by zero. A
    feature that is NaN throughout the original gets NaN.
    """
    x, y = _table_pair(original, reconstructed)
    valid = ~np.isnan(x)
    count = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(valid, x, 0.0).sum(axis=0) / count
        var = np.where(valid, (x - mean) ** 2, 0.0).sum(axis=0) / count
        mse = np.where(valid, (x - y) ** 2, 0.0).sum(axis=0) / count
        constant = var <= _CONSTANT_RTOL * (1.0 + mean**2)
        return np.where(constant, mse / (1.0 + mean**2), mse / var)


def per_family_nmse(
    table_values: np.ndarray, reconstructed: np.ndarray, families: list[str]
) -> dict[str, float]:
    """Mean per-feature NMSE of each family (first-seen order), each feature weighing alike.

    Features that are NaN throughout the original are left out; a family made only of them
    gets NaN.
    """
    nmse = per_feature_nmse(table_values, reconstructed)
    if len(families) != nmse.size:
        raise BadInputError(f"{len(families)} families for {nmse.size} features")
    out: dict[str, float] = {}
    for fam in dict.fromkeys(families):
        values = nmse[[f == fam for f in families]]
        values = values[~np.isnan(values)]
        out[fam] = float(values.mean()) if values.size else math.nan
    return out
