"""Cleaning a feature table before modelling: drop useless columns, record why, mask the holes.

Three kinds of feature carry nothing a codec should spend bits on: columns that are mostly
NaN/inf (their statistics are noise), constant columns (zero variance makes normalized errors
explode) and exact duplicates (they double a feature's weight in the loss and the allocation).
:func:`clean_table` drops them and returns a :class:`CleaningReport` that says exactly which
feature went and why, so the report can be stored in a model's metadata and read by a person.

Non-finite cells left in kept features are filled with the feature's median (so models see
finite numbers) and their positions are recorded in :class:`MissingCells`, so a decoder can put
NaN, +inf and -inf back exactly where they were. Duplicate columns can be rebuilt exactly from
the report too, and constant ones to within ``constant_tolerance``
(:meth:`CleaningReport.restore_dropped`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Literal, Self

import numpy as np
from pydantic import Field, model_validator

from ratecraft.config import CheckedModel
from ratecraft.data.types import FeatureTable
from ratecraft.errors import BadInputError

__all__ = [
    "CleaningConfig",
    "CleaningReport",
    "DroppedFeature",
    "MissingCells",
    "apply_cleaning",
    "clean_table",
]

_NAN, _POS_INF, _NEG_INF = 0, 1, 2  # MissingCells.kinds codes


class CleaningConfig(CheckedModel):
    """What :func:`clean_table` drops.

    ``max_nan_fraction``: a feature whose fraction of non-finite cells (NaN, ±inf) exceeds this is
    dropped. ``constant_tolerance``: a feature counts as constant when the spread (max − min) of
    its finite values is at most ``constant_tolerance × max(1, max |x|)`` (0 = exactly constant).
    Duplicates are exact copies (same values, same NaN positions) of an earlier kept feature.
    """

    max_nan_fraction: float = Field(
        default=0.2, ge=0.0, le=1.0, description="drop a feature with more non-finite cells"
    )
    drop_constant: bool = Field(True, description="drop constant features (rebuilt on decode)")
    drop_duplicates: bool = Field(True, description="drop exact copies (rebuilt on decode)")
    constant_tolerance: float = Field(
        default=1e-12,
        ge=0.0,
        le=1.0,
        description="spread, relative to max(1, max |x|), at most which a feature is constant",
    )


class DroppedFeature(CheckedModel):
    """One dropped feature: its name and original column, a human reason and what rebuilds it.

    ``kind`` is the machine-readable reason; ``value`` holds a constant feature's value and
    ``duplicate_of`` the name of the feature a duplicate copies.
    """

    name: str
    index: int = Field(ge=0)
    reason: str
    kind: Literal["nan_fraction", "no_finite_values", "constant", "duplicate"]
    value: float | None = None
    duplicate_of: str | None = None


class MissingCells(CheckedModel):
    """Positions of non-finite cells in a (cleaned) table, sparse: row, column and kind.

    ``kinds`` codes: 0 = NaN, 1 = +inf, 2 = -inf. :meth:`restore` writes them back exactly.
    Columns index the cleaned (kept) features.
    """

    shape: tuple[int, int]
    rows: list[int] = Field(default_factory=list)
    cols: list[int] = Field(default_factory=list)
    kinds: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        n_rows, n_cols = self.shape
        if not (len(self.rows) == len(self.cols) == len(self.kinds)):
            raise ValueError("rows, cols and kinds must have the same length")
        if self.rows and not (min(self.rows) >= 0 and max(self.rows) < n_rows):
            raise ValueError(f"a missing-cell row is outside 0..{n_rows - 1}")
        if self.cols and not (min(self.cols) >= 0 and max(self.cols) < n_cols):
            raise ValueError(f"a missing-cell column is outside 0..{n_cols - 1}")
        if any(k not in (_NAN, _POS_INF, _NEG_INF) for k in self.kinds):
            raise ValueError("missing-cell kinds must be 0 (NaN), 1 (+inf) or 2 (-inf)")
        return self

    @classmethod
    def from_values(cls, values: np.ndarray) -> MissingCells:
        """Record every non-finite cell of a 2-D array."""
        values = np.asarray(values, dtype=np.float64)
        rows, cols = np.nonzero(~np.isfinite(values))
        cells = values[rows, cols]
        kinds = np.where(np.isnan(cells), _NAN, np.where(cells > 0, _POS_INF, _NEG_INF))
        return cls(
            shape=(int(values.shape[0]), int(values.shape[1])),
            rows=rows.tolist(),
            cols=cols.tolist(),
            kinds=kinds.tolist(),
        )

    @property
    def count(self) -> int:
        return len(self.rows)

    def mask(self) -> np.ndarray:
        """Dense boolean mask (True where the cell was non-finite)."""
        out = np.zeros(self.shape, dtype=bool)
        out[self.rows, self.cols] = True
        return out

    def restore(self, values: np.ndarray) -> np.ndarray:
        """A copy of ``values`` (float64) with the recorded NaN/±inf cells written back."""
        out = np.array(values, dtype=np.float64)
        if out.shape != tuple(self.shape):
            raise BadInputError(f"missing-cell mask is for shape {self.shape}, got {out.shape}")
        fill = np.array([np.nan, np.inf, -np.inf])[np.asarray(self.kinds, dtype=np.intp)]
        out[self.rows, self.cols] = fill
        return out


class CleaningReport(CheckedModel):
    """What cleaning did, for a model's metadata: kept and dropped features, fill values, holes.

    ``kept`` are original column indices in order; ``fill_values`` the per-kept-feature medians
    (of finite values) that replaced non-finite cells; ``missing`` the positions of those cells
    in the cleaned table. Round-trips through ``model_dump_json`` / ``model_validate_json``.
    """

    config: CleaningConfig
    n_features_in: int = Field(ge=1)
    feature_names_in: list[str]
    kept: list[int]
    dropped: list[DroppedFeature]
    fill_values: list[float]
    missing: MissingCells

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(self.feature_names_in) != self.n_features_in:
            raise ValueError("feature_names_in does not match n_features_in")
        if len(self.fill_values) != len(self.kept) or self.missing.shape[1] != len(self.kept):
            raise ValueError("fill_values and missing must describe the kept features")
        seen = sorted(self.kept + [d.index for d in self.dropped])
        if seen != list(range(self.n_features_in)):
            raise ValueError("every input feature must be either kept or dropped exactly once")
        return self

    @property
    def kept_names(self) -> list[str]:
        return [self.feature_names_in[i] for i in self.kept]

    @property
    def dropped_names(self) -> list[str]:
        return [d.name for d in self.dropped]

    def reasons(self) -> dict[str, str]:
        """Dropped feature name → reason, in column order."""
        return {d.name: d.reason for d in sorted(self.dropped, key=lambda d: d.index)}

    def restore_dropped(self, kept_values: np.ndarray) -> np.ndarray:
        """A full-width table from the kept columns: constants and duplicates rebuilt exactly.

        Features dropped for too many missing values come back as NaN throughout (they were not
        coded). Put the kept features' missing cells back first (:meth:`MissingCells.restore`)
        so duplicates copy them too.
        """
        kept_values = np.asarray(kept_values, dtype=np.float64)
        if kept_values.ndim != 2 or kept_values.shape[1] != len(self.kept):
            raise BadInputError(
                f"expected samples × {len(self.kept)} kept features, got {kept_values.shape}"
            )
        out = np.full((kept_values.shape[0], self.n_features_in), np.nan)
        out[:, self.kept] = kept_values
        column = {name: i for i, name in enumerate(self.feature_names_in)}
        for d in sorted(self.dropped, key=lambda d: d.index):
            if d.kind == "constant" and d.value is not None:
                out[:, d.index] = d.value
            elif d.kind == "duplicate" and d.duplicate_of is not None:
                out[:, d.index] = out[:, column[d.duplicate_of]]
        return out


def clean_table(
    table: FeatureTable, config: CleaningConfig | Mapping[str, Any] | None = None
) -> tuple[FeatureTable, CleaningReport]:
    """Drop NaN/inf-heavy, constant and duplicate features; fill remaining holes with medians.

    Checks run in that order, each on the features that survived the previous one, so a
    duplicate of a NaN-heavy column is reported as NaN-heavy (it is dropped for that reason
    first). A feature with no finite value at all is always dropped. Returns the cleaned table
    (float64, finite, kept columns in original order, names and families kept) and the report.
    """
    cfg = (
        config
        if isinstance(config, CleaningConfig)
        else CleaningConfig.model_validate(config or {})
    )
    values = np.asarray(table.values, dtype=np.float64)
    n_samples, n_features = values.shape
    if n_samples == 0:
        raise BadInputError("cannot clean a table with no samples")
    names = list(table.feature_names or [])

    finite = np.isfinite(values)
    nan_fraction = 1.0 - finite.mean(axis=0)
    dropped: list[DroppedFeature] = []
    survivors: list[int] = []
    for j in range(n_features):
        if not finite[:, j].any():
            dropped.append(_drop(names, j, "no finite values", "no_finite_values"))
        elif nan_fraction[j] > cfg.max_nan_fraction:
            reason = f"nan_fraction={nan_fraction[j]:.2f} > {cfg.max_nan_fraction:g}"
            dropped.append(_drop(names, j, reason, "nan_fraction"))
        else:
            survivors.append(j)

    if cfg.drop_constant:
        still: list[int] = []
        for j in survivors:
            col = values[finite[:, j], j]
            spread = float(col.max() - col.min())
            if spread <= cfg.constant_tolerance * max(1.0, float(np.abs(col).max())):
                dropped.append(_drop(names, j, "constant", "constant", value=float(np.median(col))))
            else:
                still.append(j)
        survivors = still

    if cfg.drop_duplicates:
        kept_by_key: dict[bytes, list[int]] = {}
        still = []
        for j in survivors:
            key = _column_key(values[:, j])
            original = next(
                (k for k in kept_by_key.get(key, []) if _same(values[:, k], values[:, j])), None
            )
            if original is None:
                kept_by_key.setdefault(key, []).append(j)
                still.append(j)
            else:
                dropped.append(
                    _drop(
                        names,
                        j,
                        f"duplicate of {names[original]}",
                        "duplicate",
                        duplicate_of=names[original],
                    )
                )
        survivors = still

    if not survivors:
        raise BadInputError(f"cleaning dropped all {n_features} features; nothing left to model")

    kept_values = values[:, survivors]
    missing = MissingCells.from_values(kept_values)
    fill = np.array([np.median(kept_values[finite[:, j], i]) for i, j in enumerate(survivors)])
    holes = ~np.isfinite(kept_values)
    kept_values = np.where(holes, fill[None, :], kept_values)

    report = CleaningReport(
        config=cfg,
        n_features_in=n_features,
        feature_names_in=names,
        kept=survivors,
        dropped=sorted(dropped, key=lambda d: d.index),
        fill_values=fill.tolist(),
        missing=missing,
    )
    cleaned = FeatureTable(
        values=kept_values,
        feature_names=[names[j] for j in survivors],
        families=[table.families[j] for j in survivors] if table.families is not None else None,
        meta=dict(table.meta),
    )
    return cleaned, report


def apply_cleaning(
    table: FeatureTable | np.ndarray, report: CleaningReport
) -> tuple[np.ndarray, MissingCells]:
    """Clean new data exactly as the training table was: same columns, same fill values.

    Nothing is re-estimated (a codec must treat every table it encodes alike). Returns the kept
    columns with non-finite cells filled by the stored medians, and where those cells were.
    """
    values = np.asarray(table.values if isinstance(table, FeatureTable) else table, np.float64)
    if values.ndim != 2 or values.shape[1] != report.n_features_in:
        raise BadInputError(
            f"expected samples × {report.n_features_in} features, got shape {values.shape}"
        )
    if isinstance(table, FeatureTable) and list(table.feature_names or []) != list(
        report.feature_names_in
    ):
        raise BadInputError("table feature names differ from the ones cleaning was fitted on")
    kept = values[:, report.kept]
    missing = MissingCells.from_values(kept)
    fill = np.asarray(report.fill_values, dtype=np.float64)
    return np.where(np.isfinite(kept), kept, fill[None, :]), missing


def _drop(names: list[str], j: int, reason: str, kind: str, **extra: Any) -> DroppedFeature:
    return DroppedFeature(name=names[j], index=j, reason=reason, kind=kind, **extra)


def _column_key(col: np.ndarray) -> bytes:
    """A short hash equal for exact copies (NaN payloads and -0.0 normalised)."""
    canon = np.where(np.isnan(col), np.nan, col + 0.0)
    return hashlib.blake2b(canon.tobytes(), digest_size=16).digest()


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a, b, equal_nan=True))
