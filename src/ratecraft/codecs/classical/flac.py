"""`flac`: the FLAC audio codec (libFLAC through libsndfile) as a lossless baseline.

FLAC codes at most 8 channels of at most 24-bit integers per stream, so the rows of a block are
split into groups of ``channels_per_stream`` and each group becomes its own FLAC stream. Samples
are shifted by an integer offset into the smallest of 8, 16 or 24 signed bits that holds their
span (uint16 becomes int16 by subtracting 32768, for example); floats are coded when they lie on
a grid (``k · step``, see :mod:`ratecraft.codecs.classical.alphabet`). Anything wider is refused.

Each stream is stored without the ``fLaC`` marker and without metadata other than STREAMINFO
(whose MD5 of the samples is checked after decoding); a chunk payload is

    sections[head, alphabet, stream 0, stream 1, ...] + CRC-32

with ``head`` = bits per sample (u8) and the offset (i64). The sample rate written into FLAC is a
fixed 48 kHz: FLAC's rate field does not change the compression.
"""

from __future__ import annotations

import hashlib
import io
import struct

import numpy as np
import soundfile
from pydantic import Field

from ratecraft.bitstream.sections import pack_sections, unpack_sections
from ratecraft.codecs.base import BlockContext, BlockResult, Codec, CodecConfig, register_codec
from ratecraft.codecs.classical.alphabet import Alphabet, integerize
from ratecraft.codecs.classical.general import seal, unseal
from ratecraft.errors import BadInputError, CorruptStreamError

FLAC_RATE = 48000
MAX_FLAC_CHANNELS = 8
_SUBTYPES = {8: "PCM_S8", 16: "PCM_16", 24: "PCM_24"}
_HEAD = struct.Struct("<Bq")
_MAGIC = b"fLaC"
_STREAMINFO_LEN = 34
_I64_MAX = (1 << 63) - 1
_STREAMINFO_HEADER = bytes([0x80, 0, 0, _STREAMINFO_LEN])  # last block, type 0, length 34


class FlacConfig(CodecConfig):
    level: int = Field(8, ge=0, le=8, description="FLAC compression level")
    channels_per_stream: int = Field(
        MAX_FLAC_CHANNELS, ge=1, le=MAX_FLAC_CHANNELS, description="rows per FLAC stream"
    )


def fit_bits(ints: np.ndarray) -> tuple[int, int]:
    """``(bits, offset)``: the fewest of 8/16/24 signed bits that hold ``ints - offset``."""
    lo, hi = int(ints.min()), int(ints.max())
    for bits in (8, 16, 24):
        half = 1 << (bits - 1)
        if hi - lo < 2 * half:
            if lo >= -half and hi < half:
                return bits, 0
            # Map lo to -half, or hi to half - 1 where lo + half would leave int64.
            return bits, (lo + half if lo + half <= _I64_MAX else hi - half + 1)
    raise BadInputError("flac: values need more than 24 bits")


def _split_stream(blob: bytes) -> tuple[bytes, bytes]:
    """STREAMINFO and the audio frames of a FLAC file; other metadata is dropped."""
    if blob[:4] != _MAGIC:
        raise RuntimeError("libsndfile wrote no FLAC stream")
    pos, info = 4, None
    while True:
        if pos + 4 > len(blob):
            raise RuntimeError("libsndfile wrote a truncated FLAC stream")
        head, size = blob[pos], int.from_bytes(blob[pos + 1 : pos + 4], "big")
        if head & 0x7F == 0 and size == _STREAMINFO_LEN:
            info = blob[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if head & 0x80:
            break
    if info is None:
        raise RuntimeError("libsndfile wrote no STREAMINFO")
    return info, blob[pos:]


def _parse_streaminfo(info: memoryview | bytes) -> tuple[int, int, int, bytes]:
    """``(channels, bits, total_frames, md5)`` from a 34-byte STREAMINFO block."""
    word = int.from_bytes(info[10:18], "big")  # rate:20 channels-1:3 bits-1:5 total:36
    channels = ((word >> 41) & 0x7) + 1
    bits = ((word >> 36) & 0x1F) + 1
    return channels, bits, word & ((1 << 36) - 1), bytes(info[18:34])


def _pcm_bytes(samples: np.ndarray, bits: int) -> bytes:
    """Interleaved little-endian samples at ``bits`` width: what FLAC's MD5 covers."""
    if bits == 8:
        return samples.astype("<i1").tobytes()
    if bits == 16:
        return samples.astype("<i2").tobytes()
    wide = np.ascontiguousarray(samples.astype("<i4")).view(np.uint8).reshape(-1, 4)
    return np.ascontiguousarray(wide[:, :3]).tobytes()


def encode_stream(samples: np.ndarray, bits: int, level: int) -> bytes:
    """One FLAC stream (STREAMINFO + frames) of a frames × channels int32 array."""
    buf = io.BytesIO()
    soundfile.write(
        buf,
        samples << (32 - bits),
        FLAC_RATE,
        subtype=_SUBTYPES[bits],
        format="FLAC",
        compression_level=level / 8,
    )
    info, frames = _split_stream(buf.getvalue())
    return info + frames


def decode_stream(stream: memoryview, channels: int, frames: int, bits: int) -> np.ndarray:
    """A frames × channels int32 array from what :func:`encode_stream` made."""
    if len(stream) < _STREAMINFO_LEN:
        raise CorruptStreamError("flac: truncated stream")
    got = _parse_streaminfo(stream[:_STREAMINFO_LEN])
    if got[:3] != (channels, bits, frames):
        raise CorruptStreamError(
            f"flac: stream declares {got[0]} channels, {got[1]} bits, {got[2]} frames; "
            f"expected {channels}, {bits}, {frames}"
        )
    blob = _MAGIC + _STREAMINFO_HEADER + bytes(stream)
    try:
        with soundfile.SoundFile(io.BytesIO(blob)) as f:
            shape = (f.frames, f.channels)
            out = f.read(frames, dtype="int32", always_2d=True)
    except (RuntimeError, ValueError, TypeError) as exc:
        why = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CorruptStreamError(f"flac: corrupt stream ({why})") from None
    if shape != (frames, channels) or out.shape != (frames, channels):
        raise CorruptStreamError(f"flac: stream decoded {out.shape[0]} of {frames} frames")
    out >>= 32 - bits
    md5 = got[3]
    if any(md5) and hashlib.md5(_pcm_bytes(out, bits)).digest() != md5:
        raise CorruptStreamError("flac: decoded samples fail the stream's MD5 check")
    return out


def _float_grid_ints(block: np.ndarray) -> tuple[np.ndarray, Alphabet]:
    """Integers ``k`` with ``block == k · step`` exactly, or BadInputError."""
    found = integerize(block)
    if found is None and np.isfinite(block).all():
        # A signal whose probed values are all one nonzero value has no spacing to find a step
        # from; that value itself is the natural step.
        nonzero = np.flatnonzero(block)
        if nonzero.size:
            found = integerize(block, grid_hint=abs(float(block.flat[nonzero[0]])))
    # integerize checks its grid in float arithmetic, which cannot tell -0.0 from 0.0.
    if found is None or found[1].restore(found[0], block.dtype).tobytes() != block.tobytes():
        raise BadInputError("flac needs integer samples (or floats on a grid)")
    return found


def _groups(rows: int, per_stream: int) -> list[tuple[int, int]]:
    return [(s, min(s + per_stream, rows)) for s in range(0, rows, per_stream)]


@register_codec("flac")
class FlacCodec(Codec):
    """Lossless: FLAC on groups of ≤ 8 rows of ≤ 24-bit integer samples."""

    config_cls = FlacConfig
    config: FlacConfig

    def encode_block(self, block: np.ndarray, ctx: BlockContext) -> BlockResult:
        if block.size == 0:
            return BlockResult(b"")
        if block.dtype.kind in "iu":
            ints, alphabet = block.astype(np.int64), Alphabet("identity")
        else:
            ints, alphabet = _float_grid_ints(block)
        bits, offset = fit_bits(ints)
        shifted = (ints - offset).astype(np.int32)
        streams = [
            encode_stream(np.ascontiguousarray(shifted[a:b].T), bits, self.config.level)
            for a, b in _groups(block.shape[0], self.config.channels_per_stream)
        ]
        head = _HEAD.pack(bits, offset)
        return BlockResult(seal(pack_sections([head, alphabet.to_bytes(), *streams])))

    def decode_block(self, payload: memoryview, ctx: BlockContext) -> np.ndarray:
        rows, frames, dtype = ctx.rows, ctx.frames, ctx.dtype
        if rows < 0 or frames < 0:
            raise CorruptStreamError(f"flac: negative block shape ({rows}, {frames})")
        if rows * frames == 0:
            if len(payload):
                raise CorruptStreamError("flac: payload for an empty block")
            return np.zeros((rows, frames), dtype=dtype)
        groups = _groups(rows, self.config.channels_per_stream)
        head, alpha_buf, *streams = unpack_sections(unseal(payload, "flac"), expect=2 + len(groups))
        if len(head) != _HEAD.size:
            raise CorruptStreamError("flac: corrupt chunk head")
        bits, offset = _HEAD.unpack(head)
        if bits not in _SUBTYPES:
            raise CorruptStreamError(f"flac: unsupported sample width {bits}")
        alphabet = Alphabet.from_bytes(alpha_buf)
        if (alphabet.mode == "grid") != (dtype.kind == "f") or alphabet.mode == "table":
            raise CorruptStreamError(f"flac: alphabet {alphabet.mode!r} does not fit {dtype}")
        ints = np.empty((rows, frames), dtype=np.int64)
        for (a, b), stream in zip(groups, streams, strict=True):
            ints[a:b] = decode_stream(stream, b - a, frames, bits).T
        ints += offset
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            if ints.min() < info.min or ints.max() > info.max:
                raise CorruptStreamError(f"flac: decoded values outside the range of {dtype}")
        return alphabet.restore(ints, dtype)
