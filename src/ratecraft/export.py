"""Export a trained codec's encoder to ONNX or TorchScript, with a parity check.

The encoder is the one :func:`ratecraft.codecs.learned.encoder_view.encoder_for` gives (the
codec's normalized inputs to its continuous latents); ONNX files are written by
:func:`ratecraft.shrink.onnx_file.onnx_export`, the exporter the ``onnxrt`` step uses too.

:func:`export_encoder` writes the file atomically, runs it (onnxruntime, or ``torch.jit.load``)
on a seeded normalized batch, compares it with the PyTorch latents and writes ``export.json``
beside it: format, input shape, tolerance, measured max |difference| and whether the rounded
latents agree (a value within the tolerance of a rounding boundary may round either way and is
not counted against the export). A failed check removes the file and raises.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from ratecraft.atomic import atomic_write
from ratecraft.codecs.base import Codec
from ratecraft.codecs.learned.encoder_view import encoder_for
from ratecraft.errors import BadInputError, RatecraftError
from ratecraft.shrink.onnx_file import OPSET, need, onnx_export

__all__ = ["ExportReport", "export_encoder"]

log = logging.getLogger(__name__)

Format = Literal["onnx", "torchscript"]
FORMATS: tuple[str, ...] = ("onnx", "torchscript")
DEFAULT_TOLERANCE = 1e-4


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


def _export_onnx(module: nn.Module, x: Tensor, path: Path) -> tuple[np.ndarray, bool, str]:
    """Write ``path`` (dynamic batch where it traces) and run it in ONNX Runtime."""
    ort = need("onnxruntime")
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
            need(mod)
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
        opset=OPSET if fmt == "onnx" else None,
        onnxruntime_version=ort_version,
    )
    atomic_write(out.parent / "export.json", json.dumps(asdict(report), indent=2).encode())
    log.info("exported %s encoder to %s (max |diff| %.3g)", codec.name, out, diff)
    return report
