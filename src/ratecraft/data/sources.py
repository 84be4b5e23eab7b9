"""Data read chunk by chunk: what a recording or table is, without its samples in memory.

A :class:`Source` knows its shape (rows × frames: channels × time, or features × samples), its
dtype and every fact a container keeps (rate, gain, units, names, positions, metadata,
families), and reads any frame range on demand. Encoding a source holds one chunk at a time,
so a recording larger than memory is coded in constant memory; ``to_data()`` reads it whole for
what needs it in memory (fitting on an excerpt, small files).

- :class:`MemorySource` wraps a :class:`Recording` or :class:`FeatureTable` already in memory;
- :class:`ArraySource` slices anything that slices like a 2-D array — an ``h5py`` dataset, a
  ``zarr`` array, an NWB series — with frames on either axis;
- :class:`FileArraySource` reads frame ranges of a flat binary array in a file (raw ``.bin`` /
  ``.dat``, the body of a ``.npy``) with positioned reads, so no page of the file stays mapped
  and the process's resident memory does not grow with the file.

The format modules of :mod:`ratecraft.data.io` open sources; :func:`ratecraft.data.io.open_source`
picks one by path.
"""

from __future__ import annotations

import dataclasses
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from ratecraft.data.types import Data, FeatureTable, Recording
from ratecraft.errors import BadInputError

__all__ = [
    "ArraySource",
    "Facts",
    "FileArraySource",
    "MemorySource",
    "RangeSource",
    "Source",
    "as_source",
    "data_of",
    "facts_of",
]


@dataclass
class Facts:
    """Everything a source says about its data besides the samples."""

    kind: str = "recording"
    sample_rate: float | None = None
    uv_per_step: float = 1.0
    units: str = "uV"
    channel_names: list[str] | None = None
    channel_positions: np.ndarray | None = None
    feature_names: list[str] | None = None
    families: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class Source(ABC):
    """A recording or table read frame range by frame range (see the module doc)."""

    def __init__(self, rows: int, frames: int, dtype: Any, facts: Facts, path: Path | None):
        if rows < 0 or frames < 0:
            raise BadInputError(f"{path or 'data'}: negative shape ({rows}, {frames})")
        self.rows = int(rows)
        self.frames = int(frames)
        self.dtype = np.dtype(dtype)
        self.facts = facts
        self.path = path

    @property
    def kind(self) -> str:
        return self.facts.kind

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.frames

    @property
    def nbytes(self) -> int:
        return int(self.rows * self.frames * self.dtype.itemsize)

    @abstractmethod
    def _read(self, start: int, stop: int) -> np.ndarray:
        """Rows × (stop − start) samples (bounds already checked)."""

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` as a C-contiguous rows × frames array of :attr:`dtype`."""
        start, stop = max(0, start), min(stop, self.frames)
        if stop <= start:
            return np.zeros((self.rows, 0), dtype=self.dtype)
        block = np.ascontiguousarray(self._read(start, stop), dtype=self.dtype)
        if block.shape != (self.rows, stop - start):
            raise BadInputError(
                f"{self.path or 'data'}: read {block.shape}, expected ({self.rows}, {stop - start})"
            )
        return block

    def to_data(self, start: int = 0, stop: int | None = None) -> Data:
        """Frames ``start:stop`` (all by default) in memory, with every fact of the source."""
        return data_of(self.read(start, self.frames if stop is None else stop), self.facts)

    def excerpt(self, max_samples: int) -> Data:
        """A contiguous middle stretch of at most ``max_samples`` values, in memory."""
        keep = max(1, max_samples // max(self.rows, 1))
        if self.frames <= keep:
            return self.to_data()
        start = (self.frames - keep) // 2
        return self.to_data(start, start + keep)

    def chunks(self, frames: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(first frame, block)`` of consecutive blocks of ``frames`` frames."""
        for first in range(0, self.frames, frames):
            yield first, self.read(first, first + frames)

    def close(self) -> None:  # noqa: B027  (most sources hold nothing open)
        """Release what the source holds open (files, datasets)."""

    def __enter__(self) -> Source:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def data_of(block: np.ndarray, facts: Facts) -> Data:
    """A Recording or FeatureTable of a rows × frames block with these facts."""
    if facts.kind == "table":
        return FeatureTable(block.T.copy(), facts.feature_names, facts.families, dict(facts.meta))
    if facts.sample_rate is None:
        raise BadInputError("recording has no sample rate; pass --fs")
    return Recording(
        block,
        facts.sample_rate,
        facts.uv_per_step,
        facts.channel_names,
        facts.channel_positions,
        dict(facts.meta),
        facts.units,
    )


def facts_of(data: Data) -> Facts:
    """Everything ``data`` carries besides its samples."""
    if isinstance(data, Recording):
        return Facts(
            "recording",
            data.sample_rate,
            data.uv_per_step,
            data.units,
            list(data.channel_names or []),
            data.channel_positions,
            meta=dict(data.meta),
        )
    return Facts(
        "table",
        feature_names=list(data.feature_names or []),
        families=list(data.families) if data.families is not None else None,
        meta=dict(data.meta),
    )


class MemorySource(Source):
    """A recording or table already in memory."""

    def __init__(self, data: Data, path: Path | None = None) -> None:
        self.data = data
        block = data.samples if isinstance(data, Recording) else data.values.T
        super().__init__(block.shape[0], block.shape[1], block.dtype, facts_of(data), path)
        self._block = block

    def _read(self, start: int, stop: int) -> np.ndarray:
        return self._block[:, start:stop]

    def to_data(self, start: int = 0, stop: int | None = None) -> Data:
        if start == 0 and (stop is None or stop >= self.frames):
            return self.data
        return super().to_data(start, stop)


class ArraySource(Source):
    """Anything that slices like a 2-D array (h5py, zarr, an NWB series), frames on an axis."""

    def __init__(
        self,
        array: Any,
        facts: Facts,
        *,
        frames_axis: int,
        path: Path | None = None,
        closer: Any = None,
    ) -> None:
        if len(array.shape) != 2 or frames_axis not in (0, 1):
            raise BadInputError(f"{path or 'data'}: expected a 2-D array, got {array.shape}")
        frames = int(array.shape[frames_axis])
        rows = int(array.shape[1 - frames_axis])
        super().__init__(rows, frames, array.dtype, facts, path)
        self.array = array
        self.frames_axis = frames_axis
        self._closer = closer

    def _read(self, start: int, stop: int) -> np.ndarray:
        if self.frames_axis == 1:
            return np.asarray(self.array[:, start:stop])
        return np.asarray(self.array[start:stop, :]).T

    def close(self) -> None:
        if self._closer is not None:
            self._closer.close()
            self._closer = None


class FileArraySource(Source):
    """A flat little-endian array in a file: ``frames × rows`` interleaved (raw recordings) or
    ``rows × frames`` (a ``.npy`` body), read with positioned reads per frame range.

    An interleaved file may hold more channels per frame than the source shows
    (``file_rows``): ``keep`` selects the ones it does (a SpikeGLX file's sync channel stays
    out of the recording)."""

    def __init__(
        self,
        path: Path,
        offset: int,
        rows: int,
        frames: int,
        dtype: Any,
        facts: Facts,
        *,
        interleaved: bool,
        file_rows: int | None = None,
        keep: slice | np.ndarray | None = None,
    ) -> None:
        super().__init__(rows, frames, dtype, facts, path)
        self.offset = int(offset)
        self.interleaved = interleaved
        self.file_rows = rows if file_rows is None else int(file_rows)
        self.keep = keep
        if self.file_rows != rows and (keep is None or not interleaved):
            raise ValueError("a channel selection needs an interleaved file and keep")
        try:
            self._fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise BadInputError(f"{path}: cannot read ({exc.strerror})") from None
        need = self.offset + self.file_rows * self.frames * self.dtype.itemsize
        size = os.fstat(self._fd).st_size
        if size < need:
            os.close(self._fd)
            raise BadInputError(f"{path}: holds {size} bytes, the declared shape needs {need}")

    def _pread(self, at: int, count: int) -> np.ndarray:
        n = count * self.dtype.itemsize
        raw = os.pread(self._fd, n, self.offset + at * self.dtype.itemsize)
        if len(raw) != n:
            raise BadInputError(f"{self.path}: file ended early")
        return np.frombuffer(raw, dtype=self.dtype.newbyteorder("<"), count=count)

    def _read(self, start: int, stop: int) -> np.ndarray:
        n = stop - start
        if self.interleaved:
            flat = self._pread(start * self.file_rows, n * self.file_rows)
            frames = flat.reshape(n, self.file_rows)
            return (frames if self.keep is None else frames[:, self.keep]).T
        out = np.empty((self.rows, n), dtype=self.dtype)
        for r in range(self.rows):
            out[r] = self._pread(r * self.frames + start, n)
        return out

    def close(self) -> None:
        fd = getattr(self, "_fd", -1)  # -1 once closed
        if fd >= 0:
            self._fd = -1
            os.close(fd)


class RangeSource(Source):
    """Frames ``start:stop`` of another source, as a source of its own (one time range of a
    long recording coded as its own container); closing it leaves the other open."""

    def __init__(self, source: Source, start: int, stop: int) -> None:
        start, stop = max(0, int(start)), min(int(stop), source.frames)
        if stop <= start:
            raise BadInputError(f"{source.path or 'data'}: empty frame range {start}:{stop}")
        meta = {**source.facts.meta, "range_of_source": [start, stop]}
        facts = dataclasses.replace(source.facts, meta=meta)
        super().__init__(source.rows, stop - start, source.dtype, facts, source.path)
        self.source, self.start = source, start

    def _read(self, start: int, stop: int) -> np.ndarray:
        return self.source.read(self.start + start, self.start + stop)


def as_source(data: Data | Source) -> Source:
    """``data`` as a source (a source is returned as it is)."""
    return data if isinstance(data, Source) else MemorySource(data)
