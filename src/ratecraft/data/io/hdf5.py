"""HDF5 files (``.h5``/``.hdf5``) through ``h5py``.

One 2-D dataset holds the data: channels × time for a recording, samples × features for a table.
It is picked by ``dataset`` (a path inside the file), else ``samples``, ``data`` or ``values``,
else the only 2-D dataset. Its attributes carry the rest: ``kind``, ``sample_rate`` (or ``fs``),
``uv_per_step``, ``channel_names``, ``channel_positions``, ``feature_names``, ``families`` and
``meta`` (JSON text).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ratecraft.data.io.common import (
    bad,
    check_kind,
    meta_from_json,
    meta_to_json,
    resolve_rate,
    scalar,
    strings,
)
from ratecraft.data.sinks import Sink
from ratecraft.data.sources import ArraySource, Facts, Source
from ratecraft.dtypes import SUPPORTED_DTYPES

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


def open_hdf5(
    path: PathLike,
    *,
    fs: float | None = None,
    dataset: str | None = None,
    kind: str | None = None,
) -> Source:
    """One dataset of an HDF5 file as a chunked source, sliced lazily through h5py (the file
    stays open until the source is closed; see the module docstring)."""
    import h5py

    check_kind(path, kind, "recording", "table")
    try:
        h5 = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise bad(path, f"not a readable HDF5 file ({exc})") from exc
    try:
        node = _pick_dataset(path, h5, dataset)
        attrs = {key: node.attrs[key] for key in node.attrs}
        name = node.name.rsplit("/", 1)[-1]
        if node.ndim != 2 or node.dtype.name not in SUPPORTED_DTYPES:
            raise bad(
                path, f"dataset {node.name} is {node.ndim}-D {node.dtype}; expected 2-D numbers"
            )
        facts = _facts(path, attrs, name, kind, fs)
        return ArraySource(
            node, facts, frames_axis=0 if facts.kind == "table" else 1, path=Path(path), closer=h5
        )
    except BaseException:
        h5.close()
        raise


def _facts(
    path: PathLike, attrs: dict[str, Any], name: str, kind: str | None, fs: float | None
) -> Facts:
    meta = meta_from_json(path, attrs["meta"]) if "meta" in attrs else {}
    stored_kind = attrs.get("kind")
    if isinstance(stored_kind, bytes):
        stored_kind = stored_kind.decode()
    as_table = kind == "table" or (
        kind is None and (stored_kind == "table" or (stored_kind is None and name == "values"))
    )
    if as_table:
        return Facts(
            "table",
            feature_names=_names(path, attrs, "feature_names"),
            families=_names(path, attrs, "families"),
            meta=meta,
        )
    rate_key = next((k for k in ("sample_rate", "fs") if k in attrs), None)
    file_rate = scalar(path, attrs[rate_key], rate_key) if rate_key else None
    uv = scalar(path, attrs["uv_per_step"], "uv_per_step") if "uv_per_step" in attrs else 1.0
    positions = attrs.get("channel_positions")
    units = attrs.get("units", "uV")
    return Facts(
        "recording",
        sample_rate=resolve_rate(path, file_rate, fs),
        uv_per_step=uv,
        units=units.decode() if isinstance(units, bytes) else str(units),
        channel_names=_names(path, attrs, "channel_names"),
        channel_positions=None if positions is None else np.asarray(positions, np.float64),
        meta=meta,
    )


def _names(path: PathLike, attrs: dict[str, Any], key: str) -> list[str] | None:
    return strings(path, attrs[key], key) if key in attrs else None


class Hdf5Sink(Sink):
    """One chunked dataset (``samples`` channels × time, or ``values`` samples × features) with
    the facts as its attributes, filled block by block."""

    def __init__(
        self,
        path: Path,
        rows: int,
        frames: int,
        dtype: np.dtype,
        facts: Facts,
        *,
        dataset: str | None = None,
    ) -> None:
        import h5py

        super().__init__(path, rows, frames, dtype, facts)
        is_rec = facts.kind == "recording"
        shape = (rows, frames) if is_rec else (frames, rows)
        chunk = (
            (rows, max(1, min(frames, 1 << 16))) if is_rec else (max(1, min(frames, 4096)), rows)
        )
        str_dtype = h5py.string_dtype()
        # "latest" allows attributes over 64 KiB (thousands of feature names).
        self._h5 = h5py.File(self.tmp, "w", libver="latest")
        name = dataset or ("samples" if is_rec else "values")
        self._node = self._h5.create_dataset(
            name, shape=shape, dtype=self.dtype, chunks=chunk if rows * frames else None
        )
        node = self._node
        node.attrs["kind"] = facts.kind
        if is_rec:
            node.attrs["sample_rate"] = np.float64(facts.sample_rate or 0.0)
            node.attrs["uv_per_step"] = np.float64(facts.uv_per_step)
            node.attrs["units"] = facts.units
            node.attrs.create("channel_names", facts.channel_names or [], dtype=str_dtype)
            if facts.channel_positions is not None:
                node.attrs["channel_positions"] = np.asarray(facts.channel_positions)
        else:
            node.attrs.create("feature_names", facts.feature_names or [], dtype=str_dtype)
            if facts.families is not None:
                node.attrs.create("families", facts.families, dtype=str_dtype)
        meta = meta_to_json(facts.meta)
        if meta is not None:
            node.attrs["meta"] = meta

    def _write(self, first: int, block: np.ndarray) -> None:
        n = block.shape[1]
        if self.facts.kind == "recording":
            self._node[:, first : first + n] = block
        else:
            self._node[first : first + n, :] = block.T

    def _finish(self) -> None:
        self._h5.flush()
        self._h5.close()

    def _discard(self) -> None:
        self._h5.close()
