"""Semantic preservation: does a downstream model still work on the reconstructions?

A scikit-learn model (``LogisticRegression`` for class labels, ``Ridge`` for a continuous
target) is trained on the *original* features of a training split and scored on the original
and on the reconstructed features of a held-out split (accuracy or R²). Per group it reports
the permutation importance of the group on the originals (score drop when the group's columns
are shuffled together) and the score when only that group is replaced by its reconstruction,
so a drop can be traced to the group that caused it. Inputs are the kept features in
normalized units (the codec's own normalizer), cells that were NaN/inf use the stored fill.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ratecraft.data.clean import apply_cleaning
from ratecraft.data.types import FeatureTable
from ratecraft.errors import BadInputError

__all__ = ["is_classification", "semantic_preservation"]

_MAX_CLASSES = 50


def is_classification(target: np.ndarray) -> bool:
    """Integer-valued targets with at most 50 distinct values are class labels."""
    y = np.asarray(target)
    if y.dtype.kind in "biuUO":
        return True
    return bool(np.all(np.mod(y, 1) == 0) and np.unique(y).size <= _MAX_CLASSES)


def _features(codec: Any, table: FeatureTable, reconstructed: FeatureTable) -> tuple:
    report, normalizer = codec._fitted()
    kept, missing = apply_cleaning(table, report)
    z = normalizer.transform(kept)
    rec = np.asarray(reconstructed.values, np.float64)[:, report.kept]
    with np.errstate(over="ignore", invalid="ignore"):
        z_hat = normalizer.transform(np.where(missing.mask(), kept, rec))
    z_hat = np.where(np.isfinite(z_hat), z_hat, z)
    return z, z_hat


def semantic_preservation(
    codec: Any,
    train: FeatureTable,
    y_train: np.ndarray,
    test: FeatureTable,
    y_test: np.ndarray,
    *,
    seed: int = 0,
    repeats: int = 3,
) -> dict[str, Any]:
    """Score a downstream model, trained on ``train`` originals, on ``test`` reconstructions.

    ``test`` is coded through the real bitstream (``decode(encode(test))``).
    """
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import accuracy_score, r2_score

    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if y_train.shape[0] != train.n_samples or y_test.shape[0] != test.n_samples:
        raise BadInputError("one target value per sample is needed for the semantic check")
    classify = is_classification(np.concatenate([y_train, y_test]))
    z_train, _ = _features(codec, train, train)
    rec_test = codec.decode(codec.encode(test))
    z_test, z_hat = _features(codec, test, rec_test)
    if classify:
        model: Any = LogisticRegression(max_iter=3000)
        metric, name = accuracy_score, "accuracy"
    else:
        model, metric, name = Ridge(alpha=1.0), r2_score, "r2"
    model.fit(z_train, y_train)

    def score(x: np.ndarray) -> float:
        return float(metric(y_test, model.predict(x)))

    base, on_rec = score(z_test), score(z_hat)
    rng = np.random.default_rng(seed)
    groups: dict[str, dict[str, float]] = {}
    for gname in codec.layout.names:
        cols = codec.layout.indices(gname)
        drops = []
        for _ in range(repeats):
            shuffled = z_test.copy()
            shuffled[:, cols] = z_test[rng.permutation(z_test.shape[0])][:, cols]
            drops.append(base - score(shuffled))
        only = z_test.copy()
        only[:, cols] = z_hat[:, cols]
        groups[gname] = {
            "importance": float(np.mean(drops)),
            "score_group_reconstructed": score(only),
        }
    return {
        "task": "classification" if classify else "regression",
        "metric": name,
        "score_original": base,
        "score_reconstructed": on_rec,
        "drop": base - on_rec,
        "groups": groups,
    }
