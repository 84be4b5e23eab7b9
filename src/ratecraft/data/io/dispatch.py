"""Pick a reader or writer from the path: by extension, or Open Ephys for a folder.

Every failure to read is a one-line :class:`BadInputError` naming the path; writers replace the
target atomically, so a failed write leaves any earlier file untouched.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ratecraft.data.io import hdf5, numpy_files, nwb, openephys, table_csv, wav
from ratecraft.data.io.common import bad
from ratecraft.data.types import Data, FeatureTable, Recording
from ratecraft.errors import BadInputError

PathLike = str | os.PathLike[str]

READERS: dict[str, Callable[..., Data]] = {
    ".npy": numpy_files.read_npy,
    ".npz": numpy_files.read_npz,
    ".wav": wav.read_wav,
    ".h5": hdf5.read_hdf5,
    ".hdf5": hdf5.read_hdf5,
    ".nwb": nwb.read_nwb,
    ".continuous": openephys.read_openephys,
    ".csv": table_csv.read_csv,
}
WRITERS: dict[str, Callable[..., None]] = {
    ".npy": numpy_files.write_npy,
    ".npz": numpy_files.write_npz,
    ".wav": wav.write_wav,
    ".h5": hdf5.write_hdf5,
    ".hdf5": hdf5.write_hdf5,
    ".nwb": nwb.write_nwb,
    ".csv": table_csv.write_csv,
}
_TAKES_DATASET = frozenset({".h5", ".hdf5", ".nwb"})
_TAKES_FS = frozenset(READERS) - {".csv"}


def read_data(
    path: PathLike,
    *,
    fs: float | None = None,
    dataset: str | None = None,
    kind: str | None = None,
) -> Recording | FeatureTable:
    """Read a recording or a feature table from ``path``.

    ``fs`` supplies (or overrides) the sample rate, ``dataset`` names the dataset or series inside
    an HDF5/NWB file, and ``kind`` (``"recording"`` or ``"table"``) forces how a 2-D array in
    ``.npy``/``.npz``/``.h5`` is read. A folder is read as Open Ephys legacy ``.continuous`` files.
    """
    p = Path(path)
    if not p.exists():
        raise bad(p, "no such file or folder")
    suffix = ".continuous" if p.is_dir() else p.suffix.lower()
    reader = READERS.get(suffix)
    if reader is None:
        raise bad(
            p,
            f"unknown file type {p.suffix or '(none)'!r}; supported: "
            f"{', '.join(READERS)} or an Open Ephys folder",
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
    try:
        return reader(p, **options)
    except BadInputError:
        raise
    except (OSError, ValueError, KeyError, TypeError, EOFError, MemoryError) as exc:
        raise bad(p, f"cannot read {suffix} data ({type(exc).__name__}: {exc})") from exc


def write_data(
    data: Recording | FeatureTable, path: PathLike, *, dataset: str | None = None
) -> None:
    """Write ``data`` in the format of ``path``'s extension, atomically (temp file + rename).

    ``dataset`` names the HDF5 dataset or NWB ElectricalSeries to create.
    """
    p = Path(path)
    if not isinstance(data, Recording | FeatureTable):
        raise BadInputError(
            f"{p}: can only write a Recording or a FeatureTable, got {type(data).__name__}"
        )
    suffix = p.suffix.lower()
    writer = WRITERS.get(suffix)
    if writer is None:
        raise bad(
            p,
            f"cannot write {p.suffix or 'files without an extension'!r}; "
            f"supported: {', '.join(WRITERS)}",
        )
    if p.is_dir():
        raise bad(p, "is a folder")
    if dataset is not None:
        if suffix not in _TAKES_DATASET:
            raise bad(p, f"--dataset applies to {', '.join(sorted(_TAKES_DATASET))} files only")
        writer(data, p, dataset=dataset)
    else:
        writer(data, p)
