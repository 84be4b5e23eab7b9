"""WAV files through ``soundfile``: frames × channels on disk, channels × time in memory.

Integer WAVs keep their integer values exactly (PCM_16 → int16, PCM_24 and PCM_32 → int32,
PCM_U8 → int8); float WAVs come back as float32/float64. WAV itself carries no gain, units,
channel names or positions, no free metadata and only whole-number sample rates; what a
recording has beyond that is written to a JSON sidecar ``<file>.wav.json`` and read back from
it, as CSV tables keep their families, so decoding to WAV loses nothing.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ratecraft.atomic import atomic_output
from ratecraft.data.io.common import bad, check_kind, make_recording, resolve_rate
from ratecraft.data.types import Data, Recording

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

# subtype -> (dtype soundfile reads, right shift that restores the stored integers, final dtype)
_READ_AS = {
    "PCM_16": ("int16", 0, "int16"),
    "PCM_24": ("int32", 8, "int32"),
    "PCM_32": ("int32", 0, "int32"),
    "PCM_U8": ("int16", 8, "int8"),
    "FLOAT": ("float32", 0, "float32"),
    "DOUBLE": ("float64", 0, "float64"),
}
_WRITE_AS = {"int16": "PCM_16", "int32": "PCM_32", "float32": "FLOAT", "float64": "DOUBLE"}


def read_wav(path: PathLike, *, fs: float | None = None, kind: str | None = None) -> Recording:
    """A WAV file as a recording; its rate comes from the file unless ``fs`` overrides it."""
    import soundfile as sf

    check_kind(path, kind, "recording")
    try:
        info = sf.info(os.fspath(path))
        if info.subtype not in _READ_AS:
            supported = ", ".join(_READ_AS)
            raise bad(path, f"WAV subtype {info.subtype} is not supported (use {supported})")
        read_dtype, shift, final = _READ_AS[info.subtype]
        frames, rate = sf.read(os.fspath(path), dtype=read_dtype, always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise bad(path, f"not a readable WAV file ({exc})") from exc
    samples = np.ascontiguousarray(frames.T)
    if shift:
        samples = (samples >> shift).astype(final)
    side = _read_sidecar(path, samples.shape[0])
    rate = float(side.pop("sample_rate", rate))
    rec = make_recording(path, samples, sample_rate=resolve_rate(path, rate, fs), **side)
    return rec


def sidecar_path(path: PathLike) -> Path:
    """Where the metadata a WAV cannot hold is kept."""
    return Path(f"{os.fspath(path)}.json")


def _read_sidecar(path: PathLike, n_channels: int) -> dict[str, Any]:
    side = sidecar_path(path)
    if not side.exists():
        return {}
    try:
        doc = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(side, f"not a readable JSON file ({exc})") from exc
    if not isinstance(doc, dict):
        raise bad(side, "must be a JSON object")
    out: dict[str, Any] = {}
    for key, kind in (("sample_rate", float), ("uv_per_step", float), ("units", str)):
        if key in doc:
            value = doc[key]
            if kind is float and not (isinstance(value, int | float) and math.isfinite(value)):
                raise bad(side, f"{key} must be a finite number")
            if kind is str and not isinstance(value, str):
                raise bad(side, f"{key} must be a string")
            out[key] = kind(value)
    names = doc.get("channel_names")
    if names is not None:
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise bad(side, "channel_names must be a list of strings")
        out["channel_names"] = names
    pos = doc.get("channel_positions")
    if pos is not None:
        try:
            out["channel_positions"] = np.asarray(pos, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise bad(side, f"channel_positions must be numbers ({exc})") from exc
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise bad(side, "meta must be a JSON object")
    out["meta"] = meta
    if names is not None and len(names) != n_channels:
        raise bad(side, f"{len(names)} channel names for {n_channels} channels in the WAV")
    return out


def _sidecar_doc(data: Recording, wav_rate: int) -> dict[str, Any] | None:
    """What the WAV cannot hold, or None when it holds everything."""
    from ratecraft.jsonsafe import json_safe

    doc: dict[str, Any] = {}
    if data.sample_rate != wav_rate:
        doc["sample_rate"] = float(data.sample_rate)
    if data.uv_per_step != 1.0:
        doc["uv_per_step"] = float(data.uv_per_step)
    if data.units != "uV":
        doc["units"] = data.units
    if list(data.channel_names or []) != [f"ch{i}" for i in range(data.n_channels)]:
        doc["channel_names"] = list(data.channel_names or [])
    if data.channel_positions is not None:
        doc["channel_positions"] = data.channel_positions.tolist()
    if data.meta:
        doc["meta"] = json_safe(data.meta)
    return doc or None


def write_wav(data: Data, path: PathLike) -> None:
    """Write a recording as WAV; only int16, int32, float32 and float64 samples fit exactly."""
    import soundfile as sf

    if not isinstance(data, Recording):
        raise bad(path, "WAV holds recordings, not tables; write tables as .csv, .npz or .h5")
    subtype = _WRITE_AS.get(data.samples.dtype.name)
    if subtype is None:
        raise bad(
            path,
            f"WAV cannot hold {data.samples.dtype} samples exactly "
            f"(use {', '.join(_WRITE_AS)} or write .npz)",
        )
    wav_rate = max(1, round(data.sample_rate))  # the exact rate goes to the sidecar
    doc = _sidecar_doc(data, wav_rate)
    side = sidecar_path(path)
    with atomic_output(path) as tmp:
        sf.write(tmp, np.ascontiguousarray(data.samples.T), wav_rate, subtype=subtype, format="WAV")
        if doc is not None:  # the sidecar lands before the WAV: a WAV never lacks its sidecar
            with atomic_output(side) as tmp_side:
                tmp_side.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
        elif side.exists():
            log.info("%s: removing a stale sidecar", side)
            side.unlink()
