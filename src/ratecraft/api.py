"""The public Python API: thin, typed wrappers over data I/O, the codec registry and `.rcz` files.

    import ratecraft.api as rc

    data = rc.load("session.npz")                     # any readable data file, or an .rcz
    with rc.open("session.bin", channels=384, fs=30000) as src:  # chunked: any length
        rc.encode_file(src, "session.rcz", rc.fit(src.excerpt(1 << 22), codec="predictive"))
    blob, stats = rc.encode(data, "session.rcz")      # lossless with `predictive` by default
    blob, stats = rc.encode(data, codec="quant", ratio=10)
    same = rc.decode("session.rcz")                   # path or bytes
    second = rc.decode("session.rcz", start="10s", stop="11s")  # reads only those chunks
    codec = rc.fit(data, codec="quant", max_error=4)  # a fitted codec, to encode many times

Every function raises :class:`~ratecraft.errors.BadInputError` (or a subclass) for unusable
input, with a one-line message, and never leaves a half-written file.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from ratecraft.atomic import atomic_write
from ratecraft.bitstream.container import MAGIC, ContainerReader, header_json
from ratecraft.codecs import Budget, Codec, CodecConfig, EncodeStats, available_codecs, get_codec
from ratecraft.codecs import decode as _decode
from ratecraft.codecs.base import (
    CODECS,
    Progress,
    codec_class,
    decode_blocks,
    frame_range,
    header_facts,
)
from ratecraft.data.io import describe, expand_inputs, open_sink, open_source, read_data
from ratecraft.data.recording_set import RecordingSet, split_by_recording
from ratecraft.data.sources import Source
from ratecraft.data.types import Data, FeatureTable, Recording
from ratecraft.errors import BadInputError, UnknownCodecError

__all__ = [
    "DEFAULT_FIT_CODECS",
    "DEFAULT_LOSSLESS_CODEC",
    "DEFAULT_LOSSY_CODEC",
    "decode",
    "decode_to",
    "default_codec",
    "default_fit_codec",
    "encode",
    "encode_file",
    "fit",
    "info",
    "is_container",
    "load",
    "load_codec",
    "make_budget",
    "open",
    "write_file",
]

PathLike = str | os.PathLike[str]

DEFAULT_LOSSLESS_CODEC = "predictive"
DEFAULT_LOSSY_CODEC = "quant"
DEFAULT_TABLE_CODEC = "columnar"
DEFAULT_FIT_CODECS = {"recording": "spike-lfp", "recordings": "conv-ae", "table": "vqvae"}
"""What ``ratecraft fit`` trains when no codec is named, by data kind: the learned codec that
measured best on the benchmarks (README, "Which codec for what"); for several recordings, the
windowed codec that measured best there (spike-lfp fits one recording in memory)."""
CONTAINER_SUFFIX = ".rcz"
FIT_SAMPLES = 1 << 22  # what a codec fits its knobs (or trains) on when encoding a large file


def make_budget(
    *, lossless: bool = False, ratio: float | None = None, max_error: float | None = None
) -> Budget:
    """A :class:`Budget` from at most one of the three modes; none given means lossless."""
    given = [
        name
        for name, on in (
            ("lossless", lossless),
            ("ratio", ratio is not None),
            ("max_error", max_error is not None),
        )
        if on
    ]
    if len(given) > 1:
        raise BadInputError(
            f"give only one of lossless, ratio or max_error (got {', '.join(given)})"
        )
    if ratio is not None and not (math.isfinite(ratio) and ratio > 1.0):
        raise BadInputError(f"ratio must be a finite number > 1 (raw / compressed), got {ratio:g}")
    if max_error is not None and not (math.isfinite(max_error) and max_error >= 0.0):
        raise BadInputError(f"max_error must be a finite number >= 0, got {max_error:g}")
    try:
        if ratio is not None:
            return Budget(ratio=float(ratio))
        if max_error is not None:
            return Budget(max_error=float(max_error))
        return Budget(lossless=True)
    except ValidationError as exc:  # pragma: no cover - the checks above come first
        raise BadInputError(f"invalid budget: {exc.errors()[0].get('msg')}") from None


def default_codec(budget: Budget, kind: str = "recording") -> str:
    """The codec used when none is named: for recordings ``predictive`` lossless, ``quant``
    lossy; for tables ``columnar`` lossless or under an error bound (``quant`` for a ratio)."""
    if kind == "table" and budget.ratio is None:
        return DEFAULT_TABLE_CODEC
    return DEFAULT_LOSSLESS_CODEC if budget.lossless else DEFAULT_LOSSY_CODEC


def default_fit_codec(data: Data) -> str:
    """The codec :data:`DEFAULT_FIT_CODECS` names for ``data``'s kind."""
    return DEFAULT_FIT_CODECS["recording" if isinstance(data, Recording) else "table"]


def lossy_codecs() -> list[str]:
    """Registered codecs that accept a ratio or max-error budget."""
    return [n for n in available_codecs() if codec_class(n).supports_lossy]


def check_codec(name: str, budget: Budget) -> None:
    """Refuse an unknown codec, or a lossy budget for a lossless-only codec, before any work."""
    cls = codec_class(name)  # UnknownCodecError lists what is available
    if not budget.lossless and not cls.supports_lossy:
        lossy = ", ".join(lossy_codecs()) or "none registered"
        raise BadInputError(
            f"codec {name!r} is lossless only; it cannot meet {budget.describe()} "
            f"(lossy codecs: {lossy})"
        )


def fit(
    data: Data,
    *,
    codec: str | None = None,
    budget: Budget | None = None,
    lossless: bool = False,
    ratio: float | None = None,
    max_error: float | None = None,
    config: CodecConfig | dict[str, Any] | None = None,
) -> Codec:
    """A codec fitted to ``data``: pass a ``budget`` or one of ``lossless``/``ratio``/``max_error``.

    ``codec`` names a registered codec (default: :func:`default_codec` of the budget); ``config``
    overrides fields of its configuration.
    """
    if budget is None:
        budget = make_budget(lossless=lossless, ratio=ratio, max_error=max_error)
    elif lossless or ratio is not None or max_error is not None:
        raise BadInputError("give either budget or lossless/ratio/max_error, not both")
    name = codec or default_codec(budget, "recording" if isinstance(data, Recording) else "table")
    check_codec(name, budget)
    return get_codec(name, config).fit(data, budget)


def encode(
    data: Data,
    path: PathLike | None = None,
    *,
    codec: str | Codec | None = None,
    budget: Budget | None = None,
    lossless: bool = False,
    ratio: float | None = None,
    max_error: float | None = None,
    config: CodecConfig | dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> tuple[bytes, EncodeStats]:
    """Encode ``data`` into an `.rcz` container; returns its bytes and the real/estimated sizes.

    ``codec`` is a name (fitted here under the budget) or an already fitted :class:`Codec`. With
    ``path`` the container is also written there atomically (temporary file, then rename).
    """
    if isinstance(codec, Codec):
        if budget is not None or lossless or ratio is not None or max_error is not None:
            raise BadInputError("a fitted codec already has its budget; do not pass another")
        if config is not None:
            raise BadInputError("a fitted codec already has its config; do not pass another")
        fitted = codec
    else:
        fitted = fit(
            data,
            codec=codec,
            budget=budget,
            lossless=lossless,
            ratio=ratio,
            max_error=max_error,
            config=config,
        )
    blob, stats = fitted.encode_with_stats(data, progress)
    if path is not None:
        write_file(path, blob)
    return blob, stats


def open(
    path: PathLike,
    *,
    fs: float | None = None,
    dataset: str | None = None,
    kind: str | None = None,
    channels: int | None = None,
    dtype: str | None = None,
    fmt: str | None = None,
    stream: str | None = None,
) -> Source:
    """A chunked source for a data file of any size (see :func:`ratecraft.data.io.open_source`;
    ``fmt`` / ``stream`` name a SpikeInterface format and stream); close it when done, or use
    it in a ``with`` block."""
    return open_source(
        path, fs=fs, dataset=dataset, kind=kind, channels=channels, dtype=dtype, fmt=fmt,
        stream=stream,
    )  # fmt: skip


def encode_file(
    data: Data | Source, path: PathLike, codec: Codec, *, progress: Progress | None = None
) -> EncodeStats:
    """Stream the container of ``data`` (in memory or a chunked source) by a fitted ``codec``
    into ``path``, chunk by chunk and all or nothing."""
    _check_output_folder(path)
    return codec.encode_to_file(data, path, progress)


def decode_to(
    container: PathLike,
    output: PathLike,
    *,
    model: Codec | PathLike | None = None,
    start: str | int | None = None,
    stop: str | int | None = None,
    dataset: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Decode a container (or a range of it) straight into a data file, one chunk in memory at
    a time; the output appears only once complete. Returns what was written (kind, shape as
    :func:`describe` gives it, dtype, sample rate)."""
    path = Path(container)

    def run() -> dict[str, Any]:
        with ContainerReader(path) as reader:
            header = reader.header
            a = parse_frame(start, header.sample_rate, "--start")
            b = parse_frame(stop, header.sample_rate, "--stop")
            if a is not None and b is not None and b <= a:
                raise BadInputError(f"--stop ({stop}) must come after --start ({start})")
            lo, hi = frame_range(header, a, b)
            facts = header_facts(header)
            blocks = decode_blocks(reader, model, start=lo, stop=hi, progress=progress)
            with open_sink(
                output, header.rows, hi - lo, header.dtype, facts, dataset=dataset
            ) as sink:
                for first, block in blocks:
                    sink.write(first - lo, block)
            table = header.kind == "table"
            return {
                "kind": header.kind,
                "shape": [hi - lo, header.rows] if table else [header.rows, hi - lo],
                "dtype": header.dtype,
                "sample_rate": None if table else header.sample_rate,
            }

    return _with_path(path, run)


def write_file(path: PathLike, content: bytes) -> None:
    """Write ``content`` to ``path`` all or nothing (temporary file beside it, then rename).

    The file gets the usual permissions (0666 less the umask), unlike a bare ``mkstemp``.
    """
    _check_output_folder(path)
    atomic_write(path, content)


def parse_frame(text: str | int | None, sample_rate: float | None, what: str) -> int | None:
    """A frame index from ``"10s"``, ``"250ms"`` (times need a sample rate) or ``"1200"``."""
    if text is None or isinstance(text, int):
        return text
    t = text.strip().lower()
    scale = None
    for suffix, factor in (("ms", 1e-3), ("s", 1.0)):
        if t.endswith(suffix):
            t, scale = t[: -len(suffix)], factor
            break
    try:
        value = float(t)
    except ValueError:
        raise BadInputError(f"{what}: {text!r} is not a time ('10s', '250ms') or frame") from None
    if not math.isfinite(value) or value < 0:
        raise BadInputError(f"{what}: {text!r} must be a finite time or frame ≥ 0")
    if scale is None:
        if not value.is_integer():
            raise BadInputError(f"{what}: a frame number must be whole; use '{text}s' for seconds")
        return int(value)
    if not sample_rate:
        raise BadInputError(f"{what}: this file has no sample rate; give a frame number")
    return round(value * scale * sample_rate)


def decode(
    source: bytes | bytearray | memoryview | PathLike,
    *,
    model: Codec | PathLike | None = None,
    start: str | int | None = None,
    stop: str | int | None = None,
    progress: Progress | None = None,
) -> Data:
    """Decode an `.rcz` container given as bytes or as a path (memory-mapped).

    ``model`` is the trained model (a codec or its folder) a container names, if it names one;
    ``start``/``stop`` pick a range (``"10s"``, ``"250ms"`` or frame numbers): only the chunks
    holding it are read.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        return _decode_from(ContainerReader(source), model, start, stop, progress)
    path = Path(source)
    return _with_path(path, lambda: _decode_path(path, model, start, stop, progress))


def _decode_path(path: Path, model: Any, start: Any, stop: Any, progress: Progress | None) -> Data:
    with ContainerReader(path) as reader:
        return _decode_from(reader, model, start, stop, progress)


def _decode_from(
    reader: ContainerReader, model: Any, start: Any, stop: Any, progress: Progress | None
) -> Data:
    rate = reader.header.sample_rate
    a = parse_frame(start, rate, "--start")
    b = parse_frame(stop, rate, "--stop")
    if a is not None and b is not None and b <= a:
        raise BadInputError(f"--stop ({stop}) must come after --start ({start})")
    return _decode(reader, model, start=a, stop=b, progress=progress)


def is_container(path: PathLike) -> bool:
    """True when ``path`` is a file that starts with the `.rcz` magic bytes."""
    try:
        with Path(path).open("rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def load(
    path: PathLike,
    *,
    fs: float | None = None,
    dataset: str | None = None,
    kind: str | None = None,
    fmt: str | None = None,
    stream: str | None = None,
) -> Data:
    """Read a data file (see :func:`ratecraft.data.io.read_data`) or decode an `.rcz` container.

    A file named ``*.rcz`` or starting with the container's magic bytes is decoded; anything
    else goes to the format readers, with ``fs``, ``dataset`` and ``kind`` passed on.
    """
    p = Path(path)
    if p.is_file() and (p.suffix.lower() == CONTAINER_SUFFIX or is_container(p)):
        if dataset is not None or kind is not None or fmt is not None or stream is not None:
            raise BadInputError(
                f"{p}: --dataset, --kind, --format and --stream do not apply to an .rcz file"
            )
        if fs is not None:
            raise BadInputError(f"{p}: an .rcz file carries its own sample rate; drop --fs")
        return decode(p)
    return read_data(p, fs=fs, dataset=dataset, kind=kind, fmt=fmt, stream=stream)


def open_training(
    paths: list[PathLike],
    val: list[PathLike] | None = None,
    *,
    codec: str | None = None,
    config: dict[str, Any] | None = None,
    fs: float | None = None,
    kind: str | None = None,
    fmt: str | None = None,
    stream: str | None = None,
) -> tuple[Data | RecordingSet, str]:
    """What ``codec`` trains on from the files, folders or globs ``paths`` (``val``: the
    validation recordings): one file is read whole; several tables are joined row by row;
    several recordings stay on disk as a :class:`RecordingSet` that the windowed learned
    codecs stream (held out by recording, seeded, unless ``val`` names them). Returns the data
    and the codec to fit (``codec``, or the default for that data: :func:`default_fit_codec`).
    Close a set when done."""
    files = expand_inputs(list(paths), fmt)
    val_files = expand_inputs(list(val), fmt) if val else []
    if len(files) == 1 and not val_files:
        data = load(files[0], fs=fs, kind=kind, fmt=fmt, stream=stream)
        return data, codec or default_fit_codec(data)
    sources = [open(f, fs=fs, kind=kind, fmt=fmt, stream=stream) for f in [*files, *val_files]]
    try:
        kinds = {s.facts.kind for s in sources}
        if kinds == {"table"}:
            if val_files:
                raise BadInputError("--val applies to recordings; a table codec validates on rows")
            table = join_tables([s.to_data() for s in sources], files)
            return table, codec or default_fit_codec(table)
        if kinds != {"recording"}:
            raise BadInputError("the training files mix recordings and tables")
        codec = codec or DEFAULT_FIT_CODECS["recordings"]
        if not codec_class(codec).trains_on_sets:
            windowed = [n for n in available_codecs() if codec_class(n).trains_on_sets]
            raise BadInputError(
                f"{codec} fits one recording in memory; several recordings train the windowed "
                f"learned codecs ({', '.join(windowed)})"
            )
        train, held = sources[: len(files)], sources[len(files) :]
        if held:
            return RecordingSet(train, held), codec
        settings = get_codec(codec, config).config
        val_fraction = float(getattr(settings, "val_fraction", 0.2))
        return split_by_recording(train, val_fraction, int(getattr(settings, "seed", 0))), codec
    except BaseException:
        for s in sources:
            s.close()
        raise


def join_tables(tables: list[Data], names: list[Path]) -> FeatureTable:
    """Feature tables with the same features, one after another."""
    first = tables[0]
    assert isinstance(first, FeatureTable)
    for t, name in zip(tables, names, strict=True):
        assert isinstance(t, FeatureTable)
        if t.n_features != first.n_features or t.feature_names != first.feature_names:
            raise BadInputError(f"{name}: its features differ from {names[0]}'s")
    values = np.concatenate([t.values for t in tables if isinstance(t, FeatureTable)])
    return dataclasses.replace(first, values=values)


def load_codec(directory: PathLike) -> Codec:
    """A codec saved with :meth:`Codec.save` (``codec.json`` in ``directory``)."""
    return Codec.load(directory)


def info(
    path: PathLike,
    *,
    fs: float | None = None,
    dataset: str | None = None,
    kind: str | None = None,
    verify: bool = True,
    fmt: str | None = None,
    stream: str | None = None,
) -> dict[str, Any]:
    """A JSON-friendly description of a data file or of an `.rcz` container.

    For a container: codec and version, format version, kind, data shape (channels × time or
    samples × features), dtype, sample rate, units, channel positions, metadata keys, the model
    it needs, chunks, file bytes, raw bytes and the real ratio. With ``verify`` every chunk is
    read and its checksum checked first (``verified`` says whether that was done), so a
    truncated or corrupt file is refused instead of described.
    """
    p = Path(path)
    if p.is_file() and (p.suffix.lower() == CONTAINER_SUFFIX or is_container(p)):
        return _with_path(p, lambda: _container_info(p, verify))
    out: dict[str, Any] = {"file": str(p), "format": p.suffix.lower().lstrip(".") or "folder"}
    with open_source(p, fs=fs, dataset=dataset, kind=kind, fmt=fmt, stream=stream) as source:
        if source.facts.meta.get("format"):
            out["format"] = source.facts.meta["format"]
        if p.is_file():
            out["file_bytes"] = p.stat().st_size
        out.update(describe(source))
    return out


def _container_info(path: Path, verify: bool) -> dict[str, Any]:
    with ContainerReader(path) as reader:
        header = reader.header
        if header.codec not in CODECS:  # (imports nothing: info stays quick)
            raise UnknownCodecError(
                f"unknown codec {header.codec!r}; available: {', '.join(CODECS.names())}"
            )
        n_entries = len(reader.entries)  # the index (or the v1 chunk walk) is checked always
        if verify:
            reader.verify()
        size, version = reader.size, reader.version
    rows, frames = header.shape
    raw = rows * frames * int(np.dtype(header.dtype).itemsize)
    table = header.kind == "table"
    families = None
    if header.families is not None:
        families = {}
        for fam in header.families:
            families[fam] = families.get(fam, 0) + 1
    pos = header.channel_positions
    return {
        "file": str(path),
        "format": "rcz",
        "format_version": version,
        "verified": verify,
        "codec": header.codec,
        "codec_version": header.codec_version,
        "kind": header.kind,
        "shape": [frames, rows] if table else [rows, frames],
        "dtype": header.dtype,
        "sample_rate": header.sample_rate,
        "uv_per_step": header.uv_per_step,
        "units": header.units,
        "duration_s": frames / header.sample_rate if header.sample_rate else None,
        "n_channels": None if table else rows,
        "n_features": rows if table else None,
        "channel_positions": None if pos is None else [len(pos), len(pos[0]) if pos else 0],
        "families": families,
        "meta_keys": sorted(header.meta) or None,
        "model_sha256": header.model_sha256,
        "chunks": n_entries,
        "chunk_frames": header.chunk_frames,
        "file_bytes": size,
        "raw_bytes": raw,
        "ratio": raw / size if size else None,
        "bits_per_sample": 8.0 * size / (rows * frames) if rows * frames else None,
        "codec_params": header_json(header).get("codec_params") or None,
    }


def _with_path(path: Path, action: Any) -> Any:
    """Run ``action``; prefix the path to a bad-input message that does not name it yet."""
    try:
        return action()
    except BadInputError as exc:
        text = str(exc)
        if text.startswith(str(path)):
            raise
        raise type(exc)(f"{path}: {text}") from None


def _check_output_folder(path: PathLike) -> None:
    folder = Path(path).parent
    if not folder.is_dir():
        raise BadInputError(f"{path}: folder {folder} does not exist")
    if Path(path).is_dir():
        raise BadInputError(f"{path}: is a folder")
