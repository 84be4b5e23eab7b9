"""HDF5 files (``.h5``/``.hdf5``) through ``h5py``.

One 2-D dataset holds the data: channels × time for a recording, samples × features for a table.
It is picked by ``dataset`` (a path inside the file), else ``samples``, ``data`` or ``values``,
else the only 2-D dataset. Its attributes carry the rest: ``kind``, ``sample_rate`` (or ``fs``),
``uv_per_step``, ``channel_names``, ``channel_positions``, ``feature_names``, ``families`` and
``meta`` (JSON text).
"""

from __future__ import annotations

import os
from typing import Any

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
)
from ratecraft.data.types import Data, Recording
from ratecraft.errors import BadInputError

PathLike = str | os.PathLike[str]

_DEFAULT_NAMES = ("samples", "data", "values")


def _pick_dataset(path: PathLike, h5: Any, dataset: str | None) -> Any:
    import h5py

    if dataset is not None:
        node = h5.get(dataset)
        if not isinstance(node, h5py.Dataset):
            raise bad(path, f"no dataset {dataset!r} in file")
        return node
    for name in _DEFAULT_NAMES:
        if isinstance(h5.get(name), h5py.Dataset):
            return h5[name]
    found: list[str] = []
    h5.visititems(
        lambda name, node: (
            found.append(name) if isinstance(node, h5py.Dataset) and node.ndim == 2 else None
        )
    )
    if len(found) == 1:
        return h5[found[0]]
    if not found:
        raise bad(path, "no 2-D dataset in file")
    raise bad(path, f"several 2-D datasets ({', '.join(found)}); pass --dataset")


def read_hdf5(
    path: PathLike,
    *,
    fs: float | None = None,
    dataset: str | None = None,
    kind: str | None = None,
) -> Data:
    """One dataset of an HDF5 file, as a recording or a table (see the module docstring)."""
    import h5py

    check_kind(path, kind, "recording", "table")
    try:
        with h5py.File(path, "r") as h5:
            node = _pick_dataset(path, h5, dataset)
            array = np.asarray(node[()])
            attrs = {key: node.attrs[key] for key in node.attrs}
            name = node.name.rsplit("/", 1)[-1]
    except BadInputError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise bad(path, f"not a readable HDF5 file ({exc})") from exc
    meta = meta_from_json(path, attrs["meta"]) if "meta" in attrs else {}
    stored_kind = attrs.get("kind")
    if isinstance(stored_kind, bytes):
        stored_kind = stored_kind.decode()
    as_table = kind == "table" or (
        kind is None and (stored_kind == "table" or (stored_kind is None and name == "values"))
    )
    if as_table:
        return make_table(
            path,
            array,
            feature_names=_names(path, attrs, "feature_names"),
            families=_names(path, attrs, "families"),
            meta=meta,
        )
    rate_key = next((k for k in ("sample_rate", "fs") if k in attrs), None)
    file_rate = scalar(path, attrs[rate_key], rate_key) if rate_key else None
    uv = scalar(path, attrs["uv_per_step"], "uv_per_step") if "uv_per_step" in attrs else 1.0
    positions = attrs.get("channel_positions")
    return make_recording(
        path,
        array,
        sample_rate=resolve_rate(path, file_rate, fs),
        uv_per_step=uv,
        channel_names=_names(path, attrs, "channel_names"),
        channel_positions=None if positions is None else np.asarray(positions),
        meta=meta,
    )


def _names(path: PathLike, attrs: dict[str, Any], key: str) -> list[str] | None:
    return strings(path, attrs[key], key) if key in attrs else None


def write_hdf5(data: Data, path: PathLike, *, dataset: str | None = None) -> None:
    """Write ``data`` as one dataset (default ``samples`` or ``values``) with its attributes."""
    import h5py

    str_dtype = h5py.string_dtype()
    is_rec = isinstance(data, Recording)
    array = data.samples if is_rec else data.values
    name = dataset or ("samples" if is_rec else "values")
    # "latest" allows attributes over 64 KiB (thousands of feature names).
    with atomic_output(path) as tmp, h5py.File(tmp, "w", libver="latest") as h5:
        node = h5.create_dataset(name, data=array)
        node.attrs["kind"] = "recording" if is_rec else "table"
        if isinstance(data, Recording):
            node.attrs["sample_rate"] = np.float64(data.sample_rate)
            node.attrs["uv_per_step"] = np.float64(data.uv_per_step)
            node.attrs.create("channel_names", data.channel_names or [], dtype=str_dtype)
            if data.channel_positions is not None:
                node.attrs["channel_positions"] = data.channel_positions
        else:
            node.attrs.create("feature_names", data.feature_names or [], dtype=str_dtype)
            if data.families is not None:
                node.attrs.create("families", data.families, dtype=str_dtype)
        meta = meta_to_json(data.meta)
        if meta is not None:
            node.attrs["meta"] = meta
