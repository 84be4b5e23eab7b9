"""Raw binary recordings (``.bin`` / ``.dat``): interleaved little-endian samples, frame by frame.

A raw file holds no description, so its dtype, channel count and sample rate come from:

1. flags (``--dtype``, ``--channels``, ``--fs``), which must agree with the sidecar;
2. our own JSON sidecar ``<file>.json`` (what the raw sink writes: dtype, channels, rate, gain,
   units, names, positions, metadata).

Binary files an acquisition system describes (a SpikeGLX ``.meta``, an Open Ephys
``structure.oebin``) are read through SpikeInterface instead
(:mod:`ratecraft.data.io.spikeinterface_io`), which knows their formats.

The samples are read with positioned reads, one frame range at a time
(:class:`~ratecraft.data.sources.FileArraySource`), so a file of any length opens instantly and
is coded in constant memory.
"""

from __future__ import annotations

import json
import logging
import os
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
    found = _from_sidecar(p) or {}
    what = "its .json sidecar"
    rate = _agree(p, found, "sample_rate", None if fs is None else float(fs), what)
    n_ch = _agree(p, found, "channels", channels, what)
    kind_name = _agree(p, found, "dtype", dtype, what) or DEFAULT_DTYPE
    if rate is None:
        raise bad(p, "a raw file needs --fs (or a .json sidecar, or a SpikeGLX .meta beside it)")
    if n_ch is None:
        raise bad(p, "a raw file needs --channels (or a .json sidecar, or a SpikeGLX .meta)")
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
