"""`zstd` and `lzma`: general-purpose byte compressors as lossless baselines.

Both code the raw sample bytes of a block, so they are exact for every dtype and every bit
pattern (NaN payloads included). ``layout`` picks the byte order handed to the compressor:
``interleaved`` stores the channels of one frame next to each other, as multichannel files do;
``planar`` stores one channel after another. ``shuffle`` regroups the bytes into planes (all
first bytes, then all second bytes, ...), which usually helps on smooth multi-byte samples.

A payload is the compressed bytes followed by a CRC-32 of them, so a decoder handed a damaged
payload on its own (outside a container, whose chunks carry their own checksum) still refuses it.
"""

from __future__ import annotations

import lzma
import struct
import zlib
from abc import abstractmethod
from typing import Literal

import numpy as np
import zstandard
from pydantic import Field

from ratecraft.bitstream.sections import array_from
from ratecraft.codecs.base import BlockContext, BlockResult, Codec, CodecConfig, register_codec
from ratecraft.data.types import Data
from ratecraft.errors import CorruptStreamError

_CRC = struct.Struct("<I")
# Dictionary size of each xz preset (liblzma's table); the encoder never needs more than the data.
_PRESET_DICT = (
    1 << 18,
    1 << 20,
    1 << 21,
    1 << 22,
    1 << 22,
    1 << 23,
    1 << 23,
    1 << 24,
    1 << 25,
    1 << 26,
)
_LZMA_MIN_DICT = 4096


def seal(body: bytes) -> bytes:
    """``body`` followed by its CRC-32."""
    return body + _CRC.pack(zlib.crc32(body))


def unseal(payload: memoryview | bytes, what: str) -> memoryview:
    """The body of a :func:`seal`-ed payload, after checking its CRC-32."""
    view = memoryview(payload)
    if len(view) < _CRC.size:
        raise CorruptStreamError(f"{what}: truncated payload ({len(view)} bytes)")
    body, (crc,) = view[: -_CRC.size], _CRC.unpack(view[-_CRC.size :])
    if zlib.crc32(body) != crc:
        raise CorruptStreamError(f"{what}: payload checksum mismatch")
    return body


def block_to_bytes(block: np.ndarray, layout: str, shuffle: bool) -> bytes:
    """Little-endian sample bytes of a rows × frames block in the requested order."""
    le = block.astype(block.dtype.newbyteorder("<"), copy=False)
    ordered = le.T if layout == "interleaved" else le
    flat = np.ascontiguousarray(ordered).reshape(-1)
    if shuffle and flat.dtype.itemsize > 1:
        planes = flat.view(np.uint8).reshape(-1, flat.dtype.itemsize).T
        return np.ascontiguousarray(planes).tobytes()
    return flat.tobytes()


def bytes_to_block(
    raw: bytes, rows: int, frames: int, dtype: np.dtype, layout: str, shuffle: bool, what: str
) -> np.ndarray:
    """Inverse of :func:`block_to_bytes`; ``raw`` must hold exactly rows × frames samples."""
    le = dtype.newbyteorder("<")
    n = rows * frames
    if shuffle and dtype.itemsize > 1:
        planes = array_from(raw, "u1", n * dtype.itemsize, what).reshape(dtype.itemsize, n)
        flat = np.ascontiguousarray(planes.T).reshape(-1).view(le)
    else:
        flat = array_from(raw, le.str, n, what)
    out = flat.reshape(frames, rows).T if layout == "interleaved" else flat.reshape(rows, frames)
    return np.ascontiguousarray(out).astype(dtype, copy=False)


class ByteCodecConfig(CodecConfig):
    layout: Literal["interleaved", "planar"] = Field(
        "interleaved",
        description="interleaved: frame-major (channels of a frame adjacent); "
        "planar: channel-major",
    )
    shuffle: bool = Field(False, description="byte-shuffle samples into planes before coding")


class ZstdConfig(ByteCodecConfig):
    level: int = Field(19, ge=1, le=22, description="zstd compression level")


class LzmaConfig(ByteCodecConfig):
    preset: int = Field(9, ge=0, le=9, description="xz preset")
    extreme: bool = Field(True, description="xz extreme variant of the preset (slower, smaller)")


class _ByteCodec(Codec):
    """Shared block handling of the byte compressors; subclasses code a byte string."""

    config: ByteCodecConfig

    @abstractmethod
    def compress(self, raw: bytes, itemsize: int) -> bytes:
        """Compressed form of ``raw`` (samples of ``itemsize`` bytes)."""

    @abstractmethod
    def decompress(self, buf: memoryview, size: int) -> bytes:
        """Exactly ``size`` bytes back from ``buf``, or CorruptStreamError; never more."""

    def check_input(self, data: Data) -> None:
        """Nothing to refuse: byte codecs are exact on every bit pattern, NaN and inf included."""

    def encode_block(self, block: np.ndarray, ctx: BlockContext) -> BlockResult:
        if block.size == 0:
            return BlockResult(b"")
        cfg = self.config
        raw = block_to_bytes(block, cfg.layout, cfg.shuffle)
        return BlockResult(seal(self.compress(raw, block.dtype.itemsize)))

    def decode_block(self, payload: memoryview, ctx: BlockContext) -> np.ndarray:
        rows, frames, dtype = ctx.rows, ctx.frames, ctx.dtype
        if rows < 0 or frames < 0:
            raise CorruptStreamError(f"{self.name}: negative block shape ({rows}, {frames})")
        if rows * frames == 0:
            if len(payload):
                raise CorruptStreamError(f"{self.name}: payload for an empty block")
            return np.zeros((rows, frames), dtype=dtype)
        size = rows * frames * dtype.itemsize
        raw = self.decompress(unseal(payload, self.name), size)
        if len(raw) != size:
            raise CorruptStreamError(f"{self.name}: decoded {len(raw)} bytes, expected {size}")
        cfg = self.config
        return bytes_to_block(raw, rows, frames, dtype, cfg.layout, cfg.shuffle, self.name)


@register_codec("zstd")
class ZstdCodec(_ByteCodec):
    """Lossless: zstd on the sample bytes."""

    config_cls = ZstdConfig
    config: ZstdConfig

    def compress(self, raw: bytes, itemsize: int) -> bytes:
        return zstandard.ZstdCompressor(level=self.config.level).compress(raw)

    def decompress(self, buf: memoryview, size: int) -> bytes:
        data = bytes(buf)
        try:
            declared = zstandard.frame_content_size(data)
            if declared != size:  # also refuses frames of unknown size (-1)
                raise CorruptStreamError(f"zstd: frame declares {declared} bytes, expected {size}")
            # The frame's declared size is checked above, so the output cannot exceed ``size``.
            dobj = zstandard.ZstdDecompressor().decompressobj()
            raw = dobj.decompress(data)
        except zstandard.ZstdError as exc:
            raise CorruptStreamError(f"zstd: corrupt payload ({exc})") from None
        if not dobj.eof or dobj.unused_data:
            raise CorruptStreamError("zstd: payload does not end with its frame")
        return raw


def _lzma_dict_size(preset: int, size: int) -> int:
    return max(_LZMA_MIN_DICT, min(_PRESET_DICT[preset], size))


@register_codec("lzma")
class LzmaCodec(_ByteCodec):
    """Lossless: raw LZMA2 (no xz container) on the sample bytes."""

    config_cls = LzmaConfig
    config: LzmaConfig

    def compress(self, raw: bytes, itemsize: int) -> bytes:
        cfg = self.config
        preset = cfg.preset | (lzma.PRESET_EXTREME if cfg.extreme else 0)
        filt: dict[str, int] = {
            "id": lzma.FILTER_LZMA2,
            "preset": preset,
            "dict_size": _lzma_dict_size(cfg.preset, len(raw)),
        }
        if not cfg.shuffle and itemsize > 1:
            # Align literal/position contexts to the sample width (xz's advice for such data).
            align = min(itemsize.bit_length() - 1, 4)
            filt.update(lc=0, lp=align, pb=align)
        return lzma.compress(raw, format=lzma.FORMAT_RAW, filters=[filt])

    def decompress(self, buf: memoryview, size: int) -> bytes:
        # Every match distance is < size, so a dictionary of ``size`` bytes decodes any stream
        # the encoder made, and bounds the decoder's memory by the declared block.
        filt = {"id": lzma.FILTER_LZMA2, "dict_size": _lzma_dict_size(9, size)}
        try:
            dec = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=[filt])
            raw = dec.decompress(bytes(buf), max_length=size)
            if not dec.eof and dec.decompress(b"", max_length=1):
                raise CorruptStreamError(f"lzma: payload decodes to more than {size} bytes")
        except (lzma.LZMAError, EOFError) as exc:
            raise CorruptStreamError(f"lzma: corrupt payload ({exc})") from None
        if not dec.eof or dec.unused_data:
            raise CorruptStreamError("lzma: payload does not end with its stream")
        return raw
