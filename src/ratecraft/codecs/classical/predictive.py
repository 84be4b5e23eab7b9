"""`predictive`: our lossless codec for multichannel recordings.

It finds the integer alphabet behind the samples (sparse ADC grids become ranks, µV floats on a
grid become steps), predicts every sample with an integer linear predictor fitted per block and
per channel (optionally from a correlated, already coded neighbour channel) and codes residuals
with scale-context ANS models. Round trips are bit-exact; inputs that have no integer alphabet
(floats off any grid) are stored byte-shuffled with zstd instead, and the header says so.
"""

from __future__ import annotations

import numpy as np
import zstandard
from pydantic import Field

from ratecraft.bitstream.sections import array_from, pack_sections, unpack_sections
from ratecraft.codecs.base import BlockContext, BlockResult, Codec, CodecConfig, register_codec
from ratecraft.codecs.classical.alphabet import Alphabet, integerize
from ratecraft.codecs.classical.dpcm import DpcmSettings, decode_ints, encode_ints
from ratecraft.errors import CorruptStreamError

_MODE_INT = b"P"
_MODE_BYTES = b"B"


class PredictiveConfig(CodecConfig):
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
    """Lossless: alphabet detection + per-block integer LPC + scale-context ANS."""

    config_cls = PredictiveConfig
    config: PredictiveConfig

    def encode_block(self, block: np.ndarray, ctx: BlockContext) -> BlockResult:
        found = integerize(block)
        if found is None:
            return BlockResult(_MODE_BYTES + shuffle_compress(block), None)
        ints, alphabet = found
        body, est, _ = encode_ints(ints, 1, self.config.settings())
        payload = _MODE_INT + pack_sections([alphabet.to_bytes(), body])
        return BlockResult(payload, est + 8.0 * (len(payload) - len(body)))

    def decode_block(self, payload: memoryview, ctx: BlockContext) -> np.ndarray:
        rows, frames, dtype = ctx.rows, ctx.frames, ctx.dtype
        mode, rest = bytes(payload[:1]), payload[1:]
        if mode == _MODE_BYTES:
            return shuffle_decompress(rest, rows, frames, dtype)
        if mode != _MODE_INT:
            raise CorruptStreamError("unknown predictive chunk mode")
        alpha_buf, body = unpack_sections(rest, expect=2)
        alphabet = Alphabet.from_bytes(alpha_buf)
        ints = decode_ints(body, rows, frames, 1, self.config.settings())
        return alphabet.restore(ints, dtype)
