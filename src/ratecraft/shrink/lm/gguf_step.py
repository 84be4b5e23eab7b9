"""The ``gguf`` shrink step: a causal LM written as GGUF and quantized by llama.cpp itself.

``{step: gguf, config: {type: Q4_K_M}}`` writes the model with
:func:`~ratecraft.shrink.lm.gguf_file.write_gguf` (f16, plus any weights an earlier calibrated
step quantized, in their own grid), then runs llama.cpp's quantizer
(:func:`~ratecraft.shrink.lm.llamacpp.quantize_gguf`) to ``type`` unless it is ``F16``.
``embedding_type`` gives the token embedding (= the tied output matrix) its own type;
``imatrix: true`` computes llama.cpp's importance matrix on the calibration token batches first
(:func:`~ratecraft.shrink.lm.llamacpp.importance_matrix`). The result is a
:class:`~ratecraft.shrink.lm.gguf_runtime.LlamaCppLM`: the file, run in llama.cpp.

The tokenizer comes from the GGUF the model was loaded from (``model.tokenizer_gguf``, set by
:func:`~ratecraft.shrink.lm.loading.load_gguf` and kept in the artifact spec) or ``template``.
Weights already quantized must match ``type``'s block kind (a Q4_1 grid under ``type: Q4_1``):
llama.cpp would otherwise round them a second time onto another grid, which is refused.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator
from torch import nn

from ratecraft.errors import BadInputError
from ratecraft.shrink.lm.llamacpp import GGUF_TYPES
from ratecraft.shrink.steps import Calibration, Step, StepConfig, model_bytes, register_step

__all__ = ["GGUFConfig", "GGUFStep", "quantized_kinds"]

log = logging.getLogger(__name__)


class GGUFConfig(StepConfig):
    """Target GGUF type, the embedding's type, importance matrix, quantizer threads."""

    type: str = "Q4_K_M"
    embedding_type: str | None = None
    imatrix: bool = False
    pure: bool = Field(default=False, description="every matrix in `type` (no per-tensor bumps)")
    template: str | None = Field(default=None, description="GGUF file to take the tokenizer from")
    threads: int = Field(default=2, ge=1, le=256)
    n_ctx: int = Field(default=2048, ge=16)

    @field_validator("type", "embedding_type")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is None:
            return value
        upper = value.upper()
        if upper not in GGUF_TYPES:
            raise ValueError(f"unknown GGUF type {value!r}; choose one of {', '.join(GGUF_TYPES)}")
        return upper


def quantized_kinds(model: nn.Module) -> set[str]:
    """GGUF block kinds of the weights a torch model already holds quantized."""
    from ratecraft.shrink.lm.gguf_file import _torchao_blocks

    kinds = set()
    for p in model.parameters():
        if type(p) is not nn.Parameter and type(p).__name__ != "Tensor":
            kinds.add(_torchao_blocks(p)[0])
    return kinds


@register_step("gguf")
class GGUFStep(Step):
    """Write a Llama-family LM as GGUF and quantize it with llama.cpp (see module doc)."""

    config_cls: ClassVar[type[StepConfig]] = GGUFConfig
    needs_extra: ClassVar[tuple[tuple[str, str], ...]] = (
        ("gguf", "gguf"),
        ("llama_cpp", "gguf"),
    )
    terminal: ClassVar[bool] = True

    def apply(self, model: nn.Module, config: Any, calib: Calibration | None) -> nn.Module:
        from ratecraft.shrink.lm.gguf_file import write_gguf
        from ratecraft.shrink.lm.gguf_runtime import LlamaCppLM
        from ratecraft.shrink.lm.llamacpp import importance_matrix, quantize_gguf

        cfg: GGUFConfig = config
        kinds = quantized_kinds(model)
        if kinds and (kinds != {cfg.type}):
            raise BadInputError(
                f"step gguf: the weights are already quantized as {', '.join(sorted(kinds))}; "
                f"use type {sorted(kinds)[0]} so llama.cpp keeps that grid (it would re-round)"
            )
        if cfg.imatrix and calib is None:
            raise BadInputError("step gguf: imatrix needs calibration token batches")
        template = cfg.template or getattr(model, "tokenizer_gguf", None)
        if template is not None and not Path(template).is_file():
            raise BadInputError(f"step gguf: template {template} is not a file")
        work = tempfile.TemporaryDirectory(prefix="ratecraft-gguf-")
        folder = Path(work.name)
        f16 = write_gguf(model, folder / "f16.gguf", template=template)
        out = f16
        if cfg.type != "F16" or cfg.embedding_type is not None:
            imatrix = None
            if cfg.imatrix:
                assert calib is not None
                import gguf

                names = gguf.get_tensor_name_map(
                    gguf.MODEL_ARCH.LLAMA, int(model.config.num_hidden_layers)
                )
                imatrix = importance_matrix(model, calib.inputs, names=names)
            out = quantize_gguf(
                f16,
                folder / f"{cfg.type.lower()}.gguf",
                cfg.type,
                embedding_type=cfg.embedding_type,
                imatrix=imatrix,
                pure=cfg.pure,
                threads=cfg.threads,
            )
            f16.unlink()
        runtime = LlamaCppLM(out, n_ctx=cfg.n_ctx, threads=cfg.threads)
        runtime._workdir = work  # the file lives as long as the module
        log.info("gguf: %s, %d bytes", out.name, out.stat().st_size)
        return runtime

    def memory_estimate(self, model: nn.Module, config: Any, calib: Calibration | None) -> int:
        return 2 * model_bytes(model)
