"""ratecraft's codecs as zarr 3 array-to-bytes codecs (``serializer=``), beside the zarr 2 form.

zarr 3 asks a compressor of whole arrays for an ``ArrayBytesCodec``: it turns a chunk's array
into bytes itself, which is what a ratecraft codec does (each chunk becomes one complete ``.rcz``
container, checked on decode as every container is). The coding is the numcodecs codecs' of
:mod:`ratecraft.integrations.numcodecs`; this module only speaks zarr 3's codec protocol (named
configuration in ``zarr.json``, async chunk calls). It does not go through zarr's own numcodecs
wrappers: those are private, have moved from ``numcodecs.zarr3`` to ``zarr.codecs.numcodecs``,
and name every codec ``numcodecs.<id>``.

The codecs are registered under the ``zarr.codecs`` entry point (names ``ratecraft.predictive``,
``ratecraft.quant``, ``ratecraft.wavelet``), so an array written with them reopens in a fresh
process that has ratecraft and zarr 3 installed (extra ``[zarr3]``)::

    import zarr
    from ratecraft.integrations.zarr3 import Predictive, Quant
    z = zarr.create_array("x.zarr", shape=(frames, 384), chunks=(30000, 384), dtype="int16",
                          serializer=Predictive(), compressors=None)
    z = zarr.create_array("y.zarr", shape=(frames, 384), chunks=(30000, 384), dtype="int16",
                          serializer=Quant(max_error=4), compressors=None)

Importing this module without zarr 3 (no zarr, or zarr 2 as SpikeInterface pins it) raises
:class:`~ratecraft.errors.MissingExtraError` naming the ``zarr3`` extra.
"""

from __future__ import annotations

import asyncio
from dataclasses import MISSING, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from ratecraft.errors import BadInputError, CorruptStreamError, MissingExtraError, RatecraftError

try:
    from zarr.abc.codec import ArrayBytesCodec
except ImportError:  # no zarr, or zarr 2 (which has no zarr.abc)
    raise MissingExtraError("zarr>=3", "zarr3") from None

from ratecraft.integrations import numcodecs as rc_numcodecs

if TYPE_CHECKING:
    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer, NDBuffer

__all__ = ["Predictive", "Quant", "RatecraftArrayBytesCodec", "Wavelet"]


class VariableSizeError(RatecraftError, NotImplementedError):
    """A coded chunk's size is known only after coding; zarr 3's protocol asks codecs of
    variable-sized output to raise NotImplementedError, so this is one."""


# type-checked against zarr 3 (`mypy --python-executable .venv-zarr3/bin/python`) and against the
# main env, where zarr 2 leaves ArrayBytesCodec untyped (misc)
@dataclass(frozen=True)
class RatecraftArrayBytesCodec(ArrayBytesCodec):  # type: ignore[misc, unused-ignore]
    """One ratecraft numcodecs codec spoken as a zarr 3 array-to-bytes codec; the dataclass
    fields of a subclass are its configuration in ``zarr.json`` and its numcodecs codec's
    keyword arguments."""

    name: ClassVar[str]
    numcodec_class: ClassVar[type[rc_numcodecs.RatecraftCodec]]
    is_fixed_size = False
    _numcodec: ClassVar[rc_numcodecs.RatecraftCodec]  # set per instance in __post_init__

    def __post_init__(self) -> None:
        # built now, so a bad option fails at construction, not at the first chunk
        object.__setattr__(self, "_numcodec", self.numcodec_class(**self.configuration()))

    def configuration(self) -> dict[str, Any]:
        """The codec's options as ``zarr.json`` stores them."""
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., "configuration": {...}}``: zarr 3's form of a codec in metadata."""
        return {"name": self.name, "configuration": self.configuration()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """The codec a ``zarr.json`` entry names; an entry of another codec or with options
        this codec does not take is a one-line error."""
        if data.get("name") != cls.name:
            raise BadInputError(f"{cls.name}: cannot read the codec entry {data.get('name')!r}")
        configuration = data.get("configuration", {})
        if not isinstance(configuration, dict):
            raise BadInputError(f"{cls.name}: its configuration must be an object")
        known = {field.name for field in fields(cls)}
        if unknown := sorted(set(configuration) - known):
            raise BadInputError(f"{cls.name}: unknown option(s) {', '.join(unknown)}")
        required = {field.name for field in fields(cls) if field.default is MISSING}
        if missing := sorted(required - set(configuration)):
            raise BadInputError(f"{cls.name}: missing option(s) {', '.join(missing)}")
        return cls(**configuration)

    def validate(self, *, shape: tuple[int, ...], dtype: Any, chunk_grid: Any) -> None:
        """Refuse at array creation what no chunk could be coded from: a scalar array or
        samples that are not integers or floats."""
        native = np.dtype(dtype.to_native_dtype())
        if native.kind not in "iuf":
            raise BadInputError(f"{self.name}: cannot code {native} samples")
        if len(shape) == 0:
            raise BadInputError(f"{self.name}: needs an array with a time axis, not a scalar")

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: ArraySpec) -> int:
        """Unknown before coding (a compressor's output varies with the data)."""
        raise VariableSizeError(f"{self.name}: a chunk's coded size is known only after coding")

    def _encode_sync(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer:
        coded = self._numcodec.encode(chunk_array.as_numpy_array())
        return chunk_spec.prototype.buffer.from_bytes(coded)

    def _decode_sync(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        frames = self._numcodec.decode(chunk_bytes.to_bytes())
        native = np.dtype(chunk_spec.dtype.to_native_dtype())
        if frames.size != int(np.prod(chunk_spec.shape)) or frames.dtype != native.newbyteorder(
            "="
        ):
            raise CorruptStreamError(
                f"{self.name}: a chunk holds {frames.dtype} × {frames.size}, the array wants "
                f"{native} × {int(np.prod(chunk_spec.shape))}"
            )
        array = frames.reshape(chunk_spec.shape).astype(native, copy=False)
        return chunk_spec.prototype.nd_buffer.from_numpy_array(array)

    async def _encode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer:
        return await asyncio.to_thread(self._encode_sync, chunk_array, chunk_spec)

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        return await asyncio.to_thread(self._decode_sync, chunk_bytes, chunk_spec)


@dataclass(frozen=True)
class Predictive(RatecraftArrayBytesCodec):
    """``predictive``: lossless (bit-exact); ``level`` ``fast`` or ``max`` (smaller, slower)."""

    name: ClassVar[str] = "ratecraft.predictive"
    numcodec_class: ClassVar[type[rc_numcodecs.RatecraftCodec]] = rc_numcodecs.Predictive
    level: str = "fast"
    sample_rate: float = 30000.0


@dataclass(frozen=True)
class Quant(RatecraftArrayBytesCodec):
    """``quant``: every sample within ``max_error`` stored units."""

    name: ClassVar[str] = "ratecraft.quant"
    numcodec_class: ClassVar[type[rc_numcodecs.RatecraftCodec]] = rc_numcodecs.Quant
    max_error: float
    sample_rate: float = 30000.0


@dataclass(frozen=True)
class Wavelet(RatecraftArrayBytesCodec):
    """``wavelet``: every sample within ``max_error`` stored units."""

    name: ClassVar[str] = "ratecraft.wavelet"
    numcodec_class: ClassVar[type[rc_numcodecs.RatecraftCodec]] = rc_numcodecs.Wavelet
    max_error: float
    sample_rate: float = 30000.0
