"""`sz3`: the error-bounded scientific compressor SZ3 (via ``numcodecs-wasm-sz3``) in our container.

Each chunk is coded by SZ3 in absolute-error mode, one 1-D stream per row (``layout="rows"``,
the default: electrodes are only loosely correlated and SZ3's 2-D predictors do worse on them)
or one 2-D field (``layout="block"``). The SZ3 bytes are stored as sections of the chunk
payload behind a CRC-32 of each stream, so damage is caught before SZ3 parses anything.

The bound is *verified*: the encoder decodes every stream it writes and checks
``|x̂ − x| ≤ error_bound`` (bit-exactness for ``error_bound=0``); a stream that misses it is
re-coded with a halved bound, and finally losslessly. So ``Budget(max_error=E)`` holds for any
data, and a lossless budget (``error_bound=0``) is bit-exact. ``Budget(ratio=R)`` searches the
smallest error bound whose real container meets R.

SZ3 is an optional dependency: ``pip install "ratecraft[baselines]"``.
"""

from __future__ import annotations

import logging
import struct
import zlib
from functools import cache, lru_cache
from typing import Any, Literal

import numpy as np
from pydantic import Field

from ratecraft.bitstream.sections import MAX_SECTIONS, array_from, pack_sections, unpack_sections
from ratecraft.codecs.base import (
    BlockContext,
    BlockResult,
    Codec,
    CodecConfig,
    register_codec,
)
from ratecraft.codecs.classical.wavelet import finite_float_check, robust_scale, step_knob
from ratecraft.codecs.ratecontrol import fit_ratio
from ratecraft.data.types import Data, as_block
from ratecraft.errors import BadInputError, CorruptStreamError, MissingExtraError

log = logging.getLogger(__name__)

Predictor = Literal[
    "interpolation-lorenzo",
    "interpolation",
    "lorenzo",
    "lorenzo2",
    "lorenzo-regression",
    "lorenzo2-regression",
    "lorenzo-lorenzo2",
    "regression",
]
_HEAD = struct.Struct("<I")
_RETRIES = 3


@cache
def _sz3_class() -> type:
    try:
        from numcodecs_wasm_sz3 import Sz3
    except ImportError:
        raise MissingExtraError("numcodecs-wasm-sz3", "baselines") from None
    return Sz3


@lru_cache(maxsize=64)
def _sz3(bound: float, predictor: str) -> Any:
    """An SZ3 codec instance; creating one starts a WebAssembly module, so reuse them."""
    return _sz3_class()(eb_mode="abs", eb_abs=bound, predictor=predictor)


class Sz3Config(CodecConfig):
    error_bound: float = Field(1.0, ge=0.0, description="absolute error bound in sample units")
    predictor: Predictor = Field("interpolation-lorenzo", description="SZ3's predictor")
    layout: Literal["rows", "block"] = Field(
        "rows", description="one 1-D SZ3 stream per row, or one 2-D field per chunk"
    )


@register_codec("sz3")
class Sz3Codec(Codec):
    """SZ3 (absolute error bound, verified on encode) inside an `.rcz` container."""

    config_cls = Sz3Config
    config: Sz3Config
    supports_lossy = True
    budgets = ("lossless", "ratio", "max_error")

    def check_input(self, data: Data) -> None:
        block = as_block(data)
        finite_float_check(block, self.name)
        if self.config.layout == "rows" and block.shape[0] >= MAX_SECTIONS - 1:
            raise BadInputError(f"sz3: too many rows ({block.shape[0]}) for layout='rows'")

    def fit_knobs(self, data: Data) -> None:
        _sz3_class()
        self.check_input(data)
        b = self.budget
        if b.lossless:
            self._set(error_bound=0.0)
        elif b.max_error is not None:
            self._set(error_bound=float(b.max_error))
        else:
            assert b.ratio is not None
            scale = robust_scale(as_block(data))
            knob = step_knob(scale)
            fit_ratio(self, data, b.ratio, lambda e: self._set(error_bound=e), knob, start=scale)
        log.info("sz3: %s -> error bound %.4g", b.describe(), self.config.error_bound)

    # ---- blocks ---------------------------------------------------------------------------
    def _code(self, x: np.ndarray) -> bytes:
        """One SZ3 stream of ``x`` whose decode is verified to meet the error bound."""
        eb = self.config.error_bound
        for attempt in range(_RETRIES + 1):
            bound = 0.0 if attempt == _RETRIES else eb / 2.0**attempt
            codec = _sz3(bound, self.config.predictor)
            blob = np.asarray(codec.encode(x)).tobytes()
            back = np.asarray(codec.decode(np.frombuffer(blob, dtype=np.uint8)))
            if back.dtype == x.dtype and back.size == x.size:
                back = back.reshape(x.shape)
                if eb == 0.0:
                    if back.tobytes() == x.tobytes():
                        return blob
                elif np.all(np.abs(back.astype(np.float64) - x.astype(np.float64)) <= eb):
                    return blob
            if eb == 0.0:
                break
            log.debug("sz3: bound %g missed at attempt %d; retrying tighter", eb, attempt)
        raise RuntimeError(f"sz3 could not meet its error bound {eb:g} on this data")

    def encode_block(self, block: np.ndarray, ctx: BlockContext) -> BlockResult:
        if self.config.layout == "rows":
            streams = [self._code(np.ascontiguousarray(row)) for row in block]
        else:
            streams = [self._code(np.ascontiguousarray(block))]
        crcs = np.array([zlib.crc32(s) for s in streams], dtype="<u4")
        payload = pack_sections([crcs.tobytes(), *streams])
        return BlockResult(payload, None)

    def decode_block(self, payload: memoryview, ctx: BlockContext) -> np.ndarray:
        rows, frames, dtype = ctx.rows, ctx.frames, ctx.dtype
        n = rows if self.config.layout == "rows" else 1
        sections = unpack_sections(payload, expect=n + 1)
        crcs = array_from(sections[0], "<u4", n, "sz3 checksums")
        shape = (frames,) if self.config.layout == "rows" else (rows, frames)
        out = np.empty((rows, frames), dtype=dtype)
        sz3 = _sz3_class()(eb_mode="abs", eb_abs=0.0)  # decoding reads all it needs from the stream
        for i, (crc, stream) in enumerate(zip(crcs, sections[1:], strict=True)):
            if zlib.crc32(stream) != int(crc):
                raise CorruptStreamError(f"sz3: stream {i} fails its checksum")
            try:
                back = np.asarray(sz3.decode(np.frombuffer(stream, dtype=np.uint8)))
            except Exception as exc:
                msg = " ".join(str(exc).split())
                raise CorruptStreamError(f"sz3: stream {i} does not decode ({msg})") from None
            if back.dtype != dtype or back.shape != shape:
                raise CorruptStreamError(
                    f"sz3: stream {i} decoded to {back.shape} {back.dtype}, "
                    f"expected {shape} {dtype}"
                )
            if self.config.layout == "rows":
                out[i] = back
            else:
                out[:] = back
        return out
