"""`quant`: the lossy baseline — closed-loop predictive quantization with rANS.

Samples become integers (integer data as is; floats on a grid ``g``), are predicted by the
same per-block integer LPC as `predictive`, and the prediction error is quantized with an odd
or even integer ``step`` in closed loop, so every reconstructed sample is within ``step // 2``
grid units of the original. ``fit`` picks the step: from a maximum absolute error directly, or
by searching for the finest step whose real container meets a target ratio.
"""

from __future__ import annotations

import logging
import math
import struct

import numpy as np
from pydantic import Field

from ratecraft.codecs.base import (
    BlockContext,
    BlockResult,
    Codec,
    register_codec,
)
from ratecraft.codecs.budget import Budget
from ratecraft.codecs.classical.alphabet import MAX_ABS_INT, integerize
from ratecraft.codecs.classical.dpcm import decode_ints, encode_ints
from ratecraft.codecs.classical.predictive import PredictiveConfig
from ratecraft.codecs.ratecontrol import Knob, fit_ratio
from ratecraft.data.types import Data, as_block
from ratecraft.errors import BadInputError, CorruptStreamError

log = logging.getLogger(__name__)

_FINE_GRID_DIVISOR = 8.0  # off-grid floats: grid = max_error / 8, so rounding costs ≤ 1/16
_MAX_STEP = 1 << 30
_STEP = struct.Struct("<Q")


class QuantConfig(PredictiveConfig):
    step: int = Field(1, ge=1, le=_MAX_STEP, description="quantization step in grid units")
    grid: float | None = Field(None, gt=0, description="float samples are coded as k · grid")


@register_codec("quant")
class QuantCodec(Codec):
    """Near-lossless / rate-controlled DPCM quantization with scale-context rANS."""

    config_cls = QuantConfig
    config: QuantConfig
    supports_lossy = True
    version = 3  # 2: each chunk stores its step (a streamed ratio target moves it); 3: rANS
    parallel_decode = True  # rANS, prediction loops and numba release the GIL
    parallel_encode = True
    chunk_knob = "step"
    budgets = ("lossless", "ratio", "max_error")

    def check_input(self, data: Data) -> None:
        block = as_block(data)
        if block.dtype.kind == "f" and not np.isfinite(block).all():
            raise BadInputError("quant: input contains NaN or infinite values")

    # ---- rate control ---------------------------------------------------------------------
    def fit_knobs(self, data: Data) -> None:
        self.check_input(data)
        block = as_block(data)
        grid = self._grid_for(block, self.budget)
        if self.budget.lossless:
            self._set(step=1, grid=grid)
        elif self.budget.max_error is not None:
            self._set(
                step=self._step_for_error(self.budget.max_error, grid, block.dtype), grid=grid
            )
        else:
            assert self.budget.ratio is not None
            self._set(step=self._search_step(data, self.budget.ratio, grid), grid=grid)
        log.info(
            "quant: %s -> step %d, grid %s",
            self.budget.describe(),
            self.config.step,
            self.config.grid,
        )

    @staticmethod
    def _grid_for(block: np.ndarray, budget: Budget) -> float | None:
        if block.dtype.kind in "iu" or block.size == 0:
            return None
        found = integerize(block)
        if found is not None and found[1].mode == "grid":
            return found[1].step
        if budget.max_error is not None:
            if budget.max_error == 0:
                raise BadInputError(
                    "quant: max_error=0 on floats off any grid; use --lossless "
                    "with a lossless codec"
                )
            return budget.max_error / _FINE_GRID_DIVISOR
        if budget.lossless:
            raise BadInputError(
                "quant: floats off any grid cannot be coded losslessly; use the predictive codec"
            )
        scale = float(np.median(np.abs(np.diff(block, axis=1)))) if block.shape[1] > 1 else 0.0
        scale = scale or float(np.abs(block).max()) or 1.0
        return scale * 2.0**-12

    @staticmethod
    def _step_for_error(max_error: float, grid: float | None, dtype: np.dtype) -> int:
        if grid is None:  # integer data: error ≤ step // 2 steps
            return min(2 * math.floor(max_error) + 1, _MAX_STEP)
        # grid rounding may already cost grid / 2 for off-grid floats; keep the sum ≤ max_error
        slack = max_error / grid - (0.5 if dtype.kind == "f" else 0.0)
        return min(max(2 * math.floor(slack) + 1, 1), _MAX_STEP)

    def _search_step(self, data: Data, target: float, grid: float | None) -> int:
        """Finest step whose real container meets ``target`` (:func:`fit_ratio`)."""
        step = fit_ratio(
            self,
            data,
            target,
            lambda s: self._set(step=int(s), grid=grid),
            Knob(1, _MAX_STEP, integer=True),
            start=1,
            what="quant",
        )
        return int(step)

    # ---- blocks ---------------------------------------------------------------------------
    def _to_ints(self, block: np.ndarray) -> np.ndarray:
        if self.config.grid is None:
            if block.dtype.kind == "f":
                raise BadInputError("quant: float data needs fit() first (it picks a grid)")
            ints = block.astype(np.int64)
        else:
            ints = np.rint(block.astype(np.float64) / self.config.grid)
        if ints.size and np.abs(ints).max() > MAX_ABS_INT:
            raise BadInputError("quant: values exceed the coder's integer range at this grid")
        return ints.astype(np.int64)

    def encode_block(self, block: np.ndarray, ctx: BlockContext) -> BlockResult:
        step = int(self.chunk_value(ctx))
        body, est, _ = encode_ints(self._to_ints(block), step, self.config.settings(), "rans")
        return BlockResult(_STEP.pack(step) + body, est + 8.0 * _STEP.size)

    def decode_block(self, payload: memoryview, ctx: BlockContext) -> np.ndarray:
        rows, frames, dtype = ctx.rows, ctx.frames, ctx.dtype
        step = self.config.step
        if ctx.codec_version >= 2:  # the chunk's own step
            if len(payload) < _STEP.size:
                raise CorruptStreamError("quant: chunk too short for its step")
            (step,) = _STEP.unpack(payload[: _STEP.size])
            if not 1 <= step <= _MAX_STEP:
                raise CorruptStreamError(f"quant: impossible step {step} in chunk")
            payload = payload[_STEP.size :]
        coder = "rans" if ctx.codec_version >= 3 else "ans"
        ints = decode_ints(payload, rows, frames, step, self.config.settings(), coder)
        if self.config.grid is None:
            if dtype.kind == "f":
                raise CorruptStreamError("quant stream of float data has no grid")
            info = np.iinfo(dtype)
            return np.clip(ints, info.min, info.max).astype(dtype)
        return (ints.astype(np.float64) * self.config.grid).astype(dtype)
