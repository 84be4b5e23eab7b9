"""Export a trained codec's encoder to ONNX or TorchScript, with a parity check.

The contract: a learned codec exposes ``encoder_module() -> torch.nn.Module`` mapping a float32
tensor of *normalized* inputs to its continuous latents (before rounding or vector
quantization). The recording codecs take ``(batch, channels, window)``. The learned table codecs
(``adaptive-bottleneck``, ``grouped-vae``, ``vqvae``) predate the contract, so
:func:`encoder_for` builds the equivalent module from their trained submodules: each branch or
category encoder applied to its own columns of a ``(batch, features)`` input, outputs
concatenated in the model's branch order — exactly what the codec computes before its
entropy bottleneck or residual quantizers.

:func:`export_encoder` writes the file atomically, runs it (onnxruntime, or ``torch.jit.load``)
on a seeded normalized batch, compares it with the PyTorch latents and writes ``export.json``
beside it: format, input shape, tolerance, measured max |difference| and whether the rounded
latents agree (a value within the tolerance of a rounding boundary may round either way and is
not counted against the export). A failed check removes the file and raises.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from ratecraft.atomic import atomic_write
from ratecraft.codecs.base import Codec
from ratecraft.errors import BadInputError, MissingExtraError, RatecraftError

__all__ = ["ExportReport", "TableEncoder", "encoder_for", "export_encoder", "onnx_export"]

log = logging.getLogger(__name__)

Format = Literal["onnx", "torchscript"]
FORMATS: tuple[str, ...] = ("onnx", "torchscript")
DEFAULT_TOLERANCE = 1e-4
_OPSET = 18


class TableEncoder(nn.Module):
    """Branch encoders on their own feature columns, concatenated: ``(batch, F) → (batch, D)``."""

    def __init__(self, encoders: list[nn.Module], columns: list[list[int]], n_features: int):
        super().__init__()
        self.encoders = nn.ModuleList(encoders)
        self.n_features = n_features
        for i, cols in enumerate(columns):  # buffers: traced as constants, no Python lists
            self.register_buffer(f"cols{i}", torch.tensor(cols, dtype=torch.long), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        outs = [
            enc(torch.index_select(x, 1, getattr(self, f"cols{i}")))
            for i, enc in enumerate(self.encoders)
        ]
        return torch.cat(outs, dim=1)


def encoder_for(codec: Codec, batch: int = 4) -> tuple[nn.Module, tuple[int, ...]]:
    """The trained codec's encoder (eval mode) and an example input shape for ``batch`` items."""
    if batch < 1:
        raise BadInputError(f"batch must be at least 1, got {batch}")
    if hasattr(codec, "encoder_module"):
        module = codec.encoder_module()
        layout = getattr(codec, "layout", None) or {}
        channels = layout.get("n_channels") if isinstance(layout, dict) else None
        window = getattr(codec.config, "window", None)
        if channels is None or window is None:
            raise BadInputError(f"{codec.name}: cannot tell the encoder's input shape")
        return module.eval(), (batch, int(channels), int(window))
    model = getattr(codec, "model", None)
    if model is None:
        raise BadInputError(f"{codec.name} has no neural encoder to export (not learned/fitted)")
    if hasattr(model, "encoders") and hasattr(model, "columns"):  # BranchedBottleneck
        encoders = list(model.encoders)
    elif hasattr(model, "categories") and hasattr(model, "columns"):  # HierarchicalVQ
        encoders = [cat.encoder for cat in model.categories]
    else:
        raise BadInputError(f"{codec.name}: no encoder adapter for {type(model).__name__}")
    module = TableEncoder(encoders, model.columns, int(model.n_features))
    return module.eval(), (batch, int(model.n_features))


@dataclass
class ExportReport:
    """What :func:`export_encoder` wrote and measured (also saved as ``export.json``)."""

    format: str
    codec: str
    model_dir: str
    output: str
    input_name: str
    input_shape: list[int]
    output_shape: list[int]
    dynamic_batch: bool
    tolerance: float
    max_abs_diff: float
    rounded_agree: bool
    rounded_mismatches: int
    parity_ok: bool
    file_bytes: int
    torch_version: str
    opset: int | None = None
    onnxruntime_version: str | None = None


def _need(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(module, "export") from None


def onnx_export(
    module: nn.Module, example: Tensor, path: Path, *, output_name: str = "y", opset: int = _OPSET
) -> bool:
    """Write ``module`` to ``path`` with the dynamo exporter; True when the batch is dynamic.

    The exporter prints its progress on stdout and warns about torch internals; both are kept
    out of the caller's output.
    """
    _need("onnx")
    _need("onnxscript")
    common = {
        "input_names": ["x"],
        "output_names": [output_name],
        "opset_version": opset,
        "dynamo": True,
        "external_data": False,
    }  # fmt: skip  (one self-contained file)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            batch = torch.export.Dim("batch", min=1, max=1 << 20)
            torch.onnx.export(module, (example,), str(path), dynamic_shapes=({0: batch},), **common)
            return True
        except Exception as exc:  # the batch may not be symbolic for every model: fix it
            log.info("dynamic-batch ONNX export failed (%s); exporting a fixed shape", exc)
            torch.onnx.export(module, (example,), str(path), **common)
            return False


def _export_onnx(module: nn.Module, x: Tensor, path: Path) -> tuple[np.ndarray, bool, str]:
    """Write ``path`` (dynamic batch where it traces) and run it in ONNX Runtime."""
    ort = _need("onnxruntime")
    dynamic = onnx_export(module, x, path, output_name="latents")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    out = sess.run(None, {name: x.numpy()})[0]
    return np.asarray(out), dynamic, str(ort.__version__)


def _export_torchscript(module: nn.Module, x: Tensor, path: Path) -> np.ndarray:
    with torch.no_grad():
        traced = torch.jit.trace(module, (x,), check_trace=False)
    traced.save(str(path))
    loaded = torch.jit.load(str(path))
    with torch.no_grad():
        return loaded(x).numpy()


def _rounding_mismatches(ref: np.ndarray, got: np.ndarray, tol: float) -> int:
    """Rounded values that differ where the reference is not within ``tol`` of a .5 boundary."""
    differ = np.rint(ref) != np.rint(got)
    near_edge = np.abs(np.abs(ref - np.floor(ref)) - 0.5) <= tol
    return int(np.count_nonzero(differ & ~near_edge))


def export_encoder(
    model_dir: str | Path,
    fmt: str,
    output: str | Path,
    *,
    batch: int = 4,
    tolerance: float = DEFAULT_TOLERANCE,
    seed: int = 0,
) -> ExportReport:
    """Export the encoder of the codec saved in ``model_dir`` to ``output`` and check parity."""
    if fmt not in FORMATS:
        raise BadInputError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not (tolerance > 0 and np.isfinite(tolerance)):
        raise BadInputError(f"tolerance must be a positive number, got {tolerance}")
    out = Path(output)
    if not out.parent.is_dir():
        raise BadInputError(f"{out}: folder {out.parent} does not exist")
    if fmt == "onnx":  # fail before any work when the extra is missing
        for mod in ("onnx", "onnxscript", "onnxruntime"):
            _need(mod)
    codec = Codec.load(model_dir)
    module, shape = encoder_for(codec, batch)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float32)
    with torch.no_grad():
        ref = module(x).numpy()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        dynamic, ort_version = False, None
        if fmt == "onnx":
            got, dynamic, ort_version = _export_onnx(module, x, tmp)
        else:
            got = _export_torchscript(module, x, tmp)
        if got.shape != ref.shape:
            raise RatecraftError(f"exported encoder gives shape {got.shape}, PyTorch {ref.shape}")
        diff = float(np.max(np.abs(got.astype(np.float64) - ref))) if ref.size else 0.0
        mismatches = _rounding_mismatches(ref.astype(np.float64), got.astype(np.float64), tolerance)
        ok = diff <= tolerance and mismatches == 0
        if not ok:
            raise RatecraftError(
                f"{fmt} export of {codec.name} fails parity: max |diff| {diff:.3g} "
                f"(tolerance {tolerance:g}), {mismatches} rounded latents differ"
            )
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    report = ExportReport(
        format=fmt,
        codec=codec.name,
        model_dir=str(model_dir),
        output=str(out),
        input_name="x",
        input_shape=list(shape),
        output_shape=list(ref.shape),
        dynamic_batch=dynamic,
        tolerance=tolerance,
        max_abs_diff=diff,
        rounded_agree=mismatches == 0,
        rounded_mismatches=mismatches,
        parity_ok=ok,
        file_bytes=out.stat().st_size,
        torch_version=torch.__version__,
        opset=_OPSET if fmt == "onnx" else None,
        onnxruntime_version=ort_version,
    )
    atomic_write(out.parent / "export.json", json.dumps(asdict(report), indent=2).encode())
    log.info("exported %s encoder to %s (max |diff| %.3g)", codec.name, out, diff)
    return report
