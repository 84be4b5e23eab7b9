"""`wavelet`: per-channel multilevel DWT, dead-zone quantization and scale-context ANS.

Each chunk (rows × frames) is transformed along time with ``pywt.wavedec`` (orthogonal wavelet,
periodization, so there are as many coefficients as samples). Coefficients are quantized with
a uniform step and a dead zone, the step optionally scaled per level (``level_scale``), and the
integers are coded with :func:`~ratecraft.codecs.classical.residuals.encode_residuals` in
subband order, whose per-block scale buckets follow the subbands' very different magnitudes.

Rate control: ``Budget(ratio=R)`` searches the finest step whose *real* container meets R.
``Budget(max_error=E)`` is guaranteed by a second layer: the error left by the wavelet layer is
quantized uniformly (step ``2⌊E⌋+1`` on integer data, so ``|error| ≤ ⌊E⌋``), and ``fit``
picks the wavelet step (a few multiples of the residual step) that gives the smallest container.
With ``max_error=0`` (or a lossless budget) integer data is coded bit-exactly; floats cannot be
coded losslessly and are refused.

The decoder recomputes the inverse transform in float64; the reconstruction is the same on the
same platform (pywt's filters are deterministic), so the residual layer's bound holds on decode.
"""

from __future__ import annotations

import logging
import math
import struct

import numpy as np
from pydantic import Field, field_validator

from ratecraft.bitstream.sections import pack_sections, unpack_sections
from ratecraft.codecs.base import (
    BlockContext,
    BlockResult,
    Codec,
    CodecConfig,
    register_codec,
)
from ratecraft.codecs.ratecontrol import Knob, fit_ratio
from ratecraft.data.types import Data, as_block
from ratecraft.entropy.scale_context import decode_residuals, encode_residuals
from ratecraft.errors import BadInputError, CorruptStreamError

log = logging.getLogger(__name__)

MAX_AUTO_LEVELS = 8
_MODE = "periodization"
_FLAGS = struct.Struct("<B")  # payload version 1: flags only
_HEAD = struct.Struct("<Bd")  # version 2: flags and the chunk's step
_HAS_RESIDUAL = 1
_MAX_SCALE = 2.0**60


# ---- helpers shared by the transform codecs (wavelet, pca) ------------------------------------


def deadzone_quantize(c: np.ndarray, step: float | np.ndarray, dead_zone: float) -> np.ndarray:
    """``sign(c)·floor(|c|/step + 1/2 − dead_zone)`` as int64 (``dead_zone=0``: rounding)."""
    q = np.floor(np.abs(c) / step + (0.5 - dead_zone))
    return (np.sign(c) * np.maximum(q, 0.0)).astype(np.int64)


def deadzone_dequantize(q: np.ndarray, step: float | np.ndarray, dead_zone: float) -> np.ndarray:
    """Reconstruct inside each bin, half-way between its lower part and centre (Laplacian data)."""
    mag = np.abs(q).astype(np.float64)
    return np.sign(q) * np.where(mag > 0, mag + 0.5 * dead_zone, 0.0) * step


_FINEST_FRACTION = (
    2.0**-40
)  # a step this much finer than the data's scale is lossless in all but name


def step_knob(scale: float) -> Knob:
    """The range a transform codec's step is searched in, from the data's typical scale."""
    return Knob(scale * _FINEST_FRACTION, _MAX_SCALE)


def to_output(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float64 reconstruction → ``dtype`` (integers rounded and clipped to the dtype's range)."""
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(x), info.min, info.max).astype(dtype)
    return x.astype(dtype)


def finite_float_check(block: np.ndarray, name: str) -> None:
    if block.dtype.kind == "f" and not np.isfinite(block).all():
        raise BadInputError(f"{name}: input contains NaN or infinite values")
    if block.dtype.kind not in "iuf":
        raise BadInputError(f"{name}: cannot code {block.dtype} data")


def robust_scale(block: np.ndarray) -> float:
    """A typical sample-to-sample change, to start a step search from."""
    if block.size == 0:
        return 1.0
    x = block.astype(np.float64)
    d = np.abs(np.diff(x, axis=1)) if x.shape[1] > 1 else np.abs(x)
    return float(np.median(d)) or float(np.abs(x).max()) or 1.0


# ---- the codec ----------------------------------------------------------------------------------


class WaveletConfig(CodecConfig):
    wavelet: str = Field("db4", description="orthogonal pywt wavelet (db4, sym8, coif3, haar…)")
    levels: int | None = Field(
        None,
        ge=0,
        le=16,
        description=f"DWT levels; None = as many as fit, at most {MAX_AUTO_LEVELS}",
    )
    step: float = Field(1.0, gt=0, description="quantization step of the finest detail band")
    level_scale: float = Field(
        1.0, gt=0.05, le=4.0, description="step of detail level j (1 = finest) is step·scale^(j−1)"
    )
    dead_zone: float = Field(0.2, ge=0.0, lt=0.5, description="widens the zero bin by 2·dead_zone")
    residual_step: float = Field(
        0.0, ge=0.0, description="0: none; else the residual layer's step (|error| ≤ step/2)"
    )
    block: int = Field(64, ge=8, le=1 << 16, description="scale-context block of the ANS coder")

    @field_validator("wavelet")
    @classmethod
    def _orthogonal(cls, name: str) -> str:
        import pywt

        if name not in pywt.wavelist(kind="discrete"):
            raise ValueError(f"unknown discrete wavelet {name!r}")
        w = pywt.Wavelet(name)
        if not w.orthogonal:
            raise ValueError(f"wavelet {name!r} is not orthogonal")
        return name


@register_codec("wavelet")
class WaveletCodec(Codec):
    """Multilevel DWT + dead-zone quantization + scale-context ANS; optional bounded residual."""

    config_cls = WaveletConfig
    config: WaveletConfig
    supports_lossy = True
    version = 2  # 2: each chunk stores its step (a streamed ratio target moves it)
    chunk_knob = "step"
    budgets = ("lossless", "ratio", "max_error")

    def check_input(self, data: Data) -> None:
        finite_float_check(as_block(data), self.name)

    # ---- rate control ---------------------------------------------------------------------
    def fit_knobs(self, data: Data) -> None:
        self.check_input(data)
        block = as_block(data)
        b = self.budget
        if b.ratio is not None:
            self._set(residual_step=0.0)
            scale = robust_scale(block)
            fit_ratio(
                self, data, b.ratio, lambda s: self._set(step=s), step_knob(scale), start=scale
            )
        else:
            error = 0.0 if b.lossless else float(b.max_error or 0.0)
            rstep = self._residual_step_for(block, error)
            best: tuple[int, float] | None = None
            for k in (1.0, 2.0, 4.0, 8.0, 16.0):
                self._set(step=k * rstep, residual_step=rstep)
                size = self.encode_with_stats(data)[1].container_bytes
                if best is None or size < best[0]:
                    best = (size, k * rstep)
            assert best is not None
            self._set(step=best[1], residual_step=rstep)
        log.info("wavelet: %s -> %s", b.describe(), self.config.model_dump())

    def _residual_step_for(self, block: np.ndarray, error: float) -> float:
        if block.dtype.kind in "iu":
            return float(2 * math.floor(error) + 1)
        if error == 0.0:
            raise BadInputError(
                "wavelet: floats cannot be coded losslessly; give max_error > 0 "
                "or use a lossless codec (predictive, zstd)"
            )
        top = float(np.abs(block).max()) if block.size else 0.0
        margin = 4.0 * float(np.finfo(block.dtype).eps) * top + 1e-300
        if error <= margin:
            raise BadInputError(f"wavelet: max_error {error:g} is below the data's float precision")
        return 2.0 * (error - margin)

    # ---- transform ------------------------------------------------------------------------
    def _levels(self, frames: int) -> int:
        import pywt

        wav = pywt.Wavelet(self.config.wavelet)
        top = pywt.dwt_max_level(frames, wav.dec_len) if frames > 0 else 0
        if self.config.levels is None:
            return min(top, MAX_AUTO_LEVELS)
        return min(self.config.levels, max(top, 0))

    def _lengths(self, frames: int, levels: int) -> list[int]:
        """Coefficient counts in wavedec order: [cA_L, cD_L, …, cD_1]."""
        details = []
        n = frames
        for _ in range(levels):
            n = (n + 1) // 2  # periodization: ceil(n / 2)
            details.append(n)
        return [n, *details[::-1]]

    def _steps(self, levels: int, step: float) -> list[float]:
        s, g = step, self.config.level_scale
        detail = [s * g ** (j - 1) for j in range(levels, 0, -1)]  # cD_L … cD_1
        return [detail[0] if levels else s, *detail]

    def _forward(self, x: np.ndarray, levels: int) -> list[np.ndarray]:
        import pywt

        if levels == 0:
            return [x]
        return pywt.wavedec(x, self.config.wavelet, mode=_MODE, level=levels, axis=-1)

    def _inverse(self, coeffs: list[np.ndarray], frames: int) -> np.ndarray:
        import pywt

        if len(coeffs) == 1:
            return coeffs[0]
        return pywt.waverec(coeffs, self.config.wavelet, mode=_MODE, axis=-1)[:, :frames]

    def _wavelet_recon(self, q: np.ndarray, frames: int, levels: int, step: float) -> np.ndarray:
        bounds = np.cumsum([0, *self._lengths(frames, levels)])
        coeffs = [
            deadzone_dequantize(q[:, a:b], s, self.config.dead_zone)
            for a, b, s in zip(bounds[:-1], bounds[1:], self._steps(levels, step), strict=True)
        ]
        return self._inverse(coeffs, frames)

    # ---- blocks ---------------------------------------------------------------------------
    def encode_block(self, block: np.ndarray, ctx: BlockContext) -> BlockResult:
        frames = block.shape[1]
        x = block.astype(np.float64)
        levels = self._levels(frames)
        dz = self.config.dead_zone
        coeffs = self._forward(x, levels)
        step = self.chunk_value(ctx)
        steps = self._steps(levels, step)
        q = np.concatenate(
            [deadzone_quantize(c, s, dz) for c, s in zip(coeffs, steps, strict=True)], axis=1
        )
        coded, est = encode_residuals(q, self.config.block)
        parts = [coded]
        flags = 0
        if self.config.residual_step > 0:
            flags |= _HAS_RESIDUAL
            base = self._layer_base(self._wavelet_recon(q, frames, levels, step), block.dtype)
            r = np.rint((x - base) / self.config.residual_step).astype(np.int64)
            coded_r, est_r = encode_residuals(r, self.config.block)
            parts.append(coded_r)
            est += est_r
        payload = pack_sections([_HEAD.pack(flags, step), *parts])
        return BlockResult(payload, est + 8.0 * (len(payload) - sum(len(p) for p in parts)))

    @staticmethod
    def _layer_base(recon: np.ndarray, dtype: np.dtype) -> np.ndarray:
        return np.rint(recon) if dtype.kind in "iu" else recon

    def decode_block(self, payload: memoryview, ctx: BlockContext) -> np.ndarray:
        rows, frames, dtype = ctx.rows, ctx.frames, ctx.dtype
        view = memoryview(payload)
        want = 3 if self.config.residual_step > 0 else 2
        sections = unpack_sections(view, expect=want)
        step = self.config.step
        if ctx.codec_version >= 2:  # flags and the chunk's own step
            if len(sections[0]) != _HEAD.size:
                raise CorruptStreamError("wavelet: bad chunk head")
            flags, step = _HEAD.unpack(sections[0])
            if not (math.isfinite(step) and step > 0):
                raise CorruptStreamError("wavelet: impossible step in chunk")
        elif len(sections[0]) != _FLAGS.size:
            raise CorruptStreamError("wavelet: bad chunk flags")
        else:
            (flags,) = _FLAGS.unpack(sections[0])
        if flags != (_HAS_RESIDUAL if want == 3 else 0):
            raise CorruptStreamError("wavelet: chunk flags do not match the stream parameters")
        if dtype.kind not in "iuf":
            raise CorruptStreamError(f"wavelet: cannot decode to {dtype}")
        levels = self._levels(frames)
        total = sum(self._lengths(frames, levels)) if frames else 0
        q = decode_residuals(sections[1], rows, total, self.config.block)
        with np.errstate(all="ignore"):
            recon = self._wavelet_recon(q, frames, levels, step) if frames else np.zeros((rows, 0))
            if want == 3:
                r = decode_residuals(sections[2], rows, frames, self.config.block)
                recon = self._layer_base(recon, dtype) + r * self.config.residual_step
        if not np.isfinite(recon).all():
            raise CorruptStreamError("wavelet: decoded values are not finite")
        return to_output(recon, dtype)
