"""`pca`: Karhunen–Loève transform coding across electrodes, quantization and ANS.

Each chunk (rows × frames) is centred per row and rotated onto the eigenvectors of its
row-by-row covariance (a KLT over electrodes, fitted per chunk). The components are quantized
with one uniform step and a dead zone (the basis is orthonormal, so one step is MSE-optimal),
components whose quantized values are all zero are dropped, and each kept component is
predicted in time by an integer difference of order 0, 1 or 2 (chosen per component, lossless
on the integers) before scale-context ANS coding. The basis (float32, rows × kept components)
and the row means (float32) are stored in every chunk and count in the real size.

Rate control: ``Budget(ratio=R)`` searches the finest step whose real container meets R. A
maximum error is not guaranteed by transform quantization, so ``max_error`` and lossless
budgets are refused (use `quant`, `wavelet` or `sz3` for a bound).
"""

from __future__ import annotations

import logging
import math
import struct

import numpy as np
from pydantic import Field

from ratecraft.bitstream.sections import array_from, pack_sections, unpack_sections
from ratecraft.codecs.base import (
    BlockContext,
    BlockResult,
    Codec,
    CodecConfig,
    register_codec,
)
from ratecraft.codecs.classical.wavelet import (
    deadzone_dequantize,
    deadzone_quantize,
    finite_float_check,
    robust_scale,
    step_knob,
    to_output,
)
from ratecraft.codecs.ratecontrol import fit_ratio
from ratecraft.data.types import Data, as_block
from ratecraft.entropy.scale_context import decode_residuals, encode_residuals
from ratecraft.errors import BadInputError, CorruptStreamError

log = logging.getLogger(__name__)

_HEAD_V1 = struct.Struct("<I")  # payload version 1: components
_HEAD = struct.Struct("<Id")  # version 2: components and the chunk's step
_MAX_ORDER = 2


class PcaConfig(CodecConfig):
    step: float = Field(1.0, gt=0, description="quantization step of the components")
    max_components: int | None = Field(
        None, ge=1, description="keep at most this many components (None: all that are nonzero)"
    )
    dead_zone: float = Field(0.2, ge=0.0, lt=0.5, description="widens the zero bin by 2·dead_zone")
    temporal: bool = Field(True, description="predict each component in time (order 0–2)")
    block: int = Field(64, ge=8, le=1 << 16, description="scale-context block of the ANS coder")


def _predict(q: np.ndarray, order: int) -> np.ndarray:
    r = q
    for _ in range(order):
        r = np.diff(r, axis=-1, prepend=0)
    return r


def _unpredict(r: np.ndarray, order: int) -> np.ndarray:
    q = r
    for _ in range(order):
        q = np.cumsum(q, axis=-1)
    return q


@register_codec("pca")
class PcaCodec(Codec):
    """Per-chunk KLT over rows (electrodes) + dead-zone quantization + temporal DPCM + ANS."""

    config_cls = PcaConfig
    config: PcaConfig
    supports_lossy = True
    version = 2  # 2: each chunk stores its step (a streamed ratio target moves it)
    chunk_knob = "step"
    budgets = ("ratio",)

    def check_input(self, data: Data) -> None:
        finite_float_check(as_block(data), self.name)

    def fit_knobs(self, data: Data) -> None:
        if self.budget.ratio is None:
            raise BadInputError(
                f"pca: only ratio budgets are supported ({self.budget.describe()} given); "
                "transform quantization bounds no error, use quant, wavelet or sz3 for max_error"
            )
        self.check_input(data)
        scale = robust_scale(as_block(data))
        step = fit_ratio(
            self,
            data,
            self.budget.ratio,
            lambda s: self._set(step=s),
            step_knob(scale),
            start=scale,
        )
        log.info("pca: %s -> step %.4g", self.budget.describe(), step)

    # ---- blocks ---------------------------------------------------------------------------
    def encode_block(self, block: np.ndarray, ctx: BlockContext) -> BlockResult:
        rows, frames = block.shape
        x = block.astype(np.float64)
        mean = x.mean(axis=1).astype(np.float32) if frames else np.zeros(rows, np.float32)
        xc = x - mean.astype(np.float64)[:, None]
        # einsum, not xc @ xc.T: multithreaded OpenBLAS syrk can stall on this shape (seconds)
        cov = np.einsum("it,jt->ij", xc, xc) / max(frames, 1)
        evals, evecs = np.linalg.eigh(cov)
        basis = evecs[:, np.argsort(evals)[::-1]].astype(np.float32)
        if self.config.max_components is not None:
            basis = basis[:, : self.config.max_components]
        y = basis.astype(np.float64).T @ xc
        step = self.chunk_value(ctx)
        q = deadzone_quantize(y, step, self.config.dead_zone)
        nonzero = np.flatnonzero(np.any(q != 0, axis=1))
        k = int(nonzero[-1]) + 1 if nonzero.size else 0
        q, basis = q[:k], basis[:, :k]
        orders = np.zeros(k, dtype=np.uint8)
        if self.config.temporal and k:
            costs = np.stack(
                [np.abs(_predict(q, o)).sum(axis=1) for o in range(_MAX_ORDER + 1)], axis=0
            )
            orders = np.argmin(costs, axis=0).astype(np.uint8)
        r = np.empty_like(q)
        for o in range(_MAX_ORDER + 1):
            sel = orders == o
            if sel.any():
                r[sel] = _predict(q[sel], o)
        coded, est = encode_residuals(r, self.config.block)
        side = [
            _HEAD.pack(k, step),
            mean.astype("<f4").tobytes(),
            np.ascontiguousarray(basis, dtype="<f4").tobytes(),
            orders.tobytes(),
        ]
        payload = pack_sections([*side, coded])
        return BlockResult(payload, est + 8.0 * (len(payload) - len(coded)))

    def decode_block(self, payload: memoryview, ctx: BlockContext) -> np.ndarray:
        rows, frames, dtype = ctx.rows, ctx.frames, ctx.dtype
        head, mean_b, basis_b, orders_b, coded = unpack_sections(payload, expect=5)
        step = self.config.step
        if ctx.codec_version >= 2:  # components and the chunk's own step
            if len(head) != _HEAD.size:
                raise CorruptStreamError("pca: bad chunk header")
            k, step = _HEAD.unpack(head)
            if not (math.isfinite(step) and step > 0):
                raise CorruptStreamError("pca: impossible step in chunk")
        elif len(head) != _HEAD_V1.size:
            raise CorruptStreamError("pca: bad chunk header")
        else:
            (k,) = _HEAD_V1.unpack(head)
        if k > rows:
            raise CorruptStreamError(f"pca: {k} components for {rows} rows")
        if dtype.kind not in "iuf":
            raise CorruptStreamError(f"pca: cannot decode to {dtype}")
        mean = array_from(mean_b, "<f4", rows, "pca means").astype(np.float64)
        basis = array_from(basis_b, "<f4", rows * k, "pca basis").astype(np.float64)
        orders = array_from(orders_b, "u1", k, "pca predictor orders")
        if not (np.isfinite(mean).all() and np.isfinite(basis).all()):
            raise CorruptStreamError("pca: basis or means are not finite")
        if orders.size and int(orders.max()) > _MAX_ORDER:
            raise CorruptStreamError("pca: bad predictor order")
        r = decode_residuals(coded, k, frames, self.config.block)
        q = np.empty_like(r)
        for o in range(_MAX_ORDER + 1):
            sel = orders == o
            if sel.any():
                q[sel] = _unpredict(r[sel], o)
        with np.errstate(all="ignore"):
            y = deadzone_dequantize(q, step, self.config.dead_zone)
            recon = basis.reshape(rows, k) @ y + mean[:, None]
        if not np.isfinite(recon).all():
            raise CorruptStreamError("pca: decoded values are not finite")
        return to_output(recon, dtype)
