"""Pick a source or a sink from the path: by extension, or through SpikeInterface.

Every format opens as a chunked :class:`~ratecraft.data.sources.Source` and writes through a
:class:`~ratecraft.data.sinks.Sink`, so encode and decode stream any length in constant memory.
``.npz`` and ``.csv`` (whole archives and text tables) are read whole and wrapped. Recordings of
acquisition systems — ``--format NAME``, a folder SpikeInterface saved, a SpikeGLX ``.bin``
with its ``.meta``, Open Ephys binary or legacy data — open through
:mod:`ratecraft.data.io.spikeinterface_io`. ``read_data``/``write_data`` are the in-memory
shortcuts over both.

Every failure to read is a one-line :class:`BadInputError` naming the path; sinks publish under
the final name only when everything was written, so a failed write leaves any earlier file
untouched.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ratecraft.data.io import (
    hdf5,
    numpy_files,
    nwb,
    raw,
    spikeinterface_io,
    table_csv,
    wav,
    zarr_store,
)
from ratecraft.data.io.common import bad
from ratecraft.data.sinks import Sink
from ratecraft.data.sources import Facts, MemorySource, Source, as_source, data_of
from ratecraft.data.types import Data, FeatureTable, Recording
from ratecraft.errors import BadInputError

PathLike = str | os.PathLike[str]


def _whole(reader: Callable[..., Data]) -> Callable[..., Source]:
    def opener(path: PathLike, **options: Any) -> Source:
        return MemorySource(reader(path, **options), Path(path))

    return opener


OPENERS: dict[str, Callable[..., Source]] = {
    ".npy": numpy_files.open_npy,
    ".npz": _whole(numpy_files.read_npz),
    ".wav": wav.open_wav,
    ".h5": hdf5.open_hdf5,
    ".hdf5": hdf5.open_hdf5,
    ".nwb": nwb.open_nwb,
    ".bin": raw.open_raw,
    ".dat": raw.open_raw,
    ".zarr": zarr_store.open_zarr,
    ".csv": _whole(table_csv.read_csv),
}


class MemorySink(Sink):
    """Formats written whole (``.npz`` archives, ``.csv`` text): blocks gathered in memory,
    then written all or nothing by the format's writer."""

    def __init__(
        self,
        path: Path,
        rows: int,
        frames: int,
        dtype: np.dtype,
        facts: Facts,
        *,
        writer: Callable[[Data, PathLike], None],
    ) -> None:
        super().__init__(path, rows, frames, dtype, facts)
        self.tmp.unlink()  # the format's writer makes its own temporary
        self._writer = writer
        self._block = np.empty((rows, frames), dtype=self.dtype)

    def _write(self, first: int, block: np.ndarray) -> None:
        self._block[:, first : first + block.shape[1]] = block

    def commit(self) -> None:
        if self._next != self.frames:
            raise ValueError(f"wrote {self._next} of {self.frames} frames")
        self._writer(data_of(self._block, self.facts), self.path)
        self._done = True

    def abort(self) -> None:
        self._done = True


SINKS: dict[str, Callable[..., Sink]] = {
    ".npy": numpy_files.NpySink,
    ".npz": lambda *a, **k: MemorySink(*a, writer=numpy_files.write_npz, **k),
    ".wav": wav.WavSink,
    ".h5": hdf5.Hdf5Sink,
    ".hdf5": hdf5.Hdf5Sink,
    ".nwb": nwb.NwbSink,
    ".bin": raw.RawSink,
    ".dat": raw.RawSink,
    ".zarr": zarr_store.ZarrSink,
    ".csv": lambda *a, **k: MemorySink(*a, writer=table_csv.write_csv, **k),
}
READERS = OPENERS  # the extensions read_data understands
WRITERS = SINKS  # and those write_data does
_TAKES_DATASET = frozenset({".h5", ".hdf5", ".nwb", ".zarr"})
_TAKES_FS = frozenset(OPENERS) - {".csv"}
_TAKES_LAYOUT = frozenset({".bin", ".dat"})


_GLOB = frozenset("*?[")


def expand_inputs(items: list[PathLike], fmt: str | None = None) -> list[Path]:
    """The data files ``items`` name: a glob's matches, a plain folder's data files (sorted; a
    folder that is itself a recording — zarr, SpikeInterface, Open Ephys — stays one), files as
    they are. Each item must name at least one."""
    out: list[Path] = []
    for item in items:
        text = str(item)
        if _GLOB & set(text):
            found = sorted(Path(m) for m in glob.glob(text, recursive=True))
            if not found:
                raise BadInputError(f"{text}: no file matches")
            out += found
            continue
        p = Path(item)
        if p.is_dir() and p.suffix.lower() != ".zarr" and not _through_spikeinterface(p, fmt, None):
            inside = sorted(f for f in p.iterdir() if f.suffix.lower() in OPENERS and f.is_file())
            if not inside:
                raise bad(p, f"holds no data files ({', '.join(OPENERS)})")
            out += inside
        else:
            out.append(p)
    return out


def _through_spikeinterface(p: Path, fmt: str | None, stream: str | None) -> bool:
    return (
        fmt is not None
        or stream is not None
        or spikeinterface_io.is_si_folder(p)
        or spikeinterface_io.recognised(p) is not None
    )


def open_source(
    path: PathLike,
    *,
    fs: float | None = None,
    dataset: str | None = None,
    kind: str | None = None,
    channels: int | None = None,
    dtype: str | None = None,
    fmt: str | None = None,
    stream: str | None = None,
) -> Source:
    """A chunked source for the data at ``path`` (close it when done, or use ``with``).

    ``fs`` supplies (or overrides) the sample rate, ``dataset`` names the dataset, series or
    array inside an HDF5/NWB/zarr file, ``kind`` (``"recording"`` or ``"table"``) forces how a
    2-D array is read, ``channels``/``dtype`` describe a raw binary file, and ``fmt`` /
    ``stream`` name the SpikeInterface format and stream of an acquisition system's recording
    (recognised without them for SpikeGLX, Open Ephys and SpikeInterface's own folders).
    """
    p = Path(path)
    if not p.exists():
        raise bad(p, "no such file or folder")
    if _through_spikeinterface(p, fmt, stream):
        for flag, value in (("--dataset", dataset), ("--channels", channels), ("--dtype", dtype)):
            if value is not None:
                raise bad(
                    p,
                    f"{flag} does not apply: SpikeInterface reads this recording's own description",
                )
        return spikeinterface_io.open_spikeinterface(p, fmt=fmt, stream=stream, fs=fs, kind=kind)
    suffix = p.suffix.lower()
    if p.is_dir() and suffix != ".zarr":
        raise bad(
            p,
            "a folder that is neither a zarr store, a SpikeInterface-saved folder nor Open Ephys "
            "data; name its --format",
        )
    opener = OPENERS.get(suffix)
    if opener is None:
        raise bad(
            p,
            f"unknown file type {p.suffix or '(none)'!r}; supported: {', '.join(OPENERS)}, "
            "or a recording SpikeInterface reads (--format)",
        )
    options: dict[str, Any] = {"kind": kind}
    if dataset is not None:
        if suffix not in _TAKES_DATASET:
            raise bad(p, f"--dataset applies to {', '.join(sorted(_TAKES_DATASET))} files only")
        options["dataset"] = dataset
    if fs is not None:
        if suffix not in _TAKES_FS:
            raise bad(p, "--fs does not apply to a feature table")
        options["fs"] = fs
    for name, value in (("channels", channels), ("dtype", dtype)):
        if value is not None:
            if suffix not in _TAKES_LAYOUT:
                raise bad(p, f"--{name} applies to raw binary files (.bin, .dat) only")
            options[name] = value
    try:
        return opener(p, **options)
    except BadInputError:
        raise
    except (OSError, ValueError, KeyError, TypeError, EOFError, MemoryError) as exc:
        raise bad(p, f"cannot read {suffix} data ({type(exc).__name__}: {exc})") from exc


def read_data(
    path: PathLike,
    *,
    fs: float | None = None,
    dataset: str | None = None,
    kind: str | None = None,
    channels: int | None = None,
    dtype: str | None = None,
    fmt: str | None = None,
    stream: str | None = None,
) -> Recording | FeatureTable:
    """The data at ``path``, whole, in memory (see :func:`open_source` for the options)."""
    with open_source(
        path, fs=fs, dataset=dataset, kind=kind, channels=channels, dtype=dtype, fmt=fmt,
        stream=stream,
    ) as source:  # fmt: skip
        try:
            return source.to_data()
        except BadInputError:
            raise
        except (OSError, ValueError, KeyError, TypeError, EOFError, MemoryError) as exc:
            raise bad(path, f"cannot read data ({type(exc).__name__}: {exc})") from exc


def open_sink(
    path: PathLike,
    rows: int,
    frames: int,
    dtype: Any,
    facts: Facts,
    *,
    dataset: str | None = None,
) -> Sink:
    """A sink at ``path`` for ``rows × frames`` of ``dtype`` described by ``facts`` (format by
    extension); use it as a context manager, or call ``commit``/``abort``."""
    p = Path(path)
    suffix = p.suffix.lower()
    factory = SINKS.get(suffix)
    if factory is None:
        raise bad(
            p,
            f"cannot write {p.suffix or 'files without an extension'!r}; "
            f"supported: {', '.join(SINKS)}",
        )
    if p.is_dir() and suffix != ".zarr":
        raise bad(p, "is a folder")
    options: dict[str, Any] = {}
    if dataset is not None:
        if suffix not in {".h5", ".hdf5", ".nwb"}:
            raise bad(p, "--dataset applies to .h5, .hdf5, .nwb files only")
        options["dataset"] = dataset
    return factory(p, rows, frames, np.dtype(dtype), facts, **options)


def write_data(
    data: Recording | FeatureTable, path: PathLike, *, dataset: str | None = None
) -> None:
    """Write ``data`` in the format of ``path``'s extension, all or nothing.

    ``dataset`` names the HDF5 dataset or NWB ElectricalSeries to create.
    """
    if not isinstance(data, Recording | FeatureTable):
        raise BadInputError(
            f"{path}: can only write a Recording or a FeatureTable, got {type(data).__name__}"
        )
    source = as_source(data)
    with open_sink(
        path, source.rows, source.frames, source.dtype, source.facts, dataset=dataset
    ) as sink:
        sink.write(0, source.read(0, source.frames))
