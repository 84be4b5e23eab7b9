"""Request bodies in, response bodies out: streamed to a bounded temporary file, read through
the one data reader (:func:`ratecraft.data.io.read_data`), written through the one writer.

A body is copied chunk by chunk into a temporary file while it arrives; a declared
``Content-Length`` over the limit is refused before reading, and a body that grows past it is
refused as soon as it does (413), so memory holds one network chunk, not the body. The format
comes from the ``format`` query parameter or the ``Content-Type``: ``.npy``, ``.wav``, raw
interleaved samples (``channels``, ``sample_rate`` and ``dtype`` given as query parameters), a
feature-table ``.csv``, or an ``.rcz`` container.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from ratecraft.data.io import read_data, write_data
from ratecraft.data.types import Data, FeatureTable
from ratecraft.errors import BadInputError

__all__ = [
    "BODY_FORMATS",
    "BodyTooLarge",
    "TruncatedBody",
    "UnsupportedMedia",
    "body_format",
    "read_body_data",
    "render",
    "spool",
]

# body format → (file suffix the reader dispatches on, content types that name it)
BODY_FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "npy": (".npy", ("application/x-npy", "application/npy")),
    "wav": (".wav", ("audio/wav", "audio/x-wav", "audio/wave")),
    "raw": (".bin", ("application/octet-stream",)),
    "csv": (".csv", ("text/csv",)),
    "rcz": (".rcz", ("application/x-ratecraft", "application/vnd.ratecraft.rcz")),
}
MEDIA = {"npy": "application/x-npy", "wav": "audio/wav", "csv": "text/csv"}


class BodyTooLarge(BadInputError):
    """The body is over the service's size limit (413)."""


class UnsupportedMedia(BadInputError):
    """The body's format is not one the endpoint takes (415)."""


class TruncatedBody(BadInputError):
    """The client stopped sending before the body was complete (400)."""


def body_format(fmt: str | None, content_type: str | None, allowed: tuple[str, ...]) -> str:
    """The body format from ``format=`` or the ``Content-Type``, among ``allowed``."""
    if fmt is not None:
        if fmt not in allowed:
            raise UnsupportedMedia(f"format {fmt!r} is not taken here; use one of {list(allowed)}")
        return fmt
    media = (content_type or "").split(";")[0].strip().lower()
    for name in allowed:
        if media in BODY_FORMATS[name][1]:
            return name
    known = ", ".join(t for n in allowed for t in BODY_FORMATS[n][1])
    raise UnsupportedMedia(
        f"Content-Type {media or '(none)'!r} is not taken here; send one of: {known} "
        "(or pass format=)"
    )


@contextlib.asynccontextmanager
async def spool(
    chunks: AsyncIterator[bytes], fmt: str, limit: int, declared: str | None
) -> AsyncIterator[Path]:
    """The body in a temporary file named for ``fmt`` (deleted afterwards)."""
    if declared is not None:
        if not declared.isdigit():
            raise BadInputError(f"Content-Length {declared[:20]!r} is not a number")
        if int(declared) > limit:
            raise BodyTooLarge(f"body of {int(declared):,} bytes is over the {limit:,}-byte limit")
    fd, name = tempfile.mkstemp(prefix="rc-body-", suffix=BODY_FORMATS[fmt][0])
    path = Path(name)
    try:
        size = 0
        with os.fdopen(fd, "wb") as out:
            async for piece in chunks:
                size += len(piece)
                if size > limit:
                    raise BodyTooLarge(f"body is over the {limit:,}-byte limit")
                out.write(piece)
        if declared is not None and size != int(declared):
            raise TruncatedBody(f"body ended after {size:,} of {int(declared):,} bytes")
        if size == 0:
            raise BadInputError("empty body")
        yield path
    finally:
        path.unlink(missing_ok=True)


def read_body_data(
    path: Path,
    fmt: str,
    *,
    channels: int | None = None,
    sample_rate: float | None = None,
    dtype: str | None = None,
    kind: str | None = None,
) -> Data:
    """The data in a spooled body (raw samples need ``channels``, ``sample_rate``, ``dtype``;
    ``kind="table"`` reads a 2-D ``.npy`` as samples × features)."""
    if fmt == "raw":
        missing = [
            n
            for n, v in (("channels", channels), ("sample_rate", sample_rate), ("dtype", dtype))
            if v is None
        ]
        if missing:
            raise BadInputError(f"raw samples need the query parameters {', '.join(missing)}")
        return read_data(path, fs=sample_rate, channels=channels, dtype=dtype)
    if channels is not None or dtype is not None:
        raise BadInputError(f"channels and dtype describe raw samples, not a {fmt} body")
    if kind is not None and fmt != "npy":
        raise BadInputError(f"kind applies to .npy bodies, not {fmt}")
    return read_data(path, fs=sample_rate, kind=kind)


@contextlib.contextmanager
def render(data: Data, fmt: str) -> Iterator[Path]:
    """``data`` written in ``fmt`` to a temporary file (deleted afterwards)."""
    if fmt not in MEDIA:
        raise UnsupportedMedia(f"cannot answer in {fmt!r}; use one of {list(MEDIA)}")
    if fmt == "wav" and isinstance(data, FeatureTable):
        raise BadInputError("a feature table cannot be written as .wav; ask for npy or csv")
    with tempfile.TemporaryDirectory(prefix="rc-out-") as tmp:
        path = Path(tmp) / f"out.{fmt}"
        write_data(data, path)
        yield path
