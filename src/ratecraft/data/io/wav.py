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

from ratecraft.data.io.common import bad, check_kind, resolve_rate
from ratecraft.data.sinks import Sink
from ratecraft.data.sources import Facts, Source

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
MAX_WAV_CHANNELS = 8


class _WavSource(Source):
    """Frames of a WAV file, read block by block through soundfile (integers restored exactly)."""

    def __init__(self, path: Path, fs: float | None) -> None:
        import soundfile as sf

        try:
            info = sf.info(os.fspath(path))
            if info.subtype not in _READ_AS:
                supported = ", ".join(_READ_AS)
                raise bad(path, f"WAV subtype {info.subtype} is not supported (use {supported})")
            self._read_dtype, self._shift, final = _READ_AS[info.subtype]
            self._file = sf.SoundFile(os.fspath(path))
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise bad(path, f"not a readable WAV file ({exc})") from exc
        side = _read_sidecar(path, info.channels)
        rate = float(side.pop("sample_rate", info.samplerate))
        facts = Facts(
            "recording",
            sample_rate=resolve_rate(path, rate, fs),
            uv_per_step=float(side.get("uv_per_step", 1.0)),
            units=str(side.get("units", "uV")),
            channel_names=side.get("channel_names"),
            channel_positions=side.get("channel_positions"),
            meta=side.get("meta", {}),
        )
        super().__init__(info.channels, info.frames, final, facts, path)

    def _read(self, start: int, stop: int) -> np.ndarray:
        self._file.seek(start)
        frames = self._file.read(stop - start, dtype=self._read_dtype, always_2d=True)
        block = np.ascontiguousarray(frames.T)
        return (block >> self._shift) if self._shift else block

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def open_wav(path: PathLike, *, fs: float | None = None, kind: str | None = None) -> Source:
    """A WAV file as a chunked source; its rate comes from the file (or its sidecar) unless
    ``fs`` overrides it."""
    check_kind(path, kind, "recording")
    return _WavSource(Path(path), fs)


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


def _sidecar_doc(facts: Facts, rows: int, wav_rate: int) -> dict[str, Any] | None:
    """What the WAV cannot hold, or None when it holds everything."""
    from ratecraft.jsonsafe import json_safe

    doc: dict[str, Any] = {}
    if facts.sample_rate != wav_rate:
        doc["sample_rate"] = float(facts.sample_rate or wav_rate)
    if facts.uv_per_step != 1.0:
        doc["uv_per_step"] = float(facts.uv_per_step)
    if facts.units != "uV":
        doc["units"] = facts.units
    names = list(facts.channel_names or [f"ch{i}" for i in range(rows)])
    if names != [f"ch{i}" for i in range(rows)]:
        doc["channel_names"] = names
    if facts.channel_positions is not None:
        doc["channel_positions"] = np.asarray(facts.channel_positions).tolist()
    if facts.meta:
        doc["meta"] = json_safe(facts.meta)
    return doc or None


class WavSink(Sink):
    """WAV frames written block by block (int16, int32, float32, float64 fit exactly; at most
    8 channels), with what WAV cannot hold in the ``<file>.wav.json`` sidecar."""

    def __init__(self, path: Path, rows: int, frames: int, dtype: np.dtype, facts: Facts) -> None:
        import soundfile as sf

        if facts.kind != "recording":
            raise bad(path, "WAV holds recordings, not tables; write tables as .csv, .npz or .h5")
        subtype = _WRITE_AS.get(np.dtype(dtype).name)
        if subtype is None:
            raise bad(
                path,
                f"WAV cannot hold {np.dtype(dtype)} samples exactly "
                f"(use {', '.join(_WRITE_AS)} or write .npz)",
            )
        if rows > MAX_WAV_CHANNELS:
            raise bad(path, f"WAV holds at most {MAX_WAV_CHANNELS} channels here, not {rows}")
        super().__init__(path, rows, frames, dtype, facts)
        wav_rate = max(1, round(facts.sample_rate or 1.0))  # the exact rate goes to the sidecar
        self._doc = _sidecar_doc(facts, rows, wav_rate)
        self._side = Path(f"{self.tmp}.json")
        if self._doc is not None:
            self._side.write_text(json.dumps(self._doc, indent=1, allow_nan=False) + "\n")
        self._file = sf.SoundFile(
            os.fspath(self.tmp), "w", wav_rate, rows, subtype=subtype, format="WAV"
        )

    def _write(self, first: int, block: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(block.T))

    def _finish(self) -> None:
        self._file.close()
        final_side = sidecar_path(self.path)
        if self._doc is None and final_side.exists():
            log.info("%s: removing a stale sidecar", final_side)
            final_side.unlink()

    def _discard(self) -> None:
        self._file.close()

    def extra_outputs(self) -> list[tuple[Path, Path]]:
        return [(self._side, sidecar_path(self.path))] if self._doc is not None else []
