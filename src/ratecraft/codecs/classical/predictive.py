"""`predictive`: our lossless codec for multichannel recordings.

It finds the integer alphabet behind the samples (sparse ADC grids become positions on their
grid, µV floats on a grid become steps), then codes the integers at one of two levels, which
the stream's codec parameters carry (and each chunk's mode byte repeats):

* ``fast``: every sample predicted by an integer linear predictor fitted per block and per
  channel (optionally from a correlated, already coded neighbour channel), residuals coded with
  scale-context models in a C rANS stream (:mod:`ratecraft.bitstream.rans`; constriction's ANS
  in payloads before version 3), tens of millions of samples a second;
* ``max``: per-sample adaptive prediction (an NLMS / sign-sign LMS cascade with bias
  cancellation) and context-mixing binary range coding, :mod:`.adaptive` (about a million
  samples a second per core, a few percent smaller).

Round trips are bit-exact; inputs that have no integer alphabet (floats off any grid) are stored
byte-shuffled with zstd instead, and the header says so.
"""

from __future__ import annotations

import struct
from typing import Literal

import numpy as np
import zstandard
from pydantic import Field

from ratecraft.bitstream.sections import array_from, pack_sections, unpack_sections
from ratecraft.codecs.base import BlockContext, BlockResult, Codec, CodecConfig, register_codec
from ratecraft.codecs.classical.alphabet import Alphabet, integerize
from ratecraft.codecs.classical.dpcm import DpcmSettings, decode_ints, encode_ints
from ratecraft.errors import CorruptStreamError

_MODE_INT = b"P"  # level fast
_MODE_ADAPTIVE = b"A"  # level max
_MODE_BYTES = b"B"
_RANGE = struct.Struct("<qq")


class PredictiveConfig(CodecConfig):
    level: Literal["fast", "max"] = Field(
        "fast", description="fast: block LPC + rANS; max: per-sample adaptive, smaller, slower"
    )
    max_order: int = Field(16, ge=1, le=32, description="highest linear prediction order tried")
    predictor_block: int = Field(8192, ge=256, le=1 << 20, description="frames per predictor")
    context_block: int = Field(64, ge=4, le=4096, description="frames per scale context")
    neighbours: bool = Field(True, description="predict from a correlated earlier channel")

    def settings(self) -> DpcmSettings:
        return DpcmSettings(
            self.max_order, self.predictor_block, self.context_block, self.neighbours
        )


def shuffle_compress(block: np.ndarray) -> bytes:
    """Byte-plane shuffle then zstd: the generic path for data with no integer alphabet."""
    planes = block.reshape(-1).view(np.uint8).reshape(-1, block.dtype.itemsize).T
    return zstandard.ZstdCompressor(level=9).compress(np.ascontiguousarray(planes).tobytes())


def shuffle_decompress(buf: memoryview, rows: int, frames: int, dtype: np.dtype) -> np.ndarray:
    size = rows * frames * dtype.itemsize
    try:
        raw = zstandard.ZstdDecompressor().decompress(bytes(buf), max_output_size=max(size, 1))
    except zstandard.ZstdError as exc:
        raise CorruptStreamError(f"corrupt zstd payload: {exc}") from None
    planes = array_from(raw, "u1", size, "shuffled samples").reshape(dtype.itemsize, -1)
    return np.ascontiguousarray(planes.T).view(dtype).reshape(rows, frames)


@register_codec("predictive")
class PredictiveCodec(Codec):
    """Lossless: alphabet detection + per-block integer LPC + scale-context rANS."""

    config_cls = PredictiveConfig
    config: PredictiveConfig
    version = 3  # 2: level max, alphabet tables as grid positions; 3: fast residuals in rANS
    parallel_decode = True  # rANS, prediction loops and numba release the GIL
    parallel_encode = True

    def encode_block(self, block: np.ndarray, ctx: BlockContext) -> BlockResult:
        found = integerize(block)
        if found is None:
            return BlockResult(_MODE_BYTES + shuffle_compress(block), None)
        ints, alphabet = found
        if self.config.level == "max":
            return BlockResult(_MODE_ADAPTIVE + self._encode_adaptive(ints, alphabet), None)
        body, est, _ = encode_ints(ints, 1, self.config.settings(), "rans")
        payload = _MODE_INT + pack_sections([alphabet.to_bytes(), body])
        return BlockResult(payload, est + 8.0 * (len(payload) - len(body)))

    def _encode_adaptive(self, ints: np.ndarray, alphabet: Alphabet) -> bytes:
        from ratecraft.codecs.classical.lpc import choose_references  # numba

        lo, hi = (int(ints.min()), int(ints.max())) if ints.size else (0, 0)
        refidx = choose_references(ints, self.config.neighbours)
        from ratecraft.codecs.classical import adaptive  # numba: imported for level max only

        body = adaptive.encode_channels(ints, refidx, lo, hi)
        refs = refidx.astype("<i4").tobytes()
        return pack_sections([alphabet.to_bytes(), _RANGE.pack(lo, hi), refs, body])

    @staticmethod
    def _decode_adaptive(
        payload: memoryview, rows: int, frames: int
    ) -> tuple[np.ndarray, Alphabet]:
        alpha_buf, rng, refs, body = unpack_sections(payload, expect=4)
        alphabet = Alphabet.from_bytes(alpha_buf)
        if len(rng) != _RANGE.size or len(refs) != 4 * rows:
            raise CorruptStreamError("corrupt adaptive predictive header")
        lo, hi = _RANGE.unpack(rng)
        refidx = array_from(refs, "<i4", rows, "reference channels").astype(np.int64)
        if lo > hi or hi - lo >= 1 << 32 or ((refidx >= np.arange(rows)) | (refidx < -1)).any():
            raise CorruptStreamError("corrupt adaptive predictive header")
        from ratecraft.codecs.classical import adaptive  # numba: imported for level max only

        return adaptive.decode_channels(body, refidx, rows, frames, lo, hi), alphabet

    def decode_block(self, payload: memoryview, ctx: BlockContext) -> np.ndarray:
        rows, frames, dtype = ctx.rows, ctx.frames, ctx.dtype
        mode, rest = bytes(payload[:1]), payload[1:]
        if mode == _MODE_BYTES:
            return shuffle_decompress(rest, rows, frames, dtype)
        if mode == _MODE_ADAPTIVE:
            ints, alphabet = self._decode_adaptive(rest, rows, frames)
            return alphabet.restore(ints, dtype)
        if mode != _MODE_INT:
            raise CorruptStreamError("unknown predictive chunk mode")
        alpha_buf, body = unpack_sections(rest, expect=2)
        alphabet = Alphabet.from_bytes(alpha_buf)
        coder = "rans" if ctx.codec_version >= 3 else "ans"
        ints = decode_ints(body, rows, frames, 1, self.config.settings(), coder)
        return alphabet.restore(ints, dtype)
