"""Raw binary recordings (``.bin`` / ``.dat``): interleaved little-endian samples, frame by frame.

A raw file holds no description, so its dtype, channel count and sample rate come from:

1. flags (``--dtype``, ``--channels``, ``--fs``), which must agree with anything else found;
2. our own JSON sidecar ``<file>.json`` (what :func:`write_raw` and the raw sink write: dtype,
   channels, rate, gain, units, names, positions, metadata);
3. a SpikeGLX ``.meta`` beside the file (``name.ap.bin`` → ``name.ap.meta``: ``nSavedChans``,
   ``imSampRate``/``niSampRate``, ``fileSizeBytes``, and the gain from ``imAiRangeMax``,
   ``imMaxInt`` and the probe's AP gain when the ``imroTbl`` gives it);
4. an Open Ephys binary ``structure.oebin`` two folders up (``continuous/<stream>/continuous.dat``:
   the stream's ``num_channels``, ``sample_rate``, ``bit_volts`` and channel names).

The samples are read with positioned reads, one frame range at a time
(:class:`~ratecraft.data.sources.FileArraySource`), so a file of any length opens instantly and
is coded in constant memory.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ratecraft.data.io.common import bad, check_kind
from ratecraft.data.sinks import Sink
from ratecraft.data.sources import Facts, FileArraySource
from ratecraft.dtypes import SUPPORTED_DTYPES

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

DEFAULT_DTYPE = "int16"


def sidecar_path(path: PathLike) -> Path:
    """Where the description of a raw file written by ratecraft is kept."""
    return Path(f"{os.fspath(path)}.json")


def _spikeglx_meta(path: Path) -> dict[str, str] | None:
    meta = path.with_suffix(".meta")
    if not meta.exists():
        return None
    out: dict[str, str] = {}
    try:
        for line in meta.read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                out[key.strip().lstrip("~")] = value.strip()
    except OSError as exc:
        raise bad(meta, f"cannot read ({exc.strerror})") from exc
    return out


def _number(where: Path, doc: dict[str, Any], key: str) -> float:
    try:
        value = float(doc[key])
    except (KeyError, TypeError, ValueError):
        raise bad(where, f"{key} is missing or not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise bad(where, f"{key} must be a positive number, got {doc[key]}")
    return value


def _from_spikeglx(path: Path, meta: dict[str, str]) -> dict[str, Any]:
    where = path.with_suffix(".meta")
    out: dict[str, Any] = {"channels": int(_number(where, meta, "nSavedChans"))}
    rate_key = "imSampRate" if "imSampRate" in meta else "niSampRate"
    out["sample_rate"] = _number(where, meta, rate_key)
    if "fileSizeBytes" in meta:
        out["file_bytes"] = int(_number(where, meta, "fileSizeBytes"))
    gains = re.findall(r"\(\d+ \d+ \d+ (\d+) \d+", meta.get("imroTbl", ""))
    if "imAiRangeMax" in meta and "imMaxInt" in meta and gains:
        volts = _number(where, meta, "imAiRangeMax") / _number(where, meta, "imMaxInt")
        out["uv_per_step"] = volts / float(gains[0]) * 1e6
    out["meta"] = {"spikeglx": {k: meta[k] for k in sorted(meta) if len(meta[k]) < 200}}
    return out


def _from_oebin(path: Path) -> dict[str, Any] | None:
    if path.name != "continuous.dat":
        return None
    stream_dir = path.parent
    oebin = stream_dir.parent.parent / "structure.oebin"
    if not oebin.exists():
        return None
    try:
        doc = json.loads(oebin.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(oebin, f"not a readable structure.oebin ({exc})") from exc
    for stream in doc.get("continuous", []) if isinstance(doc, dict) else []:
        folder = str(stream.get("folder_name", "")).strip("/")
        if folder == stream_dir.name:
            channels = stream.get("channels") or []
            volts = {float(c.get("bit_volts", 1.0)) for c in channels if isinstance(c, dict)}
            out: dict[str, Any] = {
                "channels": int(_number(oebin, stream, "num_channels")),
                "sample_rate": _number(oebin, stream, "sample_rate"),
                "meta": {"source_format": "openephys-binary", "stream": folder},
            }
            if len(volts) == 1:
                out["uv_per_step"] = volts.pop()
            names = [str(c.get("channel_name")) for c in channels if isinstance(c, dict)]
            if len(names) == out["channels"]:
                out["channel_names"] = names
            return out
    raise bad(oebin, f"describes no continuous stream {stream_dir.name!r}")


def _from_sidecar(path: Path) -> dict[str, Any] | None:
    side = sidecar_path(path)
    if not side.exists():
        return None
    try:
        doc = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(side, f"not a readable JSON file ({exc})") from exc
    if not isinstance(doc, dict):
        raise bad(side, "must be a JSON object")
    out = {k: doc[k] for k in ("dtype", "channels", "sample_rate") if k in doc}
    for key in ("uv_per_step", "units", "channel_names", "channel_positions", "meta"):
        if key in doc:
            out[key] = doc[key]
    return out


def _agree(path: Path, found: dict[str, Any], key: str, flag: Any, what: str) -> Any:
    if flag is None:
        return found.get(key)
    if key in found and found[key] != flag:
        raise bad(path, f"{what} says {key} = {found[key]}, the option says {flag}")
    return flag


def open_raw(
    path: PathLike,
    *,
    fs: float | None = None,
    channels: int | None = None,
    dtype: str | None = None,
    kind: str | None = None,
) -> FileArraySource:
    """A raw binary recording as a chunked source (see the module doc for what it reads)."""
    p = Path(path)
    check_kind(p, kind, "recording")
    found: dict[str, Any] = {}
    what = "the file's description"
    for reader, name in (
        (_from_sidecar, "its .json sidecar"),
        (lambda q: (m := _spikeglx_meta(q)) and _from_spikeglx(q, m), "its SpikeGLX .meta"),
        (_from_oebin, "structure.oebin"),
    ):
        doc = reader(p)
        if doc:
            found, what = doc, name
            break
    rate = _agree(p, found, "sample_rate", None if fs is None else float(fs), what)
    n_ch = _agree(p, found, "channels", channels, what)
    kind_name = _agree(p, found, "dtype", dtype, what) or DEFAULT_DTYPE
    if rate is None:
        raise bad(p, "a raw file needs --fs (or a .json sidecar, SpikeGLX .meta or .oebin)")
    if n_ch is None:
        raise bad(p, "a raw file needs --channels (or a .json sidecar, .meta or .oebin)")
    if kind_name not in SUPPORTED_DTYPES:
        raise bad(p, f"unsupported dtype {kind_name!r}; use one of {', '.join(SUPPORTED_DTYPES)}")
    n_ch = int(n_ch)
    if n_ch < 1:
        raise bad(p, f"channel count must be positive, got {n_ch}")
    item = np.dtype(kind_name).itemsize
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise bad(p, "no such file") from None
    if size % (n_ch * item):
        raise bad(
            p, f"{size} bytes is not a whole number of frames of {n_ch} channels × {item} bytes"
        )
    if "file_bytes" in found and found["file_bytes"] != size:
        raise bad(p, f"{what} declares {found['file_bytes']} bytes, the file has {size}")
    positions = found.get("channel_positions")
    facts = Facts(
        "recording",
        sample_rate=float(rate),
        uv_per_step=float(found.get("uv_per_step", 1.0)),
        units=str(found.get("units", "uV")),
        channel_names=found.get("channel_names"),
        channel_positions=None if positions is None else np.asarray(positions, np.float64),
        meta=dict(found.get("meta", {})),
    )
    return FileArraySource(p, 0, n_ch, size // (n_ch * item), kind_name, facts, interleaved=True)


def sidecar_doc(facts: Facts, rows: int, dtype: np.dtype) -> dict[str, Any]:
    """What a raw file's JSON sidecar records about it."""
    from ratecraft.jsonsafe import json_safe

    pos = facts.channel_positions
    return json_safe(
        {
            "dtype": dtype.name,
            "channels": rows,
            "sample_rate": facts.sample_rate,
            "uv_per_step": facts.uv_per_step,
            "units": facts.units,
            "channel_names": facts.channel_names,
            "channel_positions": None if pos is None else np.asarray(pos).tolist(),
            "meta": facts.meta,
        }
    )


class RawSink(Sink):
    """Interleaved little-endian frames, with everything else in the ``<file>.json`` sidecar
    (written beside the temporary and published with it)."""

    def __init__(self, path: Path, rows: int, frames: int, dtype: np.dtype, facts: Facts) -> None:
        if facts.kind != "recording":
            raise bad(path, "raw binary holds recordings, not tables; write tables as .csv or .npz")
        super().__init__(path, rows, frames, dtype, facts)
        self._side = Path(f"{self.tmp}.json")
        self._side.write_text(json.dumps(sidecar_doc(facts, rows, self.dtype), indent=1) + "\n")
        self._fh = open(self.tmp, "wb")  # noqa: SIM115  (closed in _finish/_discard)

    def _write(self, first: int, block: np.ndarray) -> None:
        le = block.astype(self.dtype.newbyteorder("<"), copy=False)
        self._fh.write(np.ascontiguousarray(le.T).tobytes())

    def _finish(self) -> None:
        self._fh.flush()
        self._fh.close()

    def _discard(self) -> None:
        self._fh.close()

    def extra_outputs(self) -> list[tuple[Path, Path]]:
        return [(self._side, sidecar_path(self.path))]
