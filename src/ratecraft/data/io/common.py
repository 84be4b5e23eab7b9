"""Helpers shared by every reader and writer: one-line errors, atomic output, rate and shape checks.

Readers raise :class:`BadInputError` whose message starts with the path, so the CLI can print it
as the single line it promises. Writers go through :func:`atomic_output`, so an error never
leaves a half-written file behind.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ratecraft.data.types import FeatureTable, Recording
from ratecraft.errors import BadInputError

log = logging.getLogger(__name__)

KINDS = ("recording", "table")


def one_line(text: object) -> str:
    """``text`` squeezed onto one line (library messages often span several)."""
    return " ".join(str(text).split())


def bad(path: str | os.PathLike[str], what: str) -> BadInputError:
    """A :class:`BadInputError` saying ``<path>: <what>`` on one line."""
    return BadInputError(one_line(f"{os.fspath(path)}: {what}"))


def check_kind(path: str | os.PathLike[str], kind: str | None, *allowed: str) -> None:
    """Reject a ``kind`` that is unknown or that this format cannot hold."""
    if kind is None:
        return
    if kind not in KINDS:
        raise bad(path, f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    if kind not in allowed:
        raise bad(path, f"this format holds a {' or '.join(allowed)}, not a {kind}")


def resolve_rate(path: str | os.PathLike[str], file_rate: float | None, fs: float | None) -> float:
    """The sample rate to use: an explicit ``fs`` wins over the file's; one of them is required."""
    if fs is not None:
        if file_rate is not None and float(file_rate) != float(fs):
            log.warning("%s: file says %g Hz, using --fs %g Hz", os.fspath(path), file_rate, fs)
        return float(fs)
    if file_rate is None:
        raise bad(path, "no sample rate in file; pass --fs")
    return float(file_rate)


def check_array(path: str | os.PathLike[str], array: np.ndarray, what: str = "data") -> np.ndarray:
    """``array`` if it is a non-empty 2-D array of plain numbers, else a one-line error."""
    if array.dtype.hasobject or array.dtype.kind not in "iuf":
        raise bad(path, f"{what} has unsupported dtype {array.dtype}; expected integers or floats")
    if array.ndim != 2:
        raise bad(path, f"{what} must be 2-D, got shape {array.shape}")
    if array.size == 0:
        raise bad(path, f"{what} is empty (shape {array.shape})")
    return array


def scalar(path: str | os.PathLike[str], value: Any, what: str) -> float:
    """A stored number (0-d array, 1-element array, attribute) as a float."""
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in "iuf":
        raise bad(path, f"{what} must be one number, got {arr.dtype} of shape {arr.shape}")
    return float(arr.reshape(()))


def strings(path: str | os.PathLike[str], value: Any, what: str) -> list[str]:
    """A stored list of names (numpy str array, h5py bytes/str array) as a list of str."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise bad(path, f"{what} must be a list of names, got shape {arr.shape}")
    out = []
    for item in arr.tolist():
        if isinstance(item, bytes):
            item = item.decode("utf-8", errors="replace")
        if not isinstance(item, str):
            raise bad(path, f"{what} must hold strings, got {type(item).__name__}")
        out.append(item)
    return out


def meta_to_json(meta: dict[str, Any]) -> str | None:
    """``meta`` as JSON text, or None (logged) when it holds something JSON cannot carry."""
    if not meta:
        return None
    try:
        return json.dumps(meta, sort_keys=True)
    except (TypeError, ValueError) as exc:
        log.warning("metadata not saved: it is not JSON-serializable (%s)", one_line(exc))
        return None


def meta_from_json(path: str | os.PathLike[str], text: Any) -> dict[str, Any]:
    """Metadata stored by :func:`meta_to_json`; must decode to a JSON object."""
    if isinstance(text, np.ndarray):
        text = text.reshape(-1)[0] if text.size == 1 else text
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    try:
        meta = json.loads(str(text))
    except json.JSONDecodeError as exc:
        raise bad(path, f"metadata is not valid JSON ({exc.msg})") from exc
    if not isinstance(meta, dict):
        raise bad(path, "metadata must be a JSON object")
    return meta


def make_recording(
    path: str | os.PathLike[str],
    samples: np.ndarray,
    *,
    sample_rate: float,
    uv_per_step: float = 1.0,
    channel_names: Sequence[str] | None = None,
    channel_positions: np.ndarray | None = None,
    meta: dict[str, Any] | None = None,
    units: str = "uV",
) -> Recording:
    """A :class:`Recording`, with any complaint of its own prefixed by ``path``."""
    try:
        return Recording(
            samples=check_array(path, samples, "samples"),
            sample_rate=sample_rate,
            uv_per_step=uv_per_step,
            channel_names=list(channel_names) if channel_names is not None else None,
            channel_positions=channel_positions,
            meta=meta or {},
            units=units,
        )
    except BadInputError as exc:
        raise bad(path, str(exc).removeprefix(f"{os.fspath(path)}: ")) from exc


def make_table(
    path: str | os.PathLike[str],
    values: np.ndarray,
    *,
    feature_names: Sequence[str] | None = None,
    families: Sequence[str] | None = None,
    meta: dict[str, Any] | None = None,
) -> FeatureTable:
    """A :class:`FeatureTable`, with any complaint of its own prefixed by ``path``."""
    try:
        return FeatureTable(
            values=check_array(path, values, "values"),
            feature_names=list(feature_names) if feature_names is not None else None,
            families=list(families) if families is not None else None,
            meta=meta or {},
        )
    except BadInputError as exc:
        raise bad(path, str(exc).removeprefix(f"{os.fspath(path)}: ")) from exc


def warn_dropped(path: str | os.PathLike[str], fmt: str, dropped: Sequence[str]) -> None:
    """Say (a logged warning) what a format cannot hold of the data being written."""
    if dropped:
        log.warning("%s: %s cannot hold the %s; not written", path, fmt, ", ".join(dropped))


def recording_extras(data: Recording) -> list[str]:
    """What a recording carries beyond its samples, rate and names (for formats that drop it)."""
    out = []
    if data.uv_per_step != 1.0:
        out.append("µV per step")
    if data.channel_positions is not None:
        out.append("channel positions")
    if data.meta:
        out.append("metadata")
    return out
