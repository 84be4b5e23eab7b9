"""In-memory data model: multichannel recordings and tables of grouped features."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ratecraft.dtypes import SUPPORTED_DTYPES
from ratecraft.errors import BadInputError

__all__ = ["SUPPORTED_DTYPES", "Data", "FeatureTable", "Recording"]


def _check_samples(samples: np.ndarray, what: str) -> np.ndarray:
    samples = np.asarray(samples)
    if samples.ndim != 2:
        raise BadInputError(f"{what} must be 2-D, got shape {samples.shape}")
    if samples.dtype.name not in SUPPORTED_DTYPES:
        raise BadInputError(f"{what} has unsupported dtype {samples.dtype}")
    return samples


@dataclass
class Recording:
    """Samples as channels × time, with the facts needed to interpret them.

    ``uv_per_step`` converts stored integer steps to ``units`` (microvolts unless a source
    says otherwise; 1.0 for data already in those units).
    """

    samples: np.ndarray
    sample_rate: float
    uv_per_step: float = 1.0
    channel_names: list[str] | None = None
    channel_positions: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    units: str = "uV"

    def __post_init__(self) -> None:
        self.samples = _check_samples(self.samples, "recording samples")
        if not (np.isfinite(self.sample_rate) and self.sample_rate > 0):
            raise BadInputError(f"sample rate must be positive, got {self.sample_rate}")
        if not (np.isfinite(self.uv_per_step) and self.uv_per_step > 0):
            raise BadInputError(f"uv_per_step must be positive, got {self.uv_per_step}")
        n = self.n_channels
        if self.channel_names is None:
            self.channel_names = [f"ch{i}" for i in range(n)]
        if len(self.channel_names) != n:
            raise BadInputError(f"{len(self.channel_names)} channel names for {n} channels")
        if self.channel_positions is not None:
            self.channel_positions = np.asarray(self.channel_positions, dtype=np.float64)
            if self.channel_positions.ndim != 2 or self.channel_positions.shape[0] != n:
                raise BadInputError(
                    f"channel positions must be ({n}, dims), got {self.channel_positions.shape}"
                )

    @property
    def n_channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate

    def microvolts(self) -> np.ndarray:
        """Samples in µV as float64."""
        return self.samples.astype(np.float64) * self.uv_per_step

    def slice_time(self, start: int, stop: int) -> Recording:
        """A recording holding frames ``start:stop`` (same metadata)."""
        return self.with_samples(self.samples[:, start:stop])

    def with_samples(self, samples: np.ndarray) -> Recording:
        """The same recording (rate, gain, names, positions, units, metadata) with ``samples``
        instead — a reconstruction, an excerpt."""
        return Recording(
            samples=samples,
            sample_rate=self.sample_rate,
            uv_per_step=self.uv_per_step,
            channel_names=list(self.channel_names or []),
            channel_positions=self.channel_positions,
            meta=dict(self.meta),
            units=self.units,
        )


@dataclass
class FeatureTable:
    """Samples × features, with feature names and an optional family (group) per feature."""

    values: np.ndarray
    feature_names: list[str] | None = None
    families: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = _check_samples(self.values, "table values")
        n = self.n_features
        if self.feature_names is None:
            self.feature_names = [f"f{i}" for i in range(n)]
        if len(self.feature_names) != n:
            raise BadInputError(f"{len(self.feature_names)} feature names for {n} features")
        if self.families is not None and len(self.families) != n:
            raise BadInputError(f"{len(self.families)} families for {n} features")

    @property
    def n_samples(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.values.shape[1])

    def family_indices(self) -> dict[str, np.ndarray]:
        """Column indices of each family, in first-seen order; one family 'all' when none given."""
        if self.families is None:
            return {"all": np.arange(self.n_features)}
        out: dict[str, list[int]] = {}
        for i, fam in enumerate(self.families):
            out.setdefault(fam, []).append(i)
        return {k: np.asarray(v) for k, v in out.items()}


Data = Recording | FeatureTable


def as_block(data: Data) -> np.ndarray:
    """The 2-D rows × frames view codecs work on (a table's features become rows)."""
    return data.samples if isinstance(data, Recording) else data.values.T


def slice_frames(data: Data, start: int, stop: int) -> Data:
    """Frames ``start:stop`` of a recording (time) or a table (samples), metadata kept."""
    if isinstance(data, Recording):
        return data.slice_time(start, stop)
    return FeatureTable(
        values=data.values[start:stop],
        feature_names=data.feature_names,
        families=data.families,
        meta=dict(data.meta),
    )


def excerpt(data: Data, max_samples: int) -> Data:
    """A contiguous stretch of ``data`` (from the middle) holding at most ``max_samples`` values,
    or ``data`` itself when it is that small: rate searches run on it before checking the whole."""
    rows, frames = as_block(data).shape
    keep = max(1, max_samples // max(rows, 1))
    if frames <= keep:
        return data
    start = (frames - keep) // 2
    return slice_frames(data, start, start + keep)
