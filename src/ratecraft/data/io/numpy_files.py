"""``.npy`` and ``.npz`` files, read without ever unpickling.

``.npy`` holds one 2-D array: channels × time for a recording (the rate comes from ``--fs``) or
samples × features for a table. ``.npz`` holds named arrays::

    recording: samples (or data), fs (or sample_rate), uv_per_step, channel_names,
               channel_positions, meta (JSON text)
    table:     values, feature_names, families, meta (JSON text)

Names are stored as unicode string arrays, never as pickled objects.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ratecraft.atomic import atomic_output
from ratecraft.data.io.common import (
    bad,
    check_kind,
    make_recording,
    make_table,
    meta_from_json,
    meta_to_json,
    resolve_rate,
    scalar,
    strings,
    warn_dropped,
)
from ratecraft.data.sinks import Sink
from ratecraft.data.sources import Facts, FileArraySource, Source
from ratecraft.data.types import Data, FeatureTable, Recording
from ratecraft.dtypes import SUPPORTED_DTYPES
from ratecraft.errors import BadInputError

PathLike = str | os.PathLike[str]

_LOAD_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError)


def _check_declared(path: PathLike, fh: BinaryIO, available: int, what: str) -> None:
    """Refuse an array whose header declares objects or more bytes than the file holds, before
    numpy allocates it (a corrupt header could otherwise ask for terabytes)."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read_header(fh)
    except (ValueError, OSError, EOFError) as exc:
        raise bad(path, f"{what} has a corrupt .npy header ({exc})") from exc
    if dtype.hasobject:
        raise bad(path, f"{what} holds Python objects; refusing to unpickle")
    need = math.prod(shape) * dtype.itemsize
    have = available - fh.tell()
    if need > have:
        raise bad(path, f"{what} declares shape {shape} ({need} bytes) but holds {have} bytes")


def _precheck_npy(path: PathLike) -> None:
    with open(path, "rb") as fh:
        _check_declared(path, fh, os.fstat(fh.fileno()).st_size, "array")


def _precheck_npz(path: PathLike) -> None:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.filename.endswith(".npy"):
                with archive.open(info) as member:
                    _check_declared(path, member, info.file_size, f"array {info.filename!r}")


def open_npy(path: PathLike, *, fs: float | None = None, kind: str | None = None) -> Source:
    """A 2-D ``.npy`` array as a chunked source: a recording, channels × time (needs ``fs``),
    unless ``kind="table"`` (samples × features). The body is read frame range by frame range."""
    check_kind(path, kind, "recording", "table")
    fmt = np.lib.format
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            _check_declared(path, fh, size, "array")
            fh.seek(0)
            version = fmt.read_magic(fh)
            read_header = (
                fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(fh)
            offset = fh.tell()
    except BadInputError:
        raise
    except _LOAD_ERRORS as exc:
        raise bad(path, f"not a readable .npy file ({exc})") from exc
    if len(shape) != 2:
        raise bad(path, f"expected a 2-D array, got shape {shape}")
    if dtype.name not in SUPPORTED_DTYPES or dtype.byteorder == ">":
        raise bad(
            path, f"unsupported dtype {dtype} (use little-endian {', '.join(SUPPORTED_DTYPES)})"
        )
    a, b = (int(n) for n in shape)
    p = Path(path)
    if kind == "table":  # samples × features: C order is interleaved by sample
        facts = Facts("table")
        return FileArraySource(p, offset, b, a, dtype, facts, interleaved=not fortran)
    facts = Facts("recording", sample_rate=resolve_rate(path, None, fs))
    return FileArraySource(p, offset, a, b, dtype, facts, interleaved=bool(fortran))


class NpySink(Sink):
    """A bare ``.npy`` (channels × time, or samples × features), written row segment by row
    segment; ``.npy`` keeps no rate, names or metadata (use ``.npz``), and says so."""

    def __init__(self, path: Path, rows: int, frames: int, dtype: np.dtype, facts: Facts) -> None:
        super().__init__(path, rows, frames, dtype, facts)
        if facts.kind == "table":
            dropped = ["feature names"] + ["families"] * bool(facts.families)
            shape = (frames, rows)
        else:
            dropped = (
                ["sample rate", "channel names"]
                + ["µV per step"] * (facts.uv_per_step != 1.0)
                + ["channel positions"] * (facts.channel_positions is not None)
            )
            shape = (rows, frames)
        warn_dropped(path, ".npy", dropped + ["metadata"] * bool(facts.meta))
        self._fh = open(self.tmp, "wb")  # noqa: SIM115  (closed in _finish/_discard)
        np.lib.format.write_array_header_2_0(
            self._fh,
            {
                "descr": np.lib.format.dtype_to_descr(self.dtype),
                "fortran_order": False,
                "shape": shape,
            },
        )
        self._offset = self._fh.tell()
        self._fh.truncate(self._offset + rows * frames * self.dtype.itemsize)

    def _write(self, first: int, block: np.ndarray) -> None:
        item = self.dtype.itemsize
        fd = self._fh.fileno()
        le = block.astype(self.dtype.newbyteorder("<"), copy=False)
        if self.facts.kind == "table":
            os.pwrite(
                fd, np.ascontiguousarray(le.T).tobytes(), self._offset + first * self.rows * item
            )
            return
        for r in range(self.rows):
            os.pwrite(fd, le[r].tobytes(), self._offset + (r * self.frames + first) * item)

    def _finish(self) -> None:
        self._fh.flush()
        self._fh.close()

    def _discard(self) -> None:
        self._fh.close()


def _first(store: Any, *names: str) -> str | None:
    return next((n for n in names if n in store), None)


def read_npz(path: PathLike, *, fs: float | None = None, kind: str | None = None) -> Data:
    """An ``.npz`` archive in the layout described in the module docstring."""
    check_kind(path, kind, "recording", "table")
    try:
        _precheck_npz(path)
        with np.load(path, allow_pickle=False) as store:
            arrays = {name: store[name] for name in store.files}
    except BadInputError:
        raise
    except _LOAD_ERRORS as exc:
        raise bad(path, f"not a readable .npz file ({exc})") from exc
    key = (
        _first(arrays, "values", "samples", "data")
        if kind == "table"
        else _first(arrays, "samples", "data", "values")
    )
    if key is None:
        found = ", ".join(sorted(arrays)) or "nothing"
        raise bad(path, f"no 'samples', 'data' or 'values' array (found: {found})")
    meta = meta_from_json(path, arrays["meta"]) if "meta" in arrays else {}
    if kind == "table" or (kind is None and key == "values"):
        return make_table(
            path,
            arrays[key],
            feature_names=_names(path, arrays, "feature_names"),
            families=_names(path, arrays, "families"),
            meta=meta,
        )
    rate_key = _first(arrays, "fs", "sample_rate")
    file_rate = scalar(path, arrays[rate_key], rate_key) if rate_key else None
    uv = scalar(path, arrays["uv_per_step"], "uv_per_step") if "uv_per_step" in arrays else 1.0
    return make_recording(
        path,
        arrays[key],
        sample_rate=resolve_rate(path, file_rate, fs),
        uv_per_step=uv,
        channel_names=_names(path, arrays, "channel_names"),
        channel_positions=arrays.get("channel_positions"),
        meta=meta,
    )


def _names(path: PathLike, arrays: dict[str, np.ndarray], key: str) -> list[str] | None:
    return strings(path, arrays[key], key) if key in arrays else None


def write_npz(data: Data, path: PathLike) -> None:
    """Save ``data`` in the layout :func:`read_npz` reads back exactly."""
    arrays: dict[str, np.ndarray] = {}
    if isinstance(data, Recording):
        arrays["samples"] = data.samples
        arrays["fs"] = np.float64(data.sample_rate)
        arrays["uv_per_step"] = np.float64(data.uv_per_step)
        arrays["channel_names"] = np.array(data.channel_names or [], dtype=np.str_)
        if data.channel_positions is not None:
            arrays["channel_positions"] = data.channel_positions
    elif isinstance(data, FeatureTable):
        arrays["values"] = data.values
        arrays["feature_names"] = np.array(data.feature_names or [], dtype=np.str_)
        if data.families is not None:
            arrays["families"] = np.array(data.families, dtype=np.str_)
    meta = meta_to_json(data.meta)
    if meta is not None:
        arrays["meta"] = np.array(meta, dtype=np.str_)
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, allow_pickle=False, **arrays)
