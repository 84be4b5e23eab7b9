"""Write a PyTorch module as one self-contained ONNX file (the ``export`` extra).

One exporter for everything that needs ONNX: the ``onnxrt`` shrink step and
:func:`ratecraft.export.export_encoder`. The dynamo exporter is asked for a dynamic batch and
falls back to a fixed shape for models whose batch does not trace symbolically; weights stay in
the file (no side ``.data`` file an artifact could lose).
"""

from __future__ import annotations

import importlib
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ratecraft.errors import MissingExtraError

__all__ = ["OPSET", "need", "onnx_export"]

log = logging.getLogger(__name__)

OPSET = 18


def need(module: str) -> Any:
    """Import ``module`` of the ``export`` extra, or say which extra is missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(module, "export") from None


def onnx_export(
    module: nn.Module, example: Tensor, path: Path, *, output_name: str = "y", opset: int = OPSET
) -> bool:
    """Write ``module`` to ``path`` with the dynamo exporter; True when the batch is dynamic.

    The exporter's progress lines are turned off and its warnings about torch internals kept
    out of the caller's output.
    """
    need("onnx")
    need("onnxscript")
    common = {
        "input_names": ["x"],
        "output_names": [output_name],
        "opset_version": opset,
        "dynamo": True,
        "verbose": False,
        "external_data": False,
    }  # fmt: skip  (one self-contained file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            batch = torch.export.Dim("batch", min=1, max=1 << 20)
            torch.onnx.export(module, (example,), str(path), dynamic_shapes=({0: batch},), **common)
            return True
        except Exception as exc:  # the batch may not be symbolic for every model: fix it
            log.info("dynamic-batch ONNX export failed (%s); exporting a fixed shape", exc)
            torch.onnx.export(module, (example,), str(path), **common)
            return False
