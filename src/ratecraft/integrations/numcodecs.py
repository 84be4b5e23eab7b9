"""ratecraft's codecs as numcodecs codecs, for zarr arrays and SpikeInterface's zarr folders.

``Predictive`` (lossless), ``Quant`` and ``Wavelet`` (every sample within ``max_error`` stored
units) compress one zarr chunk each: the chunk is read as a recording with time on axis 0 (the
layout SpikeInterface and zarr users keep: frames × channels) and every other axis flattened
into channels, and its compressed form is a complete ``.rcz`` container — dtype, shape and codec
version travel with each chunk, so a chunk decodes on its own and is checked as every container
is. They are registered under the ``numcodecs.codecs`` entry point (ids ``ratecraft_predictive``,
``ratecraft_quant``, ``ratecraft_wavelet``), so an array written with them reopens in a fresh
process that has only ratecraft installed::

    import zarr
    from ratecraft.integrations.numcodecs import Predictive
    z = zarr.open("x.zarr", mode="w", shape=(frames, 384), chunks=(30000, 384),
                  dtype="i2", compressor=Predictive())

    recording.save(format="zarr", folder="rec.zarr", compressor=Predictive())  # SpikeInterface

A codec sees a chunk as an array only when no filter before it turns it into bytes; the
``sample_rate`` parameter (Hz) is what a chunk's recording declares (zarr keeps no rate).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numcodecs.abc import Codec as NumcodecsCodec
from numcodecs.compat import ensure_contiguous_ndarray, ndarray_copy

from ratecraft.codecs import Budget, Codec, decode, get_codec
from ratecraft.data.types import Recording
from ratecraft.errors import BadInputError

__all__ = ["Predictive", "Quant", "RatecraftCodec", "Wavelet"]


def as_channels(chunk: np.ndarray) -> np.ndarray:
    """A chunk (time on axis 0) as channels × time."""
    if chunk.ndim == 0:
        raise BadInputError("a ratecraft numcodecs codec needs an array chunk, not a scalar")
    return chunk.reshape(chunk.shape[0], -1).T


class RatecraftCodec(NumcodecsCodec):  # type: ignore[misc]
    """One ratecraft codec applied to each chunk on its own."""

    codec_id: ClassVar[str]
    codec_name: ClassVar[str]

    def __init__(self, sample_rate: float = 30000.0) -> None:
        if not sample_rate > 0:
            raise BadInputError(f"sample_rate must be > 0 Hz, not {sample_rate}")
        self.sample_rate = float(sample_rate)

    def _budget(self) -> Budget:
        return Budget(lossless=True)

    def _options(self) -> dict[str, Any]:
        return {}

    def _fitted(self, recording: Recording) -> Codec:
        return get_codec(self.codec_name, self._options()).fit(recording, self._budget())

    def encode(self, buf: Any) -> bytes:
        chunk = np.asarray(buf)
        if chunk.dtype.kind not in "iuf":
            raise BadInputError(f"{self.codec_id}: cannot code {chunk.dtype} samples")
        recording = Recording(np.ascontiguousarray(as_channels(chunk)), self.sample_rate)
        return self._fitted(recording).encode(recording)

    def decode(self, buf: Any, out: Any = None) -> Any:
        data = decode(bytes(ensure_contiguous_ndarray(buf)))
        if not isinstance(data, Recording):
            raise BadInputError(f"{self.codec_id}: the chunk holds a {type(data).__name__}")
        frames = np.ascontiguousarray(data.samples.T)
        if out is None:
            return frames
        return ndarray_copy(frames, out)


class Predictive(RatecraftCodec):
    """``predictive``: lossless (bit-exact), integer or float samples; ``level`` ``fast``
    (block-adaptive) or ``max`` (adapts every sample: smaller, slower)."""

    codec_id = "ratecraft_predictive"
    codec_name = "predictive"

    def __init__(self, level: str = "fast", sample_rate: float = 30000.0) -> None:
        super().__init__(sample_rate)
        if level not in ("fast", "max"):
            raise BadInputError(f"{self.codec_id}: level must be fast or max, not {level!r}")
        self.level = level

    def _options(self) -> dict[str, Any]:
        return {"level": self.level}


class _Bounded(RatecraftCodec):
    def __init__(self, max_error: float, sample_rate: float = 30000.0) -> None:
        super().__init__(sample_rate)
        if not max_error > 0:
            raise BadInputError(f"{self.codec_id}: max_error must be > 0, not {max_error}")
        self.max_error = float(max_error)

    def _budget(self) -> Budget:
        return Budget(max_error=self.max_error)


class Quant(_Bounded):
    """``quant``: every sample within ``max_error`` stored units."""

    codec_id = "ratecraft_quant"
    codec_name = "quant"


class Wavelet(_Bounded):
    """``wavelet``: every sample within ``max_error`` stored units."""

    codec_id = "ratecraft_wavelet"
    codec_name = "wavelet"
