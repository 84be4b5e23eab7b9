"""Zarr stores (a ``.zarr`` folder) through ``zarr`` (versions 2 and 3).

Our layout: a group whose array ``samples`` holds a recording as frames × channels (time-major,
chunked along time, as SpikeInterface and NWB store traces) or ``values`` a table as
samples × features; the group's attributes carry ``kind``, ``sample_rate``, ``uv_per_step``,
``units``, ``channel_names``, ``channel_positions``, ``feature_names``, ``families`` and
``meta``. A store holding a bare 2-D array, or a group with one 2-D array (``dataset`` names
another), is read as frames × channels. Arrays are sliced lazily chunk by chunk.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ratecraft.data.io.common import bad, check_kind, resolve_rate
from ratecraft.data.sinks import Sink
from ratecraft.data.sources import ArraySource, Facts, Source
from ratecraft.dtypes import SUPPORTED_DTYPES
from ratecraft.errors import MissingExtraError

PathLike = str | os.PathLike[str]

_NAMES = ("samples", "values", "traces_seg0", "data")
CHUNK_FRAMES = 1 << 15


def _zarr() -> Any:
    try:
        import zarr
    except ImportError:
        raise MissingExtraError("zarr", "neuro") from None
    return zarr


def _arrays(group: Any) -> dict[str, Any]:
    return {name: group[name] for name in group.array_keys()}


def open_zarr(
    path: PathLike,
    *,
    fs: float | None = None,
    dataset: str | None = None,
    kind: str | None = None,
) -> Source:
    """A 2-D array of a zarr store as a chunked source (see the module doc)."""
    zarr = _zarr()
    check_kind(path, kind, "recording", "table")
    try:
        node = zarr.open(os.fspath(path), mode="r")
    except Exception as exc:  # zarr raises many types on a folder that is not a store
        raise bad(path, f"not a readable zarr store ({type(exc).__name__}: {exc})") from exc
    attrs: dict[str, Any] = {}
    if hasattr(node, "array_keys"):  # a group
        attrs = dict(node.attrs)
        arrays = _arrays(node)
        if dataset is not None:
            if dataset not in arrays:
                raise bad(path, f"no array {dataset!r} in the store (found: {', '.join(arrays)})")
            name = dataset
        else:
            name = next((n for n in _NAMES if n in arrays), None) or (
                next(iter(arrays)) if len(arrays) == 1 else None
            )
        if name is None:
            raise bad(path, f"several arrays ({', '.join(arrays) or 'none'}); pass --dataset")
        array = arrays[name]
    else:
        array, name = node, "samples"
    try:
        dtype = np.dtype(array.dtype)
    except TypeError:
        raise bad(path, f"array {name} has no numeric dtype") from None
    if len(array.shape) != 2 or dtype.name not in SUPPORTED_DTYPES:
        raise bad(path, f"array {name} is {len(array.shape)}-D {dtype}; expected 2-D numbers")
    table = kind == "table" or (kind is None and attrs.get("kind") == "table") or name == "values"
    if table:
        facts = Facts(
            "table",
            feature_names=attrs.get("feature_names"),
            families=attrs.get("families"),
            meta=dict(attrs.get("meta", {})),
        )
    else:
        positions = attrs.get("channel_positions")
        facts = Facts(
            "recording",
            sample_rate=resolve_rate(path, attrs.get("sample_rate"), fs),
            uv_per_step=float(attrs.get("uv_per_step", 1.0)),
            units=str(attrs.get("units", "uV")),
            channel_names=attrs.get("channel_names"),
            channel_positions=None if positions is None else np.asarray(positions, np.float64),
            meta=dict(attrs.get("meta", {})),
        )
    return ArraySource(array, facts, frames_axis=0, path=Path(path))


class ZarrSink(Sink):
    """A zarr group (``samples`` frames × channels, or ``values``) filled block by block."""

    folder_output = True

    def __init__(self, path: Path, rows: int, frames: int, dtype: np.dtype, facts: Facts) -> None:
        zarr = _zarr()
        super().__init__(path, rows, frames, dtype, facts)
        from ratecraft.jsonsafe import json_safe

        group = zarr.open_group(os.fspath(self.tmp), mode="w")
        name = "values" if facts.kind == "table" else "samples"
        chunks = (max(1, min(frames, CHUNK_FRAMES)), max(rows, 1))
        make = getattr(group, "create_array", None) or group.create_dataset
        self._array = make(name, shape=(frames, rows), chunks=chunks, dtype=self.dtype)
        pos = facts.channel_positions
        group.attrs.update(
            json_safe(
                {
                    "kind": facts.kind,
                    "sample_rate": facts.sample_rate,
                    "uv_per_step": facts.uv_per_step,
                    "units": facts.units,
                    "channel_names": facts.channel_names,
                    "channel_positions": None if pos is None else np.asarray(pos).tolist(),
                    "feature_names": facts.feature_names,
                    "families": facts.families,
                    "meta": facts.meta,
                }
            )
        )

    def _write(self, first: int, block: np.ndarray) -> None:
        self._array[first : first + block.shape[1], :] = block.T
