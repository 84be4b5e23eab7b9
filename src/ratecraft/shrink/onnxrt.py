"""The ``onnxrt`` shrink step: export to ONNX and quantize with ``onnxruntime.quantization``.

ONNX Runtime has int8 kernels for convolutions and matrix products on this CPU (VNNI), where
torchao quantizes ``nn.Linear`` only and eager int8 in PyTorch is slower than fp32. The step
exports the model with the dynamo exporter (dynamic batch where it traces), then:

- ``quantize: none`` — the fp32 graph (to tell the runtime's gain from int8's);
- ``quantize: dynamic`` — ``quantize_dynamic``: int8 weights, activations quantized at run time
  (``MatMulInteger`` / ``ConvInteger``);
- ``quantize: static`` — ``quantize_static``: int8 weights and activations, the activation
  ranges calibrated on the step's calibration batches (for a codec encoder: its own training
  windows or rows), QDQ format, per-channel weights by default.

The result is an :class:`OrtModule`: the ONNX bytes run by an ``InferenceSession`` on a fixed
number of threads, callable like the module it came from (one tensor in, one out). It is saved
as ``model.onnx`` in the artifact. :meth:`OrtModule.float_weights` dequantizes the int8
initializers back to float arrays named like the PyTorch parameters they came from, so a codec
folder can take the int8 weights of its shrunk encoder. Needs the ``export`` extra.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import Tensor, nn

from ratecraft.errors import BadInputError, MissingExtraError
from ratecraft.shrink.runtime import RuntimeModule, register_runtime
from ratecraft.shrink.steps import Calibration, Step, StepConfig, model_bytes, register_step

__all__ = ["OnnxRtConfig", "OnnxRtStep", "OrtModule", "dequantized_initializers"]

log = logging.getLogger(__name__)


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise MissingExtraError("onnxruntime", "export") from None
    return onnxruntime


class OrtModule(RuntimeModule):
    """An ONNX graph run by ONNX Runtime, called like a one-input, one-output module."""

    kind = "onnx"
    suffix = ".onnx"

    def __init__(self, file: str | Path, *, threads: int = 1) -> None:
        super().__init__(Path(file))
        ort = _ort()
        self.threads = int(threads)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(self.file), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BadInputError(f"{self.file}: ONNX Runtime cannot load it ({exc})") from None
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, x: Tensor) -> Tensor:
        arr = np.ascontiguousarray(torch.as_tensor(x).detach().float().numpy())
        return torch.from_numpy(self.session.run(None, {self.input_name: arr})[0])

    def options(self) -> dict[str, Any]:
        return {"threads": self.threads}

    def _initializers(self) -> dict[str, np.ndarray]:
        from onnx import numpy_helper

        graph = self._onnx().graph
        return {i.name: numpy_helper.to_array(i) for i in graph.initializer}

    def logical_parameters(self) -> int:
        init = self._initializers()
        weights = self.float_weights()
        unmapped = [
            a.size
            for k, a in init.items()
            if k.endswith("_quantized") and k[: -len("_quantized")] not in weights
            and k[: -len("_Transposed_quantized")] not in weights
        ]  # fmt: skip
        return int(sum(a.size for a in weights.values()) + sum(unmapped))

    def float_weights(self) -> dict[str, np.ndarray]:
        """Every weight of the graph as float, named like the exported module's parameters."""
        return dequantized_initializers(self._onnx())

    def _onnx(self) -> Any:
        import onnx

        return onnx.load(str(self.file))


def dequantized_initializers(model: Any) -> dict[str, np.ndarray]:
    """Float initializers of an ONNX model, int8 ones dequantized (``(q − zp) · scale``).

    ``onnxruntime.quantization`` names a quantized weight ``W_quantized`` with ``W_scale`` and
    ``W_zero_point`` (QDQ, the axis on its ``DequantizeLinear``), or ``W_Transposed_quantized``
    for a ``MatMulInteger`` weight stored transposed; biases ``B_quantized`` with
    ``B_quantized_scale``. Scale and zero-point tensors themselves are not weights.
    """
    from onnx import numpy_helper

    init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    axes = {
        n.input[0]: next((a.i for a in n.attribute if a.name == "axis"), 1)
        for n in model.graph.node
        if n.op_type == "DequantizeLinear"
    }
    out: dict[str, np.ndarray] = {}
    helpers = set()
    for name, q in init.items():
        if not name.endswith("_quantized"):
            continue
        base = name[: -len("_quantized")]
        scale = init.get(f"{base}_scale", init.get(f"{name}_scale"))
        zero = init.get(f"{base}_zero_point", init.get(f"{name}_zero_point"))
        if scale is None:
            continue
        helpers |= {f"{base}_scale", f"{base}_zero_point", f"{name}_scale", f"{name}_zero_point"}
        zp = np.zeros_like(scale) if zero is None else zero.astype(np.float64)
        w = _dequantize(q, scale, zp, axes.get(name), base.endswith("_Transposed"))
        if w is None:
            log.info("%s: scales do not fit its shape; left out of the float weights", name)
            continue
        if base.endswith("_Transposed"):
            base, w = base[: -len("_Transposed")], w.T
        out[base] = np.asarray(w, dtype=np.float32)
    for name, arr in init.items():
        if name.endswith(("_quantized", "_scale", "_zero_point")) or name in helpers or name in out:
            continue  # activation scales and zero points are quantizer state, not weights
        if arr.dtype.kind == "f":
            out[name] = np.asarray(arr, dtype=np.float32)
    return out


def _dequantize(
    q: np.ndarray, scale: np.ndarray, zp: np.ndarray, axis: int | None, transposed: bool
) -> np.ndarray | None:
    """``(q − zp) · scale`` with per-tensor or per-axis scales; None when they do not fit."""
    x = q.astype(np.float64)
    if scale.size == 1:
        return (x - zp.reshape(-1)[0]) * float(scale.reshape(-1)[0])
    axes = [axis] if axis is not None else []
    axes += [q.ndim - 1] if transposed else []
    axes += [a for a in range(q.ndim) if a not in axes]
    for a in axes:
        if a < q.ndim and q.shape[a] == scale.size:
            shape = [1] * q.ndim
            shape[a] = scale.size
            return (x - zp.reshape(shape)) * scale.astype(np.float64).reshape(shape)
    return None


@register_runtime("onnx")
def _open(path: Path, options: dict[str, Any]) -> OrtModule:
    return OrtModule(path, threads=int(options.get("threads", 1)))


class OnnxRtConfig(StepConfig):
    """How to quantize in ONNX Runtime (see module doc) and on how many threads to run."""

    quantize: Literal["none", "dynamic", "static"] = "static"
    per_channel: bool = True
    calibrate: Literal["minmax", "entropy", "percentile"] = "minmax"
    activations: Literal["uint8", "int8"] = "uint8"
    calib_batches: int = Field(default=16, ge=1, description="calibration batches for static")
    threads: int = Field(default=1, ge=1, le=256)


class _Reader:
    """``CalibrationDataReader`` over the calibration batches (float32 numpy)."""

    def __init__(self, batches: list[Tensor], name: str) -> None:
        self.items = iter([{name: b.detach().float().numpy()} for b in batches])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.items, None)


@register_step("onnxrt")
class OnnxRtStep(Step):
    """Export to ONNX and run in ONNX Runtime, fp32 or int8 (dynamic / static)."""

    config_cls: ClassVar[type[StepConfig]] = OnnxRtConfig
    needs_extra: ClassVar[tuple[tuple[str, str], ...]] = (
        ("onnx", "export"),
        ("onnxscript", "export"),
        ("onnxruntime", "export"),
    )
    needs_calibration: ClassVar[bool] = True  # an example batch at least; static calibrates
    terminal: ClassVar[bool] = True

    def apply(self, model: nn.Module, config: Any, calib: Calibration | None) -> nn.Module:
        from onnxruntime.quantization import (
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_dynamic,
            quantize_static,
        )

        cfg: OnnxRtConfig = config
        assert calib is not None
        example = calib.example
        if not isinstance(example, Tensor):
            raise BadInputError("step onnxrt takes models with one tensor input")
        if any(type(p).__name__ not in ("Tensor", "Parameter") for p in model.parameters()):
            raise BadInputError("step onnxrt needs float weights; it quantizes in ONNX Runtime")
        work = tempfile.TemporaryDirectory(prefix="ratecraft-onnx-")
        folder = Path(work.name)
        fp32 = folder / "fp32.onnx"
        model.eval()
        from ratecraft.shrink.onnx_file import onnx_export

        onnx_export(model, example.float(), fp32)
        out = fp32
        if cfg.quantize == "dynamic":
            out = folder / "int8-dynamic.onnx"
            quantize_dynamic(
                str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=cfg.per_channel
            )
        elif cfg.quantize == "static":
            out = folder / "int8-static.onnx"
            prepared = folder / "prepared.onnx"
            try:
                from onnxruntime.quantization.shape_inference import quant_pre_process

                quant_pre_process(str(fp32), str(prepared))
            except Exception as exc:  # optional optimisation; quantization works without it
                log.info("ONNX pre-processing skipped: %s", exc)
                prepared = fp32
            batches = list(calib.inputs)[: cfg.calib_batches]
            method = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
            quantize_static(
                str(prepared),
                str(out),
                _Reader(batches, "x"),
                quant_format=QuantFormat.QDQ,
                per_channel=cfg.per_channel,
                weight_type=QuantType.QInt8,
                activation_type=QuantType.QUInt8 if cfg.activations == "uint8" else QuantType.QInt8,
                calibrate_method=getattr(CalibrationMethod, method[cfg.calibrate]),
            )
        runtime = OrtModule(out, threads=cfg.threads)
        runtime._workdir = work  # the file lives as long as the module
        log.info("onnxrt (%s): %d bytes", cfg.quantize, out.stat().st_size)
        return runtime

    def memory_estimate(self, model: nn.Module, config: Any, calib: Calibration | None) -> int:
        return 3 * model_bytes(model) + (calib.nbytes() if calib is not None else 0)
