"""The codec contract, shared container handling and the registry of codecs by name.

A codec turns a :class:`Recording` or :class:`FeatureTable` into an `.rcz` container and back.
Subclasses implement two small methods on 2-D blocks (rows × frames, one chunk of the frame
axis): :meth:`Codec.encode_block` and :meth:`Codec.decode_block`. Everything a decoder needs
beyond the payloads lives in :meth:`Codec.stream_params`, which is written into the header and
handed back to :meth:`Codec.from_stream_params` when decoding.
"""

from __future__ import annotations

import io
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from ratecraft.atomic import atomic_write
from ratecraft.bitstream.container import (
    ContainerHeader,
    ContainerWriter,
    iter_chunks,
    read_header,
)
from ratecraft.codecs.budget import LOSSLESS, Budget
from ratecraft.data.types import Data, FeatureTable, Recording
from ratecraft.errors import BadInputError, CorruptStreamError, UnknownCodecError

DEFAULT_CHUNK_SAMPLES = 1 << 21

Progress = Callable[[int, int], None]
"""Called after each chunk with (frames done, frames in all)."""


class CodecConfig(BaseModel):
    """Base of every codec's configuration; round-trips through JSON/YAML."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class BlockResult:
    """One encoded chunk: its bytes and, for modelled codecs, −Σlog2 p of its symbols."""

    payload: bytes
    estimated_bits: float | None = None


@dataclass
class EncodeStats:
    """Real and estimated size of one encode call."""

    raw_bytes: int
    container_bytes: int
    payload_bytes: int
    estimated_bits: float | None
    n_samples: int
    seconds: float

    @property
    def ratio(self) -> float:
        return self.raw_bytes / self.container_bytes

    @property
    def bits_per_sample(self) -> float:
        return 8.0 * self.container_bytes / max(self.n_samples, 1)

    @property
    def estimated_bits_per_sample(self) -> float | None:
        if self.estimated_bits is None:
            return None
        return self.estimated_bits / max(self.n_samples, 1)


def as_block(data: Data) -> np.ndarray:
    """The 2-D rows × frames view codecs work on (a table's features become rows)."""
    return data.samples if isinstance(data, Recording) else data.values.T


def _header_for(codec: Codec, data: Data, chunk_frames: int) -> ContainerHeader:
    block = as_block(data)
    common: dict[str, Any] = dict(
        codec=codec.name,
        codec_version=codec.version,
        shape=tuple(int(s) for s in block.shape),
        dtype=block.dtype.name,
        chunk_frames=chunk_frames,
        codec_params=codec.stream_params(),
    )
    if isinstance(data, Recording):
        return ContainerHeader(
            kind="recording",
            sample_rate=float(data.sample_rate),
            uv_per_step=float(data.uv_per_step),
            channel_names=list(data.channel_names or []),
            **common,
        )
    return ContainerHeader(
        kind="table",
        feature_names=list(data.feature_names or []),
        families=list(data.families) if data.families is not None else None,
        **common,
    )


def excerpt(data: Data, max_samples: int) -> Data:
    """A contiguous stretch of ``data`` (from the middle) holding at most ``max_samples`` values,
    or ``data`` itself when it is that small: rate searches run on it before checking the whole."""
    block = as_block(data)
    rows, frames = block.shape
    keep = max(1, max_samples // max(rows, 1))
    if frames <= keep:
        return data
    start = (frames - keep) // 2
    if isinstance(data, Recording):
        return data.slice_time(start, start + keep)
    return FeatureTable(
        values=data.values[start : start + keep],
        feature_names=data.feature_names,
        families=data.families,
    )


class Codec(ABC):
    """A named, versioned codec. Subclasses set ``name``, ``version`` and ``config_cls``."""

    name: ClassVar[str]
    version: ClassVar[int] = 1
    config_cls: ClassVar[type[CodecConfig]] = CodecConfig
    supports_lossy: ClassVar[bool] = False
    learned: ClassVar[bool] = False  # trains a model on data in fit(); decoding needs that model

    def __init__(self, config: CodecConfig | dict[str, Any] | None = None, **overrides: Any):
        if config is None:
            config = {}
        if isinstance(config, CodecConfig):
            config = config.model_dump()
        try:
            self.config = self.config_cls.model_validate({**config, **overrides})
        except ValidationError as exc:
            raise BadInputError(f"invalid {self.name} config: {_first_error(exc)}") from None
        self.budget: Budget = LOSSLESS

    # ---- what subclasses implement -------------------------------------------------------
    @abstractmethod
    def encode_block(self, block: np.ndarray) -> BlockResult:
        """Code one chunk (rows × frames) of the data."""

    @abstractmethod
    def decode_block(
        self, payload: memoryview, rows: int, frames: int, dtype: np.dtype
    ) -> np.ndarray:
        """Rebuild one chunk; must check every size it reads from ``payload``."""

    def stream_params(self) -> dict[str, Any]:
        """Parameters the decoder needs, stored in the container header."""
        return {"config": self.config.model_dump(mode="json")}

    @classmethod
    def from_stream_params(cls, params: dict[str, Any]) -> Self:
        if cls.learned:  # its header names the weights; the weights themselves are not in it
            raise BadInputError(
                f"a {cls.name} container needs its trained model: pass --model MODEL_DIR "
                "(Python: Codec.load(model_dir).decode(blob))"
            )
        try:
            return cls(params.get("config", {}))
        except BadInputError as exc:
            raise CorruptStreamError(f"bad codec parameters in header: {exc}") from None

    def check_input(self, data: Data) -> None:
        """Raise BadInputError for data this codec cannot take (override to add checks)."""
        if self.budget.lossless or not self.supports_lossy:
            block = as_block(data)
            if block.dtype.kind == "f" and not np.isfinite(block).all():
                raise BadInputError(f"{self.name}: input contains NaN or infinite values")

    def chunk_frames(self, data: Data) -> int:
        rows = max(as_block(data).shape[0], 1)
        return max(1024, DEFAULT_CHUNK_SAMPLES // rows)

    def _set(self, **changes: Any) -> None:
        """Replace config fields (rate control sets the knob it searched)."""
        self.config = self.config.model_copy(update=changes)

    # ---- the contract ---------------------------------------------------------------------
    def fit(self, data: Data, budget: Budget | None = None) -> Self:
        """Adapt to ``data`` under ``budget`` (rate control for classical codecs)."""
        budget = budget or LOSSLESS
        if not budget.lossless and not self.supports_lossy:
            raise BadInputError(
                f"codec {self.name!r} is lossless only; it cannot meet {budget.describe()}"
            )
        self.budget = budget
        return self

    def encode_with_stats(
        self, data: Data, progress: Progress | None = None
    ) -> tuple[bytes, EncodeStats]:
        self.check_input(data)
        block = as_block(data)
        start = time.perf_counter()
        step = self.chunk_frames(data)
        header = _header_for(self, data, step)
        buf = io.BytesIO()
        writer = ContainerWriter(buf, header)
        est: float | None = 0.0
        payload_bytes = 0
        for s in range(0, block.shape[1], step):
            part = np.ascontiguousarray(block[:, s : s + step])
            res = self.encode_block(part)
            writer.add_chunk(res.payload, part.shape[1])
            payload_bytes += len(res.payload)
            est = None if (est is None or res.estimated_bits is None) else est + res.estimated_bits
            if progress is not None:
                progress(s + part.shape[1], block.shape[1])
        writer.close()
        out = buf.getvalue()
        stats = EncodeStats(
            raw_bytes=int(block.nbytes),
            container_bytes=len(out),
            payload_bytes=payload_bytes,
            estimated_bits=est if block.size else None,
            n_samples=int(block.size),
            seconds=time.perf_counter() - start,
        )
        return out, stats

    def encode(self, data: Data) -> bytes:
        return self.encode_with_stats(data)[0]

    def encode_to_file(self, data: Data, path: str | Path) -> EncodeStats:
        blob, stats = self.encode_with_stats(data)
        atomic_write(path, blob)
        return stats

    def decode(self, blob: bytes | memoryview) -> Data:
        return decode(blob)

    def own_header(self, blob: bytes | memoryview, kind: str) -> ContainerHeader:
        """The header of ``blob`` once it is known to hold ``kind`` data written by this codec
        (a trained codec's own decode then checks the weights it names)."""
        header, _ = read_header(blob)
        if header.codec != self.name or header.kind != kind:
            raise BadInputError(f"container holds {header.codec!r} {header.kind}, not {self.name}")
        return header

    def save(self, directory: str | Path) -> None:
        """Write ``codec.json`` (name, version, config, budget) into ``directory``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        doc = {
            "codec": self.name,
            "version": self.version,
            "config": self.config.model_dump(mode="json"),
            "budget": self.budget.model_dump(mode="json"),
        }
        atomic_write(out / "codec.json", json.dumps(doc, indent=2).encode())

    @classmethod
    def load(cls, directory: str | Path) -> Codec:
        path = Path(directory) / "codec.json"
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise BadInputError(f"{path}: cannot read codec description ({exc})") from None
        target = codec_class(str(doc.get("codec")))
        if target.load.__func__ is not Codec.load.__func__:  # its own checkpoint format
            return target.load(directory)
        codec = target(doc.get("config", {}))
        codec.budget = Budget.model_validate(doc.get("budget", {"lossless": True}))
        return codec


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ()))
    return f"{loc}: {err.get('msg')}" if loc else str(err.get("msg"))


_REGISTRY: dict[str, type[Codec]] = {}


def register_codec(name: str) -> Callable[[type[Codec]], type[Codec]]:
    """Class decorator that registers a codec under ``name``."""

    def deco(cls: type[Codec]) -> type[Codec]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"codec {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def available_codecs(learned: bool | None = None) -> list[str]:
    """Registered codec names; ``learned`` keeps only learned (True) or only classical (False)."""
    _load_builtin()
    return sorted(n for n, c in _REGISTRY.items() if learned is None or c.learned == learned)


def codec_class(name: str) -> type[Codec]:
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownCodecError(
            f"unknown codec {name!r}; available: {', '.join(sorted(_REGISTRY))}"
        ) from None


def get_codec(name: str, config: CodecConfig | dict[str, Any] | None = None, **kw: Any) -> Codec:
    """An instance of the codec registered as ``name``."""
    return codec_class(name)(config, **kw)


def _load_builtin() -> None:
    import ratecraft.codecs.classical  # noqa: F401  (registers on import)
    from ratecraft.codecs import learned  # noqa: F401  (registers on import)


def decode(blob: bytes | memoryview, progress: Progress | None = None) -> Data:
    """Decode any `.rcz` container produced by a registered codec."""
    header, _ = read_header(blob)
    cls = codec_class(header.codec)
    if header.codec_version > cls.version:
        raise CorruptStreamError(
            f"codec {header.codec!r} version {header.codec_version} is newer than this "
            f"ratecraft supports ({cls.version}); upgrade ratecraft"
        )
    codec = cls.from_stream_params(header.codec_params)
    try:
        dtype = np.dtype(header.dtype)
    except TypeError:
        raise CorruptStreamError(f"unknown dtype {header.dtype!r} in header") from None
    rows = header.shape[0]
    parts = []
    for frames, payload in iter_chunks(blob):
        part = codec.decode_block(payload, rows, frames, dtype)
        if part.shape != (rows, frames) or part.dtype != dtype:
            raise CorruptStreamError(
                f"chunk decoded to {part.shape} {part.dtype}, expected ({rows}, {frames}) {dtype}"
            )
        parts.append(part)
        if progress is not None:
            progress(sum(p.shape[1] for p in parts), header.shape[1])
    block = np.concatenate(parts, axis=1) if parts else np.zeros(header.shape, dtype=dtype)
    if header.kind == "recording":
        return Recording(
            samples=block,
            sample_rate=header.sample_rate or 1.0,
            uv_per_step=header.uv_per_step or 1.0,
            channel_names=header.channel_names,
        )
    return FeatureTable(
        values=block.T.copy(), feature_names=header.feature_names, families=header.families
    )


def decode_file(path: str | Path) -> Data:
    try:
        blob = Path(path).read_bytes()
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror})") from None
    return decode(blob)
