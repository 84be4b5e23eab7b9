"""llama.cpp's own quantizer (through llama-cpp-python) and the importance matrix it can use.

:func:`quantize_gguf` calls ``llama_model_quantize`` on a GGUF file — the same code as the
``llama-quantize`` tool — for a target such as ``Q8_0``, ``Q5_K_M``, ``Q4_K_M``, ``Q4_1`` or
``Q4_0``, optionally with another type for the token embedding (which, when the output head is
tied to it, is the output matrix too) and with an importance matrix. Tensors already in the
target type are copied untouched, so weights a calibrated step wrote in their own grid stay as
they are while the rest is quantized.

:func:`importance_matrix` computes that matrix the way llama.cpp's ``imatrix`` tool does: for
every weight matrix, the mean over calibration tokens of the squared input activations, one
value per input column, keyed by the GGUF tensor name. llama.cpp then weights each block's
rounding error by it. The binding takes it as an array of ``llama_model_imatrix_data``.

Needs ``llama-cpp-python`` (the ``gguf`` extra).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ratecraft.errors import BadInputError, MissingExtraError

__all__ = ["GGUF_TYPES", "importance_matrix", "llama_cpp_module", "quantize_gguf"]

log = logging.getLogger(__name__)

# target name -> (llama_ftype member, ggml_type member of a single tensor)
GGUF_TYPES = {
    "F16": ("MOSTLY_F16", "F16"),
    "Q8_0": ("MOSTLY_Q8_0", "Q8_0"),
    "Q6_K": ("MOSTLY_Q6_K", "Q6_K"),
    "Q5_K_M": ("MOSTLY_Q5_K_M", "Q5_K"),
    "Q5_K_S": ("MOSTLY_Q5_K_S", "Q5_K"),
    "Q5_1": ("MOSTLY_Q5_1", "Q5_1"),
    "Q5_0": ("MOSTLY_Q5_0", "Q5_0"),
    "Q4_K_M": ("MOSTLY_Q4_K_M", "Q4_K"),
    "Q4_K_S": ("MOSTLY_Q4_K_S", "Q4_K"),
    "Q4_1": ("MOSTLY_Q4_1", "Q4_1"),
    "Q4_0": ("MOSTLY_Q4_0", "Q4_0"),
    "IQ4_NL": ("MOSTLY_IQ4_NL", "IQ4_NL"),
}


def llama_cpp_module() -> Any:
    """``llama_cpp`` or the install hint."""
    try:
        import llama_cpp
    except ImportError:
        raise MissingExtraError("llama-cpp-python", "gguf") from None
    return llama_cpp


def _type(name: str, which: int) -> int:
    llama_cpp = llama_cpp_module()
    if name not in GGUF_TYPES:
        raise BadInputError(f"unknown GGUF type {name!r}; choose one of {', '.join(GGUF_TYPES)}")
    prefix = "LLAMA_FTYPE_" if which == 0 else "GGML_TYPE_"
    return int(getattr(llama_cpp, prefix + GGUF_TYPES[name][which]))


def _imatrix_array(imatrix: dict[str, np.ndarray]) -> tuple[Any, list[Any]]:
    """A NULL-terminated ``llama_model_imatrix_data`` array (and the buffers it points to)."""
    llama_cpp = llama_cpp_module()
    entry = llama_cpp.llama_model_imatrix_data
    arr = (entry * (len(imatrix) + 1))()
    keep: list[Any] = []
    for i, (name, values) in enumerate(sorted(imatrix.items())):
        v = np.ascontiguousarray(values, dtype=np.float32)
        if not np.isfinite(v).all():
            raise BadInputError(f"importance matrix of {name} is not finite")
        buf = (ctypes.c_float * v.size).from_buffer_copy(v.tobytes())
        keep += [buf, name.encode()]
        arr[i].name = keep[-1]
        arr[i].data = ctypes.cast(buf, ctypes.POINTER(ctypes.c_float))
        arr[i].size = v.size
    arr[len(imatrix)].name = None
    return arr, keep


def quantize_gguf(
    source: str | Path,
    target: str | Path,
    kind: str,
    *,
    embedding_type: str | None = None,
    imatrix: dict[str, np.ndarray] | None = None,
    pure: bool = False,
    threads: int = 2,
) -> Path:
    """Quantize the GGUF ``source`` into ``target`` with llama.cpp (see module doc).

    ``pure`` gives every matrix the default type (no per-tensor choices such as the bigger
    type llama.cpp picks for the output matrix); ``embedding_type`` overrides the token
    embedding's type. Written to a temporary name and renamed into place.
    """
    llama_cpp = llama_cpp_module()
    src, out = Path(source), Path(target)
    if not src.is_file():
        raise BadInputError(f"{src}: no such GGUF file")
    params = llama_cpp.llama_model_quantize_default_params()
    params.nthread = int(threads)
    params.ftype = _type(kind, 0)
    params.pure = bool(pure)
    params.allow_requantize = False
    keep: list[Any] = []
    if embedding_type is not None:
        # a tied head makes the embedding the output matrix: llama.cpp picks its type as such
        params.token_embedding_type = _type(embedding_type, 1)
        params.output_tensor_type = _type(embedding_type, 1)
    if imatrix:
        arr, keep = _imatrix_array(imatrix)
        params.imatrix = ctypes.cast(arr, ctypes.POINTER(llama_cpp.llama_model_imatrix_data))
        keep.append(arr)
    tmp = Path(tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)[1])
    try:
        with _stderr_to_log():
            rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), params)
        if rc != 0:
            raise BadInputError(f"llama.cpp could not quantize {src.name} to {kind} (code {rc})")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    del keep
    log.info("llama.cpp quantized %s -> %s (%s)", src.name, out.name, kind)
    return out


@contextlib.contextmanager
def _stderr_to_log() -> Any:
    """llama.cpp prints a line per tensor on file descriptor 2: keep it in the debug log."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            tail = sink.read().decode(errors="replace").strip().splitlines()[-2:]
            log.debug("llama.cpp quantizer: %s", " | ".join(tail))


def importance_matrix(
    model: nn.Module, batches: Iterable[torch.Tensor], *, names: Any
) -> dict[str, np.ndarray]:
    """Mean squared input activation per column of every Linear, keyed by GGUF tensor name.

    ``batches`` are token-id tensors (batch, seqlen); ``names`` is ``gguf``'s ``TensorNameMap``
    for the architecture (:func:`ratecraft.shrink.lm.gguf_file.write_gguf` uses the same).
    A tied output head is reported under the embedding's name, as llama.cpp sees it.
    """
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    emb = model.get_input_embeddings()
    handles = []
    for key, module in model.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        if module.weight is getattr(emb, "weight", None):
            target = names.get_name("model.embed_tokens.weight", try_suffixes=(".weight",))
        else:
            target = names.get_name(f"{key}.weight", try_suffixes=(".weight",))
        if target is None:
            continue

        def hook(_m: nn.Module, args: tuple[Any, ...], _out: Any, t: str = target) -> None:
            x = args[0].detach().float().reshape(-1, args[0].shape[-1])
            sums[t] = sums.get(t, torch.zeros(x.shape[1])) + (x * x).sum(0)
            counts[t] = counts.get(t, 0) + x.shape[0]

        handles.append(module.register_forward_hook(hook))
    if not handles:
        raise BadInputError("importance matrix: the model has no Linear layer")
    try:
        model.eval()
        with torch.inference_mode():
            for ids in batches:
                model(ids)
    finally:
        for h in handles:
            h.remove()
    if not counts:
        raise BadInputError("importance matrix: no calibration batch was run")
    return {k: (sums[k] / counts[k]).numpy() for k in sums}
