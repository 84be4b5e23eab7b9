"""Structure-aware mutation of `.rcz` containers, to fuzz every decoder past the checksums.

A random byte flip in a container is caught by a CRC almost every time, so it tests little.
:func:`mutate` changes a valid container the way a buggy writer or a hostile file would and
then **recomputes every checksum and the chunk index**, so the damage reaches the header parser
and the codec's own payload decoder:

- header JSON: a field (also inside ``codec_params`` and ``meta``) replaced by a value of
  another type, a huge, negative or non-finite number, or removed, or an unknown field added;
- chunk payloads: bytes flipped, a stretch deleted or duplicated, the payload cut short or
  padded, a 32-bit length inside it replaced by a huge one;
- structure: the file truncated, the index or footer overwritten, bytes appended.

:func:`classify` decodes one input under a time limit and names the outcome: ``decoded``,
``clean`` (a :class:`~ratecraft.errors.RatecraftError`, the one-line refusal users see),
``crash`` (any other exception) or ``hang``.
"""

from __future__ import annotations

import json
import signal
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ratecraft.bitstream.container import (
    _CHUNK,
    _ENTRY,
    _FOOTER,
    _PREFIX,
    _U32,
    INDEX_MAGIC,
    MAGIC,
    TRAILER,
    ContainerReader,
)
from ratecraft.errors import RatecraftError

__all__ = ["OUTCOMES", "Parts", "classify", "mutate", "split"]

OUTCOMES = ("decoded", "clean", "crash", "hang")


@dataclass
class Parts:
    """A container taken apart: format version, header JSON and each chunk's frames + payload."""

    version: int
    header: dict[str, Any]
    chunks: list[tuple[int, bytes]]

    def assemble(self) -> bytes:
        """The container of these parts with every length, checksum and index entry right."""
        body = json.dumps(self.header, allow_nan=True).encode("utf-8")
        out = bytearray(_PREFIX.pack(MAGIC, self.version, len(body)))
        out += body + _U32.pack(zlib.crc32(body))
        entries, first = [], 0
        for frames, payload in self.chunks:
            crc = zlib.crc32(payload)
            entries.append(_ENTRY.pack(len(out), first, frames, len(payload), crc))
            out += _CHUNK.pack(len(payload), frames, crc) + payload
            first += frames
        n = len(self.chunks)
        if self.version < 2:
            return bytes(out + TRAILER + _U32.pack(n))
        at = len(out)
        index = INDEX_MAGIC + _U32.pack(n) + b"".join(entries)
        out += index + _U32.pack(zlib.crc32(index))
        return bytes(out + _FOOTER.pack(at, n, TRAILER))


def split(blob: bytes) -> Parts:
    """The parts of a valid container (what :func:`mutate` starts from)."""
    reader = ContainerReader(blob)
    header = json.loads(reader.header.to_json_bytes())
    chunks = [(e.frames, bytes(p)) for e, p in reader.iter_chunks()]
    return Parts(reader.version, header, chunks)


_ODD_VALUES: tuple[Any, ...] = (
    None,
    0,
    -1,
    1 << 40,
    -(1 << 62),
    3.5,
    float("nan"),
    float("inf"),
    "",
    "x" * 300,
    "../../etc/passwd",
    [],
    [1, 2],
    [[1.0], [2.0, 3.0]],
    {},
    {"config": 5},
    {"config": {"step": -1}},
    True,
)


def _walk(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path inside a JSON document (dict keys and list indices)."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield (*path, k)
            yield from _walk(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:8]):
            yield (*path, i)
            yield from _walk(v, (*path, i))


def _set(doc: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> None:
    for key in path[:-1]:
        doc = doc[key]
    if delete and isinstance(doc, dict):
        del doc[path[-1]]
    else:
        doc[path[-1]] = value


def _mutate_header(parts: Parts, rng: np.random.Generator) -> None:
    paths = list(_walk(parts.header))
    roll = rng.random()
    if roll < 0.1 or not paths:
        parts.header[f"unknown_{int(rng.integers(100))}"] = 1
        return
    path = paths[int(rng.integers(len(paths)))]
    if roll < 0.25:
        _set(parts.header, path, None, delete=True)
    else:
        _set(parts.header, path, _ODD_VALUES[int(rng.integers(len(_ODD_VALUES)))])


def _mutate_payload(parts: Parts, rng: np.random.Generator) -> None:
    if not parts.chunks:
        return
    i = int(rng.integers(len(parts.chunks)))
    frames, payload = parts.chunks[i]
    data = bytearray(payload)
    kind = int(rng.integers(6))
    n = len(data)
    if kind == 0 and n:  # flip a few bytes
        for _ in range(int(rng.integers(1, 5))):
            data[int(rng.integers(n))] ^= int(rng.integers(1, 256))
    elif kind == 1 and n:  # delete a stretch
        a = int(rng.integers(n))
        del data[a : a + int(rng.integers(1, 64))]
    elif kind == 2 and n:  # duplicate a stretch
        a = int(rng.integers(n))
        data[a:a] = data[a : a + int(rng.integers(1, 64))]
    elif kind == 3:  # cut short
        data = data[: int(rng.integers(n + 1))]
    elif kind == 4:  # pad
        data += bytes(rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8))
    elif n >= 4:  # a length field blown up
        a = int(rng.integers(n - 3)) & ~3
        data[a : a + 4] = struct.pack("<I", int(rng.choice([0xFFFFFFFF, 1 << 30, n + 1])))
    parts.chunks[i] = (frames, bytes(data))


def _mutate_structure(blob: bytes, rng: np.random.Generator) -> bytes:
    kind = int(rng.integers(4))
    n = len(blob)
    if kind == 0:
        return blob[: int(rng.integers(n))]
    if kind == 1:
        return blob + bytes(int(rng.integers(1, 32)))
    if kind == 2:  # overwrite inside the index / footer region
        data = bytearray(blob)
        for _ in range(int(rng.integers(1, 4))):
            a = n - 1 - int(rng.integers(min(n, 256)))
            data[a] = int(rng.integers(256))
        return bytes(data)
    data = bytearray(blob)  # a raw flip anywhere (checksums must catch it)
    data[int(rng.integers(n))] ^= 1 << int(rng.integers(8))
    return bytes(data)


def mutate(blob: bytes, rng: np.random.Generator) -> bytes:
    """One structure-aware mutation of the valid container ``blob`` (see the module doc)."""
    roll = rng.random()
    if roll < 0.15:
        return _mutate_structure(blob, rng)
    parts = split(blob)
    if roll < 0.55:
        _mutate_header(parts, rng)
    else:
        _mutate_payload(parts, rng)
    return parts.assemble()


class _Timeout(Exception):
    pass


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    def fire(signum: int, frame: Any) -> None:
        raise _Timeout

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def classify(
    decode: Callable[[bytes], Any], blob: bytes, timeout_s: float = 5.0
) -> tuple[str, str]:
    """(outcome, detail) of decoding ``blob``: decoded, clean, crash or hang (main thread)."""
    try:
        with _time_limit(timeout_s):
            decode(blob)
    except _Timeout:
        return "hang", f"no result after {timeout_s:g} s"
    except RatecraftError as exc:
        return "clean", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    except Exception as exc:  # what the fuzz looks for: anything that is not a clean refusal
        return "crash", f"{type(exc).__name__}: {exc}"
    return "decoded", ""
