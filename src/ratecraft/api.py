"""The public Python API: thin, typed wrappers over data I/O, the codec registry and `.rcz` files.

    import ratecraft.api as rc

    data = rc.load("session.npz")                     # any readable data file, or an .rcz
    blob, stats = rc.encode(data, "session.rcz")      # lossless with `predictive` by default
    blob, stats = rc.encode(data, codec="quant", ratio=10)
    same = rc.decode("session.rcz")                   # path or bytes
    codec = rc.fit(data, codec="quant", max_error=4)  # a fitted codec, to encode many times

Every function raises :class:`~ratecraft.errors.BadInputError` (or a subclass) for unusable
input, with a one-line message, and never leaves a half-written file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ratecraft.atomic import atomic_write
from ratecraft.bitstream.container import MAGIC, read_header
from ratecraft.codecs import Budget, Codec, CodecConfig, EncodeStats, available_codecs, get_codec
from ratecraft.codecs import decode as _decode_blob
from ratecraft.codecs.base import Progress, codec_class
from ratecraft.data.io import describe, read_data
from ratecraft.data.types import Data
from ratecraft.errors import BadInputError, CorruptStreamError

__all__ = [
    "DEFAULT_LOSSLESS_CODEC",
    "DEFAULT_LOSSY_CODEC",
    "decode",
    "default_codec",
    "encode",
    "fit",
    "info",
    "is_container",
    "load",
    "load_codec",
    "make_budget",
    "write_file",
]

PathLike = str | os.PathLike[str]

DEFAULT_LOSSLESS_CODEC = "predictive"
DEFAULT_LOSSY_CODEC = "quant"
CONTAINER_SUFFIX = ".rcz"


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


def default_codec(budget: Budget) -> str:
    """The codec used when none is named: ``predictive`` lossless, ``quant`` lossy."""
    return DEFAULT_LOSSLESS_CODEC if budget.lossless else DEFAULT_LOSSY_CODEC


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
    name = codec or default_codec(budget)
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


def write_file(path: PathLike, content: bytes) -> None:
    """Write ``content`` to ``path`` all or nothing (temporary file beside it, then rename).

    The file gets the usual permissions (0666 less the umask), unlike a bare ``mkstemp``.
    """
    _check_output_folder(path)
    atomic_write(path, content)


def decode(
    source: bytes | bytearray | memoryview | PathLike, progress: Progress | None = None
) -> Data:
    """Decode an `.rcz` container given as bytes or as a path."""
    if isinstance(source, bytes | bytearray | memoryview):
        blob = bytes(source) if isinstance(source, bytearray) else source
        return _decode_blob(blob, progress)
    path = Path(source)
    return _with_path(path, lambda: _decode_blob(_read_bytes(path), progress))


def read_container(path: PathLike) -> bytes:
    """The bytes of an `.rcz` file, with a one-line error when it cannot be read."""
    p = Path(path)
    return _with_path(p, lambda: _read_bytes(p))


def is_container(path: PathLike) -> bool:
    """True when ``path`` is a file that starts with the `.rcz` magic bytes."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def load(
    path: PathLike,
    *,
    fs: float | None = None,
    dataset: str | None = None,
    kind: str | None = None,
) -> Data:
    """Read a data file (see :func:`ratecraft.data.io.read_data`) or decode an `.rcz` container.

    A file named ``*.rcz`` or starting with the container's magic bytes is decoded; anything
    else goes to the format readers, with ``fs``, ``dataset`` and ``kind`` passed on.
    """
    p = Path(path)
    if p.is_file() and (p.suffix.lower() == CONTAINER_SUFFIX or is_container(p)):
        if dataset is not None or kind is not None:
            raise BadInputError(f"{p}: --dataset and --kind do not apply to an .rcz file")
        if fs is not None:
            raise BadInputError(f"{p}: an .rcz file carries its own sample rate; drop --fs")
        return decode(p)
    return read_data(p, fs=fs, dataset=dataset, kind=kind)


def load_codec(directory: PathLike) -> Codec:
    """A codec saved with :meth:`Codec.save` (``codec.json`` in ``directory``)."""
    return Codec.load(directory)


def info(
    path: PathLike,
    *,
    fs: float | None = None,
    dataset: str | None = None,
    kind: str | None = None,
) -> dict[str, Any]:
    """A JSON-friendly description of a data file or of an `.rcz` container's header.

    For a container: codec and version, format version, kind, data shape (channels × time or
    samples × features), dtype, sample rate, chunks, file bytes, raw bytes and the real ratio.
    Only the header is checked, not the chunks; ``ratecraft decode`` checks everything.
    """
    p = Path(path)
    if p.is_file() and (p.suffix.lower() == CONTAINER_SUFFIX or is_container(p)):
        return _with_path(p, lambda: _container_info(p))
    data = read_data(p, fs=fs, dataset=dataset, kind=kind)
    out: dict[str, Any] = {"file": str(p), "format": p.suffix.lower().lstrip(".") or "folder"}
    if p.is_file():
        out["file_bytes"] = p.stat().st_size
    out.update(describe(data))
    return out


def _container_info(path: Path) -> dict[str, Any]:
    blob = _read_bytes(path)
    header, _ = read_header(blob)
    version = int.from_bytes(blob[len(MAGIC) : len(MAGIC) + 2], "little")
    rows, frames = header.shape
    try:
        itemsize = _dtype_itemsize(header.dtype)
    except TypeError:
        raise CorruptStreamError(f"unknown dtype {header.dtype!r} in header") from None
    raw = rows * frames * itemsize
    table = header.kind == "table"
    families = None
    if header.families is not None:
        families = {}
        for fam in header.families:
            families[fam] = families.get(fam, 0) + 1
    return {
        "file": str(path),
        "format": "rcz",
        "format_version": version,
        "codec": header.codec,
        "codec_version": header.codec_version,
        "kind": header.kind,
        "shape": [frames, rows] if table else [rows, frames],
        "dtype": header.dtype,
        "sample_rate": header.sample_rate,
        "uv_per_step": header.uv_per_step,
        "duration_s": frames / header.sample_rate if header.sample_rate else None,
        "n_channels": None if table else rows,
        "n_features": rows if table else None,
        "families": families,
        "chunks": header.n_chunks,
        "chunk_frames": header.chunk_frames,
        "file_bytes": len(blob),
        "raw_bytes": raw,
        "ratio": raw / len(blob) if blob else None,
        "bits_per_sample": 8.0 * len(blob) / (rows * frames) if rows * frames else None,
        "codec_params": header.codec_params,
    }


def _dtype_itemsize(name: str) -> int:
    import numpy as np

    return int(np.dtype(name).itemsize)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BadInputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadInputError(f"{path}: is a folder, not an .rcz file") from None
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror})") from None


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
