"""Open Ephys legacy format: one ``.continuous`` file per channel, read with numpy alone.

Each file is a 1024-byte text header (``header.sampleRate = 40000;`` …) followed by records::

    <i8 timestamp | <u2 N | <u2 recording number | N × >i2 samples | marker 0 1 2 3 4 5 6 7 8 255

A folder becomes one int16 recording, channels ordered by the numbers in their file names
(CH2 before CH10). ``uv_per_step`` is the header's ``bitVolts``.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np

from ratecraft.data.io.common import bad, check_kind, make_recording, resolve_rate
from ratecraft.data.types import Recording

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

HEADER_BYTES = 1024
MAX_BLOCK = 1 << 16
MARKER = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 255], dtype=np.uint8)
_FIELD = re.compile(r"header\.(\w+)\s*=\s*(.*?)\s*;")


def _natural_key(name: str) -> list[tuple[int, int | str]]:
    """Sort key comparing digit runs as numbers: CH2 < CH10."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", name) if p]


def channel_files(folder: PathLike) -> list[Path]:
    """The ``.continuous`` files of ``folder`` in channel order; only CH files when there are any
    (AUX/ADC channels have another gain and are left out)."""
    files = [p for p in Path(folder).iterdir() if p.suffix == ".continuous" and p.is_file()]
    if not files:
        raise bad(folder, "folder holds no .continuous files (Open Ephys legacy format)")
    ch = [p for p in files if re.search(r"CH\d+", p.stem)]
    if ch and len(ch) < len(files):
        log.info(
            "%s: reading %d CH files, skipping %d others", folder, len(ch), len(files) - len(ch)
        )
    return sorted(ch or files, key=lambda p: _natural_key(p.name))


def parse_header(path: PathLike, raw: bytes) -> dict[str, str]:
    """The ``header.key = value;`` fields of a header, quotes stripped."""
    text = raw.decode("latin-1")
    fields = {k: v.strip().strip("'\"") for k, v in _FIELD.findall(text)}
    if "Open Ephys" not in fields.get("format", ""):
        raise bad(path, "not an Open Ephys .continuous file (header has no Open Ephys format)")
    return fields


def _number(path: PathLike, fields: dict[str, str], key: str) -> float:
    try:
        return float(fields[key])
    except (KeyError, ValueError) as exc:
        raise bad(path, f"header field {key} is missing or not a number") from exc


def read_continuous(path: PathLike) -> tuple[np.ndarray, dict[str, str]]:
    """Samples (native int16) and header fields of one ``.continuous`` file, fully validated."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise bad(path, f"cannot read file ({exc.strerror})") from exc
    if len(raw) < HEADER_BYTES:
        raise bad(path, f"file is {len(raw)} bytes, shorter than the {HEADER_BYTES}-byte header")
    fields = parse_header(path, raw[:HEADER_BYTES])
    n = int(_number(path, fields, "blockLength")) if "blockLength" in fields else 1024
    if not 1 <= n <= MAX_BLOCK:
        raise bad(path, f"header blockLength {n} is out of range 1..{MAX_BLOCK}")
    record = np.dtype(
        [
            ("timestamp", "<i8"),
            ("n", "<u2"),
            ("recording", "<u2"),
            ("samples", ">i2", (n,)),
            ("marker", "u1", (10,)),
        ]
    )
    body = len(raw) - HEADER_BYTES
    if body == 0:
        raise bad(path, "file has a header but no records")
    if body % record.itemsize:
        raise bad(
            path,
            f"truncated: {body} bytes of records is not a multiple of the "
            f"{record.itemsize}-byte record",
        )
    records = np.frombuffer(raw, dtype=record, offset=HEADER_BYTES)
    bad_marker = np.flatnonzero((records["marker"] != MARKER).any(axis=1))
    if bad_marker.size:
        raise bad(path, f"corrupt: record {bad_marker[0]} has a wrong record marker")
    bad_n = np.flatnonzero(records["n"] != n)
    if bad_n.size:
        raise bad(
            path,
            f"corrupt: record {bad_n[0]} declares {records['n'][bad_n[0]]} samples, expected {n}",
        )
    gaps = np.flatnonzero(np.diff(records["timestamp"]) != n)
    if gaps.size:
        log.warning("%s: %d timestamp gaps between records", os.fspath(path), gaps.size)
    fields["first_timestamp"] = str(int(records["timestamp"][0]))
    return records["samples"].reshape(-1).astype(np.int16), fields


def read_openephys(
    path: PathLike, *, fs: float | None = None, kind: str | None = None
) -> Recording:
    """A folder of ``.continuous`` files (or one such file) as an int16 recording."""
    check_kind(path, kind, "recording")
    files = channel_files(path) if Path(path).is_dir() else [Path(path)]
    channels, names = [], []
    rate = uv = None
    first: dict[str, str] = {}
    for file in files:
        samples, fields = read_continuous(file)
        file_rate = _number(file, fields, "sampleRate")
        file_uv = _number(file, fields, "bitVolts")
        if rate is None:
            rate, uv, first = file_rate, file_uv, fields
        elif (file_rate, file_uv) != (rate, uv):
            raise bad(
                file,
                f"sampleRate/bitVolts {file_rate}/{file_uv} differ from the first "
                f"channel's {rate}/{uv}",
            )
        if channels and samples.size != channels[0].size:
            raise bad(file, f"{samples.size} samples, the first channel has {channels[0].size}")
        channels.append(samples)
        names.append(fields.get("channel") or file.stem)
    meta = {
        "source_format": "openephys-legacy",
        "first_timestamp": int(first["first_timestamp"]),
        "date_created": first.get("date_created", ""),
    }
    return make_recording(
        path,
        np.stack(channels),
        sample_rate=resolve_rate(path, rate, fs),
        uv_per_step=float(uv),
        channel_names=names,
        meta=meta,
    )
