"""Several recordings that train one codec: opened as chunked sources, split by recording.

A codec that learns from many recordings must be judged on recordings it did not train on, not
only on a later stretch of the same one: :func:`split_by_recording` holds whole recordings out
(seeded) unless the caller names the validation recordings. The recordings must agree on what a
model is built for — channel count, sample rate, sample type — and one line names the first
that does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import TracebackType

import numpy as np

from ratecraft.data.sources import Source
from ratecraft.errors import BadInputError

__all__ = ["RecordingSet", "split_by_recording"]


@dataclass
class RecordingSet:
    """Training and validation recordings (``val`` empty: validate on a later stretch of each
    training recording, as a single recording does)."""

    train: list[Source]
    val: list[Source] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.train:
            raise BadInputError("no training recordings")
        first = self.train[0]
        for s in [*self.train, *self.val]:
            if s.facts.kind != "recording":
                raise BadInputError(f"{name_of(s)}: a {s.facts.kind}, not a recording")
            for what, mine, theirs in (
                ("channels", s.rows, first.rows),
                ("Hz", s.facts.sample_rate, first.facts.sample_rate),
                ("sample type", s.dtype, first.dtype),
            ):
                if mine != theirs:
                    raise BadInputError(
                        f"{name_of(s)} has {mine} {what}, {name_of(first)} has {theirs}: one "
                        "model is fitted to one probe layout"
                    )

    @property
    def sources(self) -> list[Source]:
        return [*self.train, *self.val]

    def close(self) -> None:
        for s in self.sources:
            s.close()

    def __enter__(self) -> RecordingSet:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def name_of(source: Source) -> str:
    return str(source.path) if source.path is not None else "a recording in memory"


def split_by_recording(sources: list[Source], val_fraction: float, seed: int) -> RecordingSet:
    """Hold out ``val_fraction`` of the recordings (at least one when there are two or more,
    chosen by ``seed``); a single recording is validated on its own later stretch."""
    if len(sources) < 2 or val_fraction <= 0:
        return RecordingSet(list(sources))
    n_val = min(len(sources) - 1, max(1, math.floor(len(sources) * val_fraction + 0.5)))
    held = set(np.random.default_rng(seed).permutation(len(sources))[:n_val].tolist())
    return RecordingSet(
        [s for i, s in enumerate(sources) if i not in held],
        [s for i, s in enumerate(sources) if i in held],
    )
