"""Recordings SpikeInterface reads (and through it neo): every acquisition system's format.

``ratecraft encode --format spikeglx|openephys|intan|blackrock|nwb|…`` opens the recording with
SpikeInterface's extractor of that name (:data:`FORMATS`); a folder SpikeInterface saved
(``recording.save(folder=…)``, binary or zarr) opens with ``spikeinterface.load``; and the files
of the common systems are recognised without a flag: a SpikeGLX ``.bin`` beside its ``.meta``,
an Open Ephys binary ``continuous.dat`` under its ``structure.oebin``, an Open Ephys legacy
folder of ``.continuous`` files. The recording keeps what SpikeInterface knows of it: channel
ids (as names), locations (positions), sample rate, and the gains and offsets to µV (one gain
as ``uv_per_step``; channels that differ keep theirs in ``meta`` as ``channel_gains_uV`` /
``channel_offsets_uV``).

Samples are read in frame ranges. Where the recording is a plain interleaved binary file — an
SI binary folder, a raw binary extractor, or a neo reader whose stream is one raw buffer
(SpikeGLX, Open Ephys binary) — the frames are read with positioned reads
(:class:`~ratecraft.data.sources.FileArraySource`), checked once against SpikeInterface's own
traces: neo's memory maps would otherwise keep every page of an 80 GB file resident. Anything
else goes through ``get_traces``. Segments are concatenated in time (their lengths in ``meta``
as ``segment_frames``). Needs the ``neuro`` extra.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ratecraft.data.io.common import bad, check_kind, one_line
from ratecraft.data.sources import Facts, FileArraySource, Source
from ratecraft.errors import BadInputError, MissingExtraError

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

ALIASES = {"openephys": "openephys (binary or legacy, detected)"}
_CHECK_FRAMES = 256  # frames compared between positioned reads and SpikeInterface's traces


def _si() -> Any:
    try:
        import spikeinterface.core as si
        import spikeinterface.extractors  # noqa: F401  (registers the extractors)
    except ImportError:
        raise MissingExtraError("spikeinterface", "neuro") from None
    return si


def formats() -> list[str]:
    """The names ``--format`` takes: SpikeInterface's recording extractors, and ``openephys``
    (binary or legacy, detected)."""
    _si()
    from spikeinterface.extractors import recording_extractor_full_dict

    return sorted({*recording_extractor_full_dict, *ALIASES})


def is_si_folder(path: Path) -> bool:
    """A folder (or ``.zarr`` store) that SpikeInterface saved."""
    if path.suffix.lower() == ".zarr":  # a root group with SpikeInterface's arrays
        return (path / ".zattrs").is_file() and (path / "traces_seg0").is_dir()
    return path.is_dir() and (path / "si_folder.json").is_file()


def recognised(path: Path) -> tuple[str, Path, str | None] | None:
    """``(format, path to open, stream)`` for files SpikeInterface reads that carry no flag:
    SpikeGLX ``.bin`` + ``.meta``, Open Ephys ``continuous.dat`` under ``structure.oebin``, a
    folder of Open Ephys legacy ``.continuous`` files."""
    if path.is_dir():
        if any(p.suffix == ".continuous" for p in path.iterdir()):
            return "openephyslegacy", path, None
        return None
    if path.suffix == ".continuous":  # one channel of a legacy folder
        return "openephyslegacy", path.parent, None
    if path.suffix.lower() == ".bin" and path.with_suffix(".meta").is_file():
        # name_g0_t0.imec0.ap.bin → stream imec0.ap; name_g0_t0.nidq.bin → nidq
        parts = path.name.split(".")
        stream = ".".join(parts[1:-1]) if len(parts) > 2 else None
        return "spikeglx", path.parent, stream
    if path.name == "continuous.dat":
        root = path.parent.parent.parent  # <root>/continuous/<stream>/continuous.dat
        if (root / "structure.oebin").is_file():
            return "openephysbinary", root, path.parent.name
    return None


_LEGACY_HEADER = 1024
_LEGACY_RECORD = 8 + 2 + 2 + 2 * 1024 + 10  # timestamp, count, recording number, samples, marker


def _check_legacy_files(folder: Path) -> None:
    """Each ``.continuous`` file of a legacy folder holds whole records (neo would drop a
    partial last record without a word)."""
    for f in sorted(folder.glob("*.continuous")):
        body = f.stat().st_size - _LEGACY_HEADER
        if body < 0 or body % _LEGACY_RECORD:
            raise bad(f, f"truncated: {body} bytes after the header are not whole records")


def open_recording(
    path: PathLike, fmt: str | None = None, stream: str | None = None
) -> tuple[Any, str | None]:
    """The SpikeInterface recording at ``path`` (format by name, a saved folder, or recognised)
    and the format it was read as (None for a saved folder)."""
    p = Path(path)
    si = _si()
    from spikeinterface.extractors import read_openephys, recording_extractor_full_dict

    if fmt is None:
        found = recognised(p)
        if found is None and not is_si_folder(p):
            raise bad(p, "not a recording SpikeInterface recognises; name its --format")
        if found is not None:
            fmt, p, stream = found[0], found[1], stream or found[2]
    if fmt == "openephyslegacy":
        _check_legacy_files(p)
    try:
        if fmt is None:
            rec = si.load(p)
        else:
            kwargs = {} if stream is None else {"stream_id": stream}
            if fmt == "openephys":
                rec = read_openephys(p, **kwargs)
            elif fmt in recording_extractor_full_dict:
                rec = recording_extractor_full_dict[fmt](p, **kwargs)
            else:
                raise bad(
                    p, f"unknown --format {fmt!r}; SpikeInterface reads {', '.join(formats())}"
                )
    except BadInputError:
        raise
    except Exception as exc:  # every extractor has its own errors; each is one line here
        what = fmt or "a saved folder"
        raise bad(p, f"SpikeInterface cannot read it as {what}: {one_line(exc)}") from None
    if not hasattr(rec, "get_traces"):
        raise bad(p, f"holds a {type(rec).__name__}, not a recording")
    return rec, fmt


def _legacy_channel(path: Path) -> str:
    """The ``header.channel`` of an Open Ephys legacy ``.continuous`` file."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1024).decode("latin-1")
    except OSError as exc:
        raise bad(path, f"cannot read ({exc.strerror})") from None
    found = re.search(r"header\.channel\s*=\s*'?\"?([^'\";]+)", head)
    if found is None:
        raise bad(path, "not an Open Ephys .continuous file (its header names no channel)")
    return found.group(1).strip()


def _select_file_channel(rec: Any, path: Path) -> Any:
    """The one channel of the recording a ``.continuous`` file holds."""
    name = _legacy_channel(path)
    names = [str(n) for n in rec.get_property("channel_name")]
    if name not in names:
        raise bad(path, f"channel {name!r} is not in its folder's recording")
    return rec.select_channels([rec.get_channel_ids()[names.index(name)]])


def facts_of_recording(rec: Any, fmt: str | None) -> Facts:
    """What the recording says of itself, as a ratecraft source's facts: names are the
    acquisition system's channel names where each channel has its own, else the ids (the
    ids then kept in ``meta["channel_ids"]``)."""
    ids = [str(c) for c in rec.get_channel_ids()]
    names = ids
    if "channel_name" in rec.get_property_keys():
        given = [str(n) for n in rec.get_property("channel_name")]
        if len(set(given)) == len(given) and given != ids:
            names = given
    meta: dict[str, Any] = {"source_format": f"spikeinterface:{type(rec).__name__}"}
    if names is not ids:
        meta["channel_ids"] = ids
    if fmt:
        meta["format"] = fmt
    stream = getattr(rec, "stream_id", None)
    if stream:
        meta["stream"] = str(stream)
    gain = 1.0
    if rec.has_scaleable_traces():
        gains = np.asarray(rec.get_channel_gains(), dtype=np.float64)
        offsets = np.asarray(rec.get_channel_offsets(), dtype=np.float64)
        gain = float(gains[0]) if len(gains) else 1.0
        if not np.all(gains == gain):
            meta["channel_gains_uV"] = gains.tolist()
            gain = float(np.median(gains))
        if np.any(offsets != 0):
            meta["channel_offsets_uV"] = offsets.tolist()
    if rec.get_num_segments() > 1:
        meta["segment_frames"] = [
            int(rec.get_num_samples(segment_index=i)) for i in range(rec.get_num_segments())
        ]
    t0 = float(rec.get_start_time(segment_index=0))
    if t0:
        meta["t_start_s"] = t0
    positions = None
    if "location" in rec.get_property_keys() or rec.has_probe():  # a probe holds them
        positions = np.asarray(rec.get_channel_locations(), dtype=np.float64)
    return Facts(
        "recording",
        sample_rate=float(rec.get_sampling_frequency()),
        uv_per_step=gain,
        units="uV",
        channel_names=names,
        channel_positions=positions,
        meta=meta,
    )


class RecordingSource(Source):
    """A SpikeInterface recording read through ``get_traces`` (segments one after another)."""

    def __init__(self, rec: Any, facts: Facts, path: Path) -> None:
        self.rec = rec
        self._lengths = [
            int(rec.get_num_samples(segment_index=i)) for i in range(rec.get_num_segments())
        ]
        self._starts = np.concatenate([[0], np.cumsum(self._lengths)]).astype(np.int64)
        super().__init__(
            rec.get_num_channels(), int(self._starts[-1]), rec.get_dtype(), facts, path
        )

    def _read(self, start: int, stop: int) -> np.ndarray:
        parts = []
        for seg, length in enumerate(self._lengths):
            lo, hi = (
                max(start - int(self._starts[seg]), 0),
                min(stop - int(self._starts[seg]), length),
            )
            if hi > lo:
                traces = self.rec.get_traces(segment_index=seg, start_frame=lo, end_frame=hi)
                parts.append(np.asarray(traces).T)
        return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


def _binary_layout(rec: Any) -> tuple[Path, int, int, Any] | None:
    """``(file, offset, channels per frame, channel selection)`` when the recording's one
    segment is a plain interleaved little-endian file, else None."""
    if rec.get_num_segments() != 1 or np.dtype(rec.get_dtype()).byteorder == ">":
        return None
    if rec.is_binary_compatible():
        d = rec.get_binary_description()
        if d.get("time_axis", 0) != 0 or len(d["file_paths"]) != 1:
            return None
        return Path(d["file_paths"][0]), int(d.get("file_offset", 0)), int(d["num_channels"]), None
    reader = getattr(rec, "neo_reader", None)
    descriptions = getattr(reader, "_buffer_descriptions", None)
    if reader is None or not descriptions:
        return None
    stream = reader.header["signal_streams"][rec.stream_index]
    seg = rec._recording_segments[0]
    d = descriptions.get(seg.block_index, {}).get(seg.segment_index, {}).get(stream["buffer_id"])
    if not d or d.get("type") != "raw" or d.get("order", "C") != "C" or len(d["shape"]) != 2:
        return None
    keep = reader._stream_buffer_slice.get(stream["id"])
    return Path(d["file_path"]), int(d["file_offset"]), int(d["shape"][1]), keep


def _check_whole_frames(file: Path, offset: int, file_rows: int, itemsize: int) -> None:
    """The file holds whole frames, and as many bytes as a SpikeGLX ``.meta`` declares (neo
    reads the whole frames of a short file without a word)."""
    size = file.stat().st_size
    frame = file_rows * itemsize
    if (size - offset) % frame:
        raise bad(file, f"{size - offset} bytes of samples are not whole frames of {frame} bytes")
    meta = file.with_suffix(".meta")
    if meta.is_file():
        declared = re.search(r"^fileSizeBytes=(\d+)", meta.read_text(errors="replace"), re.M)
        if declared and int(declared.group(1)) != size:
            raise bad(file, f"its .meta declares {declared.group(1)} bytes, the file has {size}")


def _positioned(rec: Any, facts: Facts, path: Path) -> Source | None:
    layout = _binary_layout(rec)
    if layout is None:
        return None
    file, offset, file_rows, keep = layout
    _check_whole_frames(file, offset, file_rows, np.dtype(rec.get_dtype()).itemsize)
    rows, frames = rec.get_num_channels(), int(rec.get_num_samples(segment_index=0))
    select = None if keep is None else np.arange(file_rows)[keep]
    if (select is None and file_rows != rows) or (select is not None and len(select) != rows):
        return None
    source = FileArraySource(
        file, offset, rows, frames, rec.get_dtype(), facts, interleaved=True,
        file_rows=file_rows, keep=select,
    )  # fmt: skip
    n = min(frames, _CHECK_FRAMES)
    theirs = np.asarray(rec.get_traces(segment_index=0, start_frame=0, end_frame=n)).T
    if not np.array_equal(source.read(0, n), theirs):
        log.info("%s: positioned reads differ from SpikeInterface's traces; using get_traces", path)
        source.close()
        return None
    return source


def open_spikeinterface(
    path: PathLike,
    *,
    fmt: str | None = None,
    stream: str | None = None,
    fs: float | None = None,
    kind: str | None = None,
) -> Source:
    """A chunked source over the recording SpikeInterface reads at ``path`` (see the module
    doc); ``fs`` overrides the rate the recording declares."""
    p = Path(path)
    check_kind(p, kind, "recording")
    rec, fmt = open_recording(p, fmt, stream)
    if p.suffix == ".continuous" and p.is_file():
        rec = _select_file_channel(rec, p)
    facts = facts_of_recording(rec, fmt)
    if fs is not None:
        if float(fs) != facts.sample_rate:
            log.warning("%s: the recording says %g Hz, using --fs %g Hz", p, facts.sample_rate, fs)
        facts.sample_rate = float(fs)
    return _positioned(rec, facts, p) or RecordingSource(rec, facts, p)
