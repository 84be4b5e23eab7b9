"""Lossless compact storage of one tensor: constants, bit packing, 16-bit floats, bitmasks.

The artifact writer stores every plain tensor in whichever form is smallest, all lossless:

- ``plain``: the tensor as it is (no description needed: safetensors has dtype and shape);
- ``const``: every element equal (a symmetric quantizer's all-zero zero points): no data;
- ``packed``: integers whose range ``hi - lo + 1`` fits in 1 to 7 bits, offset by ``lo`` and
  packed into a bit stream of that width (torchao keeps int4/int3/int2 codes one per byte in
  memory); float32
  values that are all exactly representable in float16 (or bfloat16) are stored in 16 bits;
- ``sparse``: a bitmask of the non-zero positions (``numpy.packbits``) plus the non-zero values,
  themselves packed as above — this is how unstructured and 2:4 pruning make the file really
  smaller.

Decoding checks every declared count against the bytes present before it allocates, so a
tampered file is a one-line :class:`~ratecraft.errors.BadInputError`, never a crash.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ratecraft.errors import BadInputError

__all__ = ["decode_tensor", "encode_tensor"]

_MAX_ELEMENTS = 1 << 36
_INT_DTYPES = {torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64}
_DTYPES = {
    str(d).removeprefix("torch."): d
    for d in (
        torch.float32,
        torch.float16,
        torch.bfloat16,
        torch.float64,
        torch.bool,
        *_INT_DTYPES,
    )
}
MASK_SUFFIX = "::mask"


def _bits_for(lo: int, hi: int) -> int | None:
    span = hi - lo + 1
    for bits in range(1, 8):
        if span <= 1 << bits:
            return bits
    return None


def _pack(values: np.ndarray, lo: int, bits: int) -> np.ndarray:
    """``values − lo`` as one little-endian bit stream of ``bits`` bits each (value ``i`` at
    stream bits ``i·bits …``): for 1, 2 and 4 bits this is 8, 4 or 2 values per byte, lowest
    first; 3-bit codes take 3 bits, not 4."""
    u = (values.astype(np.int64) - lo).astype(np.uint8)
    planes = (u[:, None] >> np.arange(bits, dtype=np.uint8)) & np.uint8(1)
    return np.packbits(planes.reshape(-1), bitorder="little")


def _unpack(packed: np.ndarray, count: int, lo: int, bits: int) -> np.ndarray:
    stream = np.unpackbits(packed, count=count * bits, bitorder="little").reshape(count, bits)
    weights = np.left_shift(np.int64(1), np.arange(bits, dtype=np.int64))
    return stream.astype(np.int64) @ weights + lo


def _value_form(values: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any] | None]:
    """``values`` packed when they are small-range integers, stored as 16-bit floats when
    every float32 value is exactly representable there, else as they are (all lossless)."""
    if values.dtype == torch.float32 and values.numel():
        for half in (torch.float16, torch.bfloat16):
            h = values.to(half)
            if bool(torch.isfinite(values).all()) and torch.equal(h.float(), values):
                return h, {"half": str(half).removeprefix("torch.")}
        return values, None
    if values.dtype not in _INT_DTYPES or values.numel() == 0:
        return values, None
    lo, hi = int(values.min()), int(values.max())
    bits = _bits_for(lo, hi)
    if bits is None or bits >= 8 * values.element_size():
        return values, None
    packed = _pack(values.numpy(), lo, bits)
    return torch.from_numpy(packed), {"bits": bits, "offset": lo}


def encode_tensor(name: str, tensor: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict]:
    """Store ``tensor`` under ``name`` in its smallest lossless form: (tensors, JSON meta)."""
    t = tensor.detach().cpu().contiguous()
    if t.dtype not in _DTYPES.values():
        raise BadInputError(f"{name}: cannot store tensors of dtype {t.dtype}")
    meta: dict[str, Any] = {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape)}
    flat = t.reshape(-1)
    if flat.numel() > 1 and t.dtype is not torch.bool and bool((flat == flat[0]).all()):
        value = flat[0].item()
        if math.isfinite(value):
            return {}, {**meta, "form": "const", "value": value}
    dense, dense_pack = _value_form(flat)
    best: tuple[int, dict[str, torch.Tensor], dict[str, Any]] = (
        dense.numel() * dense.element_size(),
        {name: dense.clone() if dense_pack else t.clone()},  # plain keeps its shape
        {**meta, "form": "packed" if dense_pack else "plain", "pack": dense_pack},
    )
    if t.dtype is not torch.bool and flat.numel() > 64:
        nonzero = flat != 0
        count = int(nonzero.sum())
        if count < flat.numel():
            mask = torch.from_numpy(np.packbits(nonzero.numpy()))
            values, pack = _value_form(flat[nonzero])
            size = mask.numel() + values.numel() * values.element_size()
            if size < best[0]:
                best = (
                    size,
                    {name: values.clone(), name + MASK_SUFFIX: mask},
                    {**meta, "form": "sparse", "pack": pack, "count": count},
                )
    return best[1], best[2]


def _check(cond: bool, name: str, what: str) -> None:
    if not cond:
        raise BadInputError(f"artifact tensor {name}: {what}")


def decode_tensor(name: str, stored: dict[str, torch.Tensor], meta: dict[str, Any]) -> torch.Tensor:
    """Inverse of :func:`encode_tensor`; validates the declared sizes against the stored data."""
    _check(isinstance(meta, dict), name, "description is not a mapping")
    dtype = _DTYPES.get(str(meta.get("dtype")))
    _check(dtype is not None, name, f"unsupported dtype {meta.get('dtype')!r}")
    shape = meta.get("shape")
    _check(
        isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape),
        name,
        "bad shape",
    )
    n = math.prod(shape)
    _check(n <= _MAX_ELEMENTS, name, "declares an absurd number of elements")
    form = meta.get("form")
    pack = meta.get("pack")
    if form == "const":
        value = meta.get("value")
        _check(isinstance(value, int | float), name, "bad constant")
        return torch.full(shape, value, dtype=dtype)
    _check(name in stored, name, "data missing from the weights file")
    data = stored[name]
    if form == "sparse":
        count = meta.get("count")
        _check(isinstance(count, int) and 0 <= count <= n, name, "bad non-zero count")
        mask = stored.get(name + MASK_SUFFIX)
        _check(mask is not None and mask.dtype == torch.uint8, name, "sparsity mask missing")
        assert mask is not None
        _check(mask.numel() == (n + 7) // 8, name, "sparsity mask has the wrong length")
        bits = np.unpackbits(mask.numpy())[:n].astype(bool)
        _check(int(bits.sum()) == count, name, "mask and non-zero count disagree")
        values = _values(name, data, pack, count, dtype)
        out = torch.zeros(n, dtype=dtype)
        out[torch.from_numpy(bits)] = values
        return out.reshape(shape)
    _check(form in ("plain", "packed"), name, f"unknown storage form {form!r}")
    return _values(name, data, pack, n, dtype).reshape(shape)


def _values(
    name: str, data: torch.Tensor, pack: Any, count: int, dtype: torch.dtype
) -> torch.Tensor:
    if pack is None:
        _check(data.dtype == dtype and data.numel() == count, name, "size or dtype mismatch")
        return data.reshape(-1)
    _check(isinstance(pack, dict), name, "bad packing description")
    if "half" in pack:
        half = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(pack["half"])
        _check(half is not None and dtype == torch.float32, name, "bad half-precision form")
        _check(data.dtype == half and data.numel() == count, name, "size or dtype mismatch")
        return data.reshape(-1).float()
    bits, lo = pack.get("bits"), pack.get("offset")
    _check(bits in range(1, 8) and isinstance(lo, int), name, "bad packing description")
    _check(dtype in _INT_DTYPES, name, "packed values must be integers")
    _check(data.dtype == torch.uint8, name, "packed data must be bytes")
    _check(data.numel() == -(-count * bits // 8), name, "packed data has the wrong length")
    values = _unpack(data.numpy(), count, lo, bits)
    return torch.from_numpy(values).to(dtype)
