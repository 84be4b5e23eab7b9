"""The codec contract, the one decode path and the registry of codecs by name.

A codec turns a :class:`Recording` or :class:`FeatureTable` into an `.rcz` container and back.
Every codec — classical or trained — is config + fitted state and implements the same two
small methods on 2-D blocks (rows × frames, one chunk of the frame axis):
:meth:`Codec.encode_block` and :meth:`Codec.decode_block`, each handed a :class:`BlockContext`
(where the block sits, its byte budget under a ratio target, and a per-stream dict for state a
codec carries from one block to the next of the same encode). Nothing a block leaves behind
lives on the codec.

What decoding needs besides the payloads is either in the container header
(:meth:`Codec.stream_params`: a classical codec's fitted config) or in a trained model
(:meth:`Codec.model_state`: weights and tables), which the container names by content hash
(:meth:`Codec.model_sha256`). :func:`decode` is the one decode path for every codec: it checks
the codec and its version, finds the decoder (from the header, or the model it is handed, whose
hash must match), decodes only the chunks a frame range needs and checks every chunk's shape
and dtype. Saving and loading go through :mod:`ratecraft.codecs.store` for every codec.
"""

from __future__ import annotations

import io
import logging
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Self

import numpy as np
from pydantic import BaseModel, ConfigDict

from ratecraft.atomic import atomic_output
from ratecraft.bitstream.container import (
    ContainerHeader,
    ContainerReader,
    ContainerWriter,
    overhead_bytes,
)
from ratecraft.codecs import store
from ratecraft.codecs.budget import LOSSLESS, Budget
from ratecraft.codecs.ratecontrol import ChunkControl
from ratecraft.codecs.registry import (
    CODECS,
    available_codecs,
    codec_class,
    default_codecs,
    get_codec,
    register_codec,
)
from ratecraft.codecs.state import ModelState, sha256_json, tensors_sha256
from ratecraft.codecs.threads import chunk_workers, ordered_map
from ratecraft.config import validated
from ratecraft.data.sources import Facts, Source, as_source, data_of
from ratecraft.data.types import Data, Recording, as_block
from ratecraft.errors import BadInputError, CorruptStreamError
from ratecraft.jsonsafe import json_safe

__all__ = [
    "CODECS",
    "BlockContext",
    "BlockResult",
    "Codec",
    "CodecConfig",
    "EncodeStats",
    "ModelState",
    "available_codecs",
    "codec_class",
    "decode",
    "decode_blocks",
    "decode_file",
    "default_codecs",
    "get_codec",
    "header_for",
    "register_codec",
]

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SAMPLES = 1 << 21

Progress = Callable[[int, int], None]
"""Called after each chunk with (frames done, frames in all)."""

PathLike = str | os.PathLike[str]


class CodecConfig(BaseModel):
    """Base of every codec's configuration; round-trips through JSON/YAML."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class BlockContext:
    """What coding one block may know besides its samples.

    ``target_bytes`` is the block's share of the payload budget when the codec was fitted to a
    ratio (raw bytes / ratio less the container's own overhead, spread by frames), else None.
    ``stream`` is a dict shared by the blocks of one encode (or decode) call, for state a codec
    carries between them (e.g. the last step its per-block rate control chose).
    """

    index: int
    first_frame: int
    rows: int
    frames: int
    dtype: np.dtype
    sample_rate: float | None = None
    target_bytes: float | None = None
    stream: dict[str, Any] = field(default_factory=dict)
    codec_version: int = 1  # the payload version: the codec's own on encode, the file's on decode
    knob: float | None = None  # encode: this chunk's value of the codec's chunk knob (None: config)

    @classmethod
    def of(cls, rows: int, frames: int, dtype: Any, **fields: Any) -> BlockContext:
        """A context for one block on its own (chunk 0 of a stream), e.g. to test a codec."""
        return cls(0, 0, rows, frames, np.dtype(dtype), **fields)


@dataclass
class BlockResult:
    """One encoded chunk: its bytes, −Σlog2 p of its symbols (modelled codecs) and anything
    the codec reports about it (e.g. the step its rate control chose), kept in the stats."""

    payload: bytes
    estimated_bits: float | None = None
    info: dict[str, Any] | None = None


@dataclass
class EncodeStats:
    """Real and estimated size of one encode call. A *sample* is one stored value (channels ×
    time, or samples × features), so bits per sample mean the same for every kind of data."""

    raw_bytes: int
    container_bytes: int
    payload_bytes: int
    estimated_bits: float | None
    n_samples: int
    seconds: float
    blocks: list[dict[str, Any]] = field(default_factory=list)

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


def header_for(codec: Codec, data: Data | Source) -> ContainerHeader:
    """The container header ``codec`` writes for ``data`` (all the data's metadata included)."""
    source = as_source(data)
    f = source.facts
    rows = source.rows
    common: dict[str, Any] = dict(
        codec=codec.name,
        codec_version=codec.version,
        shape=(rows, source.frames),
        dtype=source.dtype.name,
        chunk_frames=codec.chunk_frames(rows),
        codec_params=json_safe(codec.stream_params()),
        model_sha256=codec.model_sha256(),
        meta=json_safe(f.meta),
    )
    if f.kind == "recording":
        pos = f.channel_positions
        names = f.channel_names or [f"ch{i}" for i in range(rows)]
        return ContainerHeader(
            kind="recording",
            sample_rate=float(f.sample_rate or 1.0),
            uv_per_step=float(f.uv_per_step),
            units=f.units,
            channel_names=list(names),
            channel_positions=None if pos is None else [[float(v) for v in p] for p in pos],
            **common,
        )
    return ContainerHeader(
        kind="table",
        feature_names=list(f.feature_names or [f"f{i}" for i in range(rows)]),
        families=list(f.families) if f.families is not None else None,
        **common,
    )


def data_from_block(header: ContainerHeader, block: np.ndarray) -> Data:
    """A Recording or FeatureTable holding ``block`` with every field the header keeps."""
    facts = header_facts(header)
    if facts.sample_rate is None:
        facts.sample_rate = 1.0
    return data_of(block, facts)


class Codec(ABC):
    """A named, versioned codec. Subclasses set ``name``, ``version`` and ``config_cls``.

    ``version`` is the version of the payloads it writes (decoders refuse newer ones);
    ``config_version`` the version of what it saves in ``codec.json`` (the store migrates older
    ones through :meth:`migrate_config` or refuses them). ``kinds``, ``supports_lossy``,
    ``budgets`` (the budget modes :meth:`fit` accepts: ``lossless``, ``ratio``, ``max_error``)
    and ``learned`` describe the codec for listings; nothing in the coding path branches on them.
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    # decode_block releases the GIL for most of its work and keeps no state between chunks:
    # a multi-chunk decode may run it on several threads (see decode_blocks)
    parallel_decode: ClassVar[bool] = False
    # likewise encode_block, once the chunk knob is fixed (no running rate control): a
    # multi-chunk encode may run it on several threads (see encode_to)
    parallel_encode: ClassVar[bool] = False
    config_version: ClassVar[int] = 1
    config_cls: ClassVar[type[CodecConfig]] = CodecConfig
    kinds: ClassVar[tuple[str, ...]] = ("recording", "table")
    supports_lossy: ClassVar[bool] = False
    budgets: ClassVar[tuple[str, ...]] = ("lossless",)
    learned: ClassVar[bool] = False  # descriptive: fit() trains a model the decoder needs
    trains_on_sets: ClassVar[bool] = False  # fit() takes a RecordingSet (many recordings on disk)
    tensor_framework: ClassVar[str] = "np"  # how the store reads its tensors: "np" or "pt"
    # the config field a ratio target may adjust between chunks of one encode (each chunk
    # then stores the value it used): how a long recording holds its target while streaming
    chunk_knob: ClassVar[str | None] = None

    def __init__(self, config: CodecConfig | dict[str, Any] | None = None, **overrides: Any):
        if config is None:
            config = {}
        if isinstance(config, CodecConfig):
            config = config.model_dump()
        if not isinstance(config, dict):
            raise BadInputError(f"invalid {self.name} config: expected a mapping")
        self.config = validated(
            self.config_cls, {**config, **overrides}, f"invalid {self.name} config"
        )
        self.budget: Budget = LOSSLESS
        self.fit_report: dict[str, Any] = {}
        self.fitted_samples = 0  # values the knobs were fitted on (a longer input streams under
        # the running rate control); 0: not fitted here
        # a model loaded from a ratecraft 0.1 folder: the header parameters its files carry
        self.legacy_stream_params: dict[str, Any] | None = None

    # ---- what subclasses implement -------------------------------------------------------
    @abstractmethod
    def encode_block(self, block: np.ndarray, ctx: BlockContext) -> BlockResult:
        """Code one chunk (rows × frames) of the data."""

    @abstractmethod
    def decode_block(self, payload: memoryview, ctx: BlockContext) -> np.ndarray:
        """Rebuild one chunk (``ctx.rows × ctx.frames`` of ``ctx.dtype``); must check every size
        it reads from ``payload``."""

    def stream_params(self) -> dict[str, Any]:
        """Parameters the decoder needs besides a trained model, stored in the header."""
        return {"config": self.config.model_dump(mode="json")}

    @classmethod
    def from_stream_params(cls, params: dict[str, Any]) -> Self:
        """The decoder of a container that names no model, from its header parameters."""
        config = params.get("config")
        if not isinstance(config, dict):
            keys = ", ".join(f"{k}={str(v)[:16]}" for k, v in sorted(params.items()))
            raise BadInputError(
                f"a {cls.name} container needs the trained model that wrote it "
                f"({keys or 'no parameters'}): pass --model MODEL_DIR"
            )
        try:
            return cls(config)
        except BadInputError as exc:
            raise CorruptStreamError(f"bad codec parameters in header: {exc}") from None

    def model_state(self) -> ModelState | None:
        """What a trained codec learned (None: nothing beyond its config)."""
        return None

    def load_model_state(self, state: ModelState) -> None:
        """Restore what :meth:`model_state` returned (the store checks hashes first)."""
        raise BadInputError(f"{self.name} has no trained state to load")

    @classmethod
    def migrate_config(cls, doc: dict[str, Any], from_version: int) -> dict[str, Any]:
        """``codec.json``'s ``config`` and ``state`` of an older ``config_version`` brought up
        to date (default: none can be)."""
        raise BadInputError(
            f"{cls.name} model saved with config version {from_version}; this ratecraft reads "
            f"version {cls.config_version} and cannot migrate it: refit the model"
        )

    @classmethod
    def migrate_legacy(cls, doc: dict[str, Any], directory: Path) -> ModelState | None:
        """The state of a ratecraft 0.1 model folder (no store version); default: none."""
        return None

    def check_input(self, data: Data) -> None:
        """Raise BadInputError for data this codec cannot take (override to add checks)."""
        kind = "recording" if isinstance(data, Recording) else "table"
        if kind not in self.kinds:
            raise BadInputError(f"{self.name} codes {' and '.join(self.kinds)}s, not {kind}s")
        if self.budget.lossless or not self.supports_lossy:
            block = as_block(data)
            if block.dtype.kind == "f" and not np.isfinite(block).all():
                raise BadInputError(f"{self.name}: input contains NaN or infinite values")

    def chunk_frames(self, rows: int) -> int:
        """Frames per container chunk for data of ``rows`` rows (about 2 M samples a chunk), a
        multiple of 256 frames: whole context blocks, so a chunk's residuals regroup by
        block instead of sample by sample (384 channels: 5,376 frames, not 5,461)."""
        return max(1024, DEFAULT_CHUNK_SAMPLES // max(rows, 1) // 256 * 256)

    def _set(self, **changes: Any) -> None:
        """Replace config fields (rate control sets the knob it searched)."""
        self.config = self.config.model_copy(update=changes)

    # ---- identity ------------------------------------------------------------------------
    def model_sha256(self) -> str | None:
        """Content hash of the trained model a container needs (None: it needs none): the
        codec, its config and its state — weights and JSON alike."""
        state = self.model_state()
        if state is None:
            return None
        return sha256_json(
            {
                "codec": self.name,
                "config_version": self.config_version,
                "config": self.config.model_dump(mode="json"),
                "state": state.doc,
                "tensors": tensors_sha256(state.tensors),
            }
        )

    # ---- the contract ---------------------------------------------------------------------
    def fit(
        self,
        data: Data,
        budget: Budget | None = None,
        *,
        train_dir: PathLike | None = None,
        resume: bool = False,
    ) -> Self:
        """Adapt to ``data`` under ``budget``: rate control, and training for trained codecs
        (``train_dir`` keeps their checkpoints and metrics; ``resume`` continues from them;
        codecs that do not train ignore both)."""
        budget = budget or LOSSLESS
        if not budget.lossless and not self.supports_lossy:
            raise BadInputError(
                f"codec {self.name!r} is lossless only; it cannot meet {budget.describe()}"
            )
        self.budget = budget
        self.fitted_samples = int(as_block(data).size)  # before: the search encodes this data
        self.fit_knobs(data)
        return self

    def fit_knobs(self, data: Data) -> None:  # noqa: B027  (a hook: most codecs have no knob)
        """Set the config's knobs for ``self.budget`` on ``data`` (rate control; by default
        there is none): what a codec that does not train overrides instead of :meth:`fit`."""

    def encode_to(
        self,
        data: Data | Source,
        stream: BinaryIO,
        progress: Progress | None = None,
        workers: int | None = None,
    ) -> EncodeStats:
        """Write the container of ``data`` (in memory, or a chunked source read one chunk at a
        time) to ``stream`` chunk by chunk: memory stays a few chunks whatever the length.

        Codecs that declare ``parallel_encode`` code up to ``workers`` chunks at once on threads
        (default: the CPUs this process may use, at most
        :data:`~ratecraft.codecs.threads.MAX_CHUNK_WORKERS`) unless a running rate control
        makes each chunk depend on the ones before; reads and writes stay on this thread and
        the container is the same byte for byte."""
        source = as_source(data)
        start = time.perf_counter()
        header = header_for(self, source)
        writer = ContainerWriter(stream, header)
        rows, frames, dtype = source.rows, source.frames, source.dtype
        targets = self._block_targets(header, source.nbytes)
        control = self._chunk_control(targets, rows * frames)
        est: float | None = 0.0
        payload_bytes = 0
        shared: dict[str, Any] = {}
        infos: list[dict[str, Any]] = []

        def blocks() -> Iterator[tuple[BlockContext, np.ndarray]]:
            for i in range(header.n_chunks):
                first, n = header.chunk_span(i)
                block = source.read(first, first + n)
                self.check_input(data_of(block, source.facts))
                ctx = BlockContext(
                    i, first, rows, n, dtype, header.sample_rate, targets[i], shared, self.version
                )
                if control is not None:
                    ctx.knob = control.knob
                yield ctx, block

        def one(item: tuple[BlockContext, np.ndarray]) -> tuple[BlockContext, BlockResult]:
            ctx, block = item
            return ctx, self.encode_block(block, ctx)

        n_workers = chunk_workers() if workers is None else max(1, workers)
        threaded = self.parallel_encode and control is None and n_workers > 1
        results: Iterator[tuple[BlockContext, BlockResult]] = (
            ordered_map(one, blocks(), n_workers)
            if threaded and header.n_chunks > 1
            else map(one, blocks())
        )
        for ctx, res in results:
            first, n = ctx.first_frame, ctx.frames
            writer.add_chunk(res.payload, n)
            if control is not None:
                after = header.chunk_span(ctx.index + 1)[1]
                control.update(len(res.payload), rows * n, rows * after)
                res.info = {**(res.info or {}), str(self.chunk_knob): ctx.knob}
            payload_bytes += len(res.payload)
            est = None if (est is None or res.estimated_bits is None) else est + res.estimated_bits
            if res.info:
                infos.append(res.info)
            if progress is not None:
                progress(first + n, frames)
        if not header.n_chunks:
            self.check_input(data_of(source.read(0, 0), source.facts))
        writer.close()
        return EncodeStats(
            raw_bytes=source.nbytes,
            container_bytes=writer.bytes_written,
            payload_bytes=payload_bytes,
            estimated_bits=est if rows * frames else None,
            n_samples=rows * frames,
            seconds=time.perf_counter() - start,
            blocks=infos,
        )

    def _chunk_control(self, targets: list[float | None], samples: int) -> ChunkControl | None:
        """The running rate control of a ratio target when the knob was fitted on less than
        the data being encoded (None: the fitted knob serves every chunk)."""
        if self.chunk_knob is None or len(targets) < 2 or targets[0] is None:
            return None
        if samples <= self.fitted_samples:
            return None
        value = float(getattr(self.config, self.chunk_knob))
        knob = self.config_cls.model_fields[self.chunk_knob]
        integer = knob.annotation is int
        return ChunkControl(value, [t for t in targets if t is not None], integer=integer)

    def chunk_value(self, ctx: BlockContext) -> float:
        """The chunk knob's value for the block being encoded."""
        assert self.chunk_knob is not None
        return ctx.knob if ctx.knob is not None else float(getattr(self.config, self.chunk_knob))

    def _block_targets(self, header: ContainerHeader, raw_bytes: int) -> list[float | None]:
        """Each chunk's payload budget under a ratio target (the container's overhead first)."""
        if self.budget.ratio is None or not header.frames:
            return [None] * header.n_chunks
        total = raw_bytes / self.budget.ratio - overhead_bytes(header)
        return [total * header.chunk_span(i)[1] / header.frames for i in range(header.n_chunks)]

    def encode_with_stats(
        self, data: Data | Source, progress: Progress | None = None
    ) -> tuple[bytes, EncodeStats]:
        buf = io.BytesIO()
        stats = self.encode_to(data, buf, progress)
        return buf.getvalue(), stats

    def encode(self, data: Data | Source) -> bytes:
        return self.encode_with_stats(data)[0]

    def encode_to_file(
        self, data: Data | Source, path: PathLike, progress: Progress | None = None
    ) -> EncodeStats:
        """Stream the container into ``path`` (all or nothing: a temp file, then a rename)."""
        with atomic_output(path) as tmp, open(tmp, "wb") as fh:
            stats = self.encode_to(data, fh, progress)
            fh.flush()
            os.fsync(fh.fileno())
        return stats

    def decode(
        self,
        source: bytes | memoryview | PathLike,
        *,
        start: int | None = None,
        stop: int | None = None,
    ) -> Data:
        """:func:`decode` with this codec as the model (when it is a trained one)."""
        return decode(
            source, self if self.model_state() is not None else None, start=start, stop=stop
        )

    def save(self, directory: PathLike) -> None:
        """Write this codec to ``directory`` (:func:`ratecraft.codecs.store.save`)."""
        store.save(self, directory)

    @classmethod
    def load(cls, directory: PathLike) -> Codec:
        """A codec saved with :meth:`save` (:func:`ratecraft.codecs.store.load`)."""
        return store.load(directory, expect=None if cls is Codec else cls)


# ---- the one decode path -----------------------------------------------------------------------


def _model_label(model: Codec, given: Any) -> str:
    where = f" in {given}" if isinstance(given, str | os.PathLike) else ""
    have = model.model_sha256()
    return f"the {model.name} model{where} ({'no trained state' if have is None else have[:16]})"


def decoder_for(header: ContainerHeader, model: Codec | PathLike | None) -> Codec:
    """The codec that decodes a container with ``header``: built from its parameters, or the
    trained ``model`` (a codec or its folder) whose content hash the header names."""
    cls = codec_class(header.codec)
    if header.codec_version > cls.version:
        raise CorruptStreamError(
            f"codec {header.codec!r} version {header.codec_version} is newer than this "
            f"ratecraft supports ({cls.version}); upgrade ratecraft"
        )
    given = model
    if model is not None and not isinstance(model, Codec):
        model = Codec.load(model)
    need = header.model_sha256
    if need is not None:
        if model is None:
            raise BadInputError(
                f"this {header.codec} file needs its trained model sha256:{need[:16]}…; "
                "pass --model MODEL_DIR (Python: decode(path, model=...))"
            )
        if model.name != header.codec or model.model_sha256() != need:
            raise BadInputError(
                f"this file needs {header.codec} model sha256:{need[:16]}…, not "
                f"{_model_label(model, given)}"
            )
        if json_safe(model.stream_params()) != header.codec_params:
            raise CorruptStreamError("header parameters do not match the model that wrote them")
        return model
    if model is not None:
        legacy = model.legacy_stream_params
        if model.name == header.codec and legacy is not None and legacy == header.codec_params:
            return model
        if isinstance(header.codec_params.get("config"), dict):
            log.warning("this %s file needs no model; ignoring %s", header.codec, given)
        else:
            raise BadInputError(
                f"this {header.codec} file was written by another model than "
                f"{_model_label(model, given)}"
            )
    return cls.from_stream_params(header.codec_params)


def frame_range(header: ContainerHeader, start: int | None, stop: int | None) -> tuple[int, int]:
    """``start:stop`` as frame indices within the data (Python slice rules, no step)."""
    frames = header.frames
    a, b, _ = slice(start, stop).indices(frames)
    return a, max(a, b)


def decode(
    source: bytes | bytearray | memoryview | PathLike | ContainerReader,
    model: Codec | PathLike | None = None,
    *,
    start: int | None = None,
    stop: int | None = None,
    progress: Progress | None = None,
) -> Data:
    """Decode a container (bytes, a path or an open reader) made by any registered codec.

    ``model`` is the trained model the container names (a codec or its folder), when it names
    one. ``start``/``stop`` select frames (time samples of a recording, rows of a table); only
    the chunks that hold them are read. Every chunk is checked (checksum, shape, dtype).
    """
    if isinstance(source, ContainerReader):
        return _decode_reader(source, model, start, stop, progress)
    with ContainerReader(source) as reader:
        return _decode_reader(reader, model, start, stop, progress)


def _decode_reader(
    reader: ContainerReader,
    model: Codec | PathLike | None,
    start: int | None,
    stop: int | None,
    progress: Progress | None,
) -> Data:
    header = reader.header
    a, b = frame_range(header, start, stop)
    out = np.empty((header.rows, b - a), dtype=np.dtype(header.dtype))
    for first, part in decode_blocks(reader, model, start=a, stop=b, progress=progress):
        out[:, first - a : first - a + part.shape[1]] = part
    return data_from_block(header, out)


def decode_blocks(
    reader: ContainerReader,
    model: Codec | PathLike | None = None,
    *,
    start: int | None = None,
    stop: int | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """``(first frame, block)`` of frames ``start:stop`` of a container, chunk by chunk (for
    streaming into a sink: at most ``workers + 1`` chunks in memory at a time). Only the chunks
    holding the range are read, and every chunk is checked (checksum, shape, dtype).

    Codecs whose decode releases the GIL (``parallel_decode``) decode up to ``workers`` chunks
    at once on threads (default: the CPUs this process may use, at most
    :data:`~ratecraft.codecs.threads.MAX_CHUNK_WORKERS`); blocks still come out in order."""
    header = reader.header
    codec = decoder_for(header, model)
    a, b = frame_range(header, start, stop)
    dtype = np.dtype(header.dtype)
    rows = header.rows
    shared: dict[str, Any] = {}

    def one(item: tuple[int, memoryview]) -> tuple[int, np.ndarray]:
        i, payload = item
        entry = reader.entries[i]
        ctx = BlockContext(
            i,
            entry.first_frame,
            rows,
            entry.frames,
            dtype,
            header.sample_rate,
            None,
            shared,
            header.codec_version,
        )
        part = codec.decode_block(payload, ctx)
        if (
            not isinstance(part, np.ndarray)
            or part.shape != (rows, entry.frames)
            or part.dtype != dtype
        ):
            got = (getattr(part, "shape", None), getattr(part, "dtype", None))
            raise CorruptStreamError(
                f"chunk decoded to {got[0]} {got[1]}, expected ({rows}, {entry.frames}) {dtype}"
            )
        lo, hi = max(a, entry.first_frame), min(b, entry.first_frame + entry.frames)
        return lo, part[:, lo - entry.first_frame : hi - entry.first_frame]

    chunks = reader.chunk_range(a, b)
    read = ((i, reader.payload(i)) for i in chunks)  # on this thread: reads and checksums
    n = chunk_workers() if workers is None else max(1, workers)
    if not codec.parallel_decode or n == 1 or len(chunks) < 2:
        parts: Iterator[tuple[int, np.ndarray]] = map(one, read)
    else:
        parts = ordered_map(one, read, n)
    for lo, part in parts:
        yield lo, part
        if progress is not None:
            progress(lo + part.shape[1] - a, b - a)


def header_facts(header: ContainerHeader) -> Facts:
    """What a container's header says about its data besides the samples."""
    pos = header.channel_positions
    return Facts(
        header.kind,
        sample_rate=header.sample_rate,
        uv_per_step=header.uv_per_step or 1.0,
        units=header.units or "uV",
        channel_names=header.channel_names,
        channel_positions=None if pos is None else np.asarray(pos, np.float64),
        feature_names=header.feature_names,
        families=header.families,
        meta=dict(header.meta),
    )


def decode_file(path: PathLike, model: Codec | PathLike | None = None) -> Data:
    return decode(Path(path), model)
