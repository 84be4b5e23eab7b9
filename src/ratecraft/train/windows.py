"""Training windows read from recordings on disk, for a ``torch.utils.data`` pipeline.

A codec trained on many recordings cannot hold them all in memory: :class:`SourceWindows` keeps
only an index of window starts and reads each window from its chunked source when the
:class:`~torch.utils.data.DataLoader` asks (in worker processes when the trainer has
``workers``; the sources read by positioned reads, so forked workers share their files safely).
Windows are normalized per channel with the statistics :func:`channel_stats` streams over the
training recordings, chunk by chunk.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ratecraft.data.sources import Source
from ratecraft.errors import BadInputError

__all__ = ["SourceWindows", "channel_stats", "window_index"]

_STATS_CHUNK = 1 << 20  # frames × channels read at a time for the statistics


def channel_stats(sources: list[Source], stop_fraction: float = 1.0) -> tuple[np.ndarray, ...]:
    """Per-channel mean and standard deviation over ``sources`` (each read up to
    ``stop_fraction`` of its frames), streamed in chunks; std is floored at 1e-6."""
    rows = sources[0].rows
    count, total, squares = 0, np.zeros(rows), np.zeros(rows)
    for s in sources:
        stop = max(1, int(s.frames * stop_fraction))
        step = max(1, _STATS_CHUNK // max(rows, 1))
        for first in range(0, stop, step):
            x = s.read(first, min(stop, first + step)).astype(np.float64)
            if s.dtype.kind == "f" and not np.isfinite(x).all():
                raise BadInputError(f"{s.path or 'a recording'}: contains NaN or infinite values")
            count += x.shape[1]
            total += x.sum(axis=1)
            squares += (x * x).sum(axis=1)
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
    return mean, np.maximum(std, 1e-6)


def window_index(
    sources: list[Source],
    window: int,
    limit: int,
    seed: int,
    span: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    """``(source, first frame)`` of non-overlapping windows within the ``span`` (fractions of
    its length) of each source; at most ``limit`` of them, drawn with ``seed``, in file order."""
    parts = []
    for i, s in enumerate(sources):
        lo, hi = int(s.frames * span[0]), int(s.frames * span[1])
        n = (hi - lo) // window
        if n > 0:
            parts.append(np.stack([np.full(n, i), lo + np.arange(n) * window], axis=1))
    index = np.concatenate(parts) if parts else np.zeros((0, 2), np.int64)
    if len(index) > limit:
        keep = np.sort(np.random.default_rng(seed).choice(len(index), limit, replace=False))
        index = index[keep]
    return index.astype(np.int64)


class SourceWindows(Dataset[torch.Tensor]):
    """Normalized windows (channels × window, flattened) read on demand from sources."""

    def __init__(
        self,
        sources: list[Source],
        index: np.ndarray,
        window: int,
        mean: np.ndarray,
        std: np.ndarray,
    ) -> None:
        self.sources = sources
        self.index = index
        self.window = int(window)
        self.mean = mean[:, None]
        self.std = std[:, None]

    def __len__(self) -> int:
        return len(self.index)

    def windows(self, i: int) -> np.ndarray:
        source, first = (int(v) for v in self.index[i])
        block = self.sources[source].read(first, first + self.window).astype(np.float64)
        return ((block - self.mean) / self.std).astype(np.float32)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(self.windows(i).reshape(-1))

    def load(self, limit: int | None = None) -> np.ndarray:
        """The first ``limit`` windows (all by default) in memory, (n, channels, window)."""
        n = len(self) if limit is None else min(limit, len(self))
        rows = self.sources[0].rows if self.sources else 0
        out = np.empty((n, rows, self.window), np.float32)
        for i in range(n):
            out[i] = self.windows(i)
        return out
