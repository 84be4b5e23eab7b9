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
    recording_extras,
    resolve_rate,
    scalar,
    strings,
    warn_dropped,
)
from ratecraft.data.types import Data, FeatureTable, Recording
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


def read_npy(path: PathLike, *, fs: float | None = None, kind: str | None = None) -> Data:
    """A 2-D ``.npy`` array: a recording (needs ``fs``) unless ``kind="table"``."""
    check_kind(path, kind, "recording", "table")
    try:
        _precheck_npy(path)
        array = np.load(path, allow_pickle=False)
    except BadInputError:
        raise
    except _LOAD_ERRORS as exc:
        raise bad(path, f"not a readable .npy file ({exc})") from exc
    if kind == "table":
        return make_table(path, array)
    rate = resolve_rate(path, None, fs)
    return make_recording(path, array, sample_rate=rate)


def write_npy(data: Data, path: PathLike) -> None:
    """Save the bare array (``.npy`` keeps no rate or names; use ``.npz`` for those)."""
    array = data.samples if isinstance(data, Recording) else data.values
    if isinstance(data, Recording):
        dropped = ["sample rate", "channel names", *recording_extras(data)]
    else:
        dropped = (
            ["feature names"] + ["families"] * bool(data.families) + ["metadata"] * bool(data.meta)
        )
    warn_dropped(path, ".npy", dropped)
    with atomic_output(path) as tmp:
        np.save(tmp, np.ascontiguousarray(array), allow_pickle=False)


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
