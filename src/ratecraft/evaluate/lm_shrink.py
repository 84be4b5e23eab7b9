"""Shrink a language model end to end: open it, calibrate, run the recipe, measure both sides.

:func:`open_lm` takes what a user has — the bundled ``smollm2-135m``, a ``.gguf`` file or a
local Hugging Face folder — and gives a float model and its tokenizer. :func:`shrink_lm` runs a
recipe on it (calibration: token rows from the calibration half of the Lee corpus, see
:mod:`ratecraft.evaluate.texts`), saves the artifact, reloads it and measures the original and
the shrunk model alike with :func:`lm_figures`: bytes, perplexity on the first held-out tokens,
prompt and generation tokens per second on a fixed number of threads. A model saved without
a tokenizer is scored on the held-out text tokenized by SmolLM2's tokenizer when its
vocabulary is that large, and refused otherwise.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ratecraft.errors import BadInputError
from ratecraft.shrink.measure import artifact_bytes, parameter_count
from ratecraft.shrink.recipe import Recipe, run_recipe
from ratecraft.shrink.steps import Calibration, model_bytes

__all__ = ["SMOLLM2", "is_lm_source", "lm_calibration", "lm_figures", "open_lm", "shrink_lm"]

log = logging.getLogger(__name__)

SMOLLM2 = "smollm2-135m"


def is_lm_source(source: str | Path) -> bool:
    """Whether ``source`` names a language model: the bundled name, a .gguf, an HF folder."""
    p = Path(source)
    if str(source).lower() == SMOLLM2 or p.suffix.lower() == ".gguf":
        return True
    return p.is_dir() and (p / "config.json").is_file() and not (p / "codec.json").is_file()


def open_lm(source: str | Path, dtype: str = "bfloat16") -> tuple[nn.Module, Any]:
    """``(model, tokenizer)`` for ``smollm2-135m``, a ``.gguf`` file or an HF folder."""
    from ratecraft.shrink.lm.loading import load_causal_lm, load_smollm2

    if str(source).lower() == SMOLLM2:
        return load_smollm2(dtype)
    p = Path(source)
    if p.suffix.lower() == ".gguf" and not p.is_file():
        raise BadInputError(f"{p}: no such GGUF file")
    return load_causal_lm(p, dtype)


def _tokenizer_for(model: nn.Module, tokenizer: Any) -> Any:
    if tokenizer is not None:
        return tokenizer
    from ratecraft.shrink.lm.loading import load_smollm2_tokenizer

    fallback = load_smollm2_tokenizer()
    if int(model.config.vocab_size) < len(fallback):
        raise BadInputError(
            "the model folder has no tokenizer and its vocabulary is smaller than SmolLM2's; "
            "add tokenizer files to the folder"
        )
    return fallback


def _ids(tokenizer: Any, text: str) -> torch.Tensor:
    return tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"].long()


def lm_calibration(
    tokenizer: Any, *, rows: int = 16, seqlen: int = 256, batch: int = 4
) -> Calibration:
    """``rows`` × ``seqlen`` token rows from the calibration half of the Lee corpus."""
    from ratecraft.evaluate.texts import calibration_texts

    ids = _ids(tokenizer, "\n\n".join(calibration_texts("lee")))[0]
    if ids.numel() < rows * seqlen:
        raise BadInputError(f"calibration text holds {ids.numel()} tokens, fewer than needed")
    return Calibration(inputs=list(torch.split(ids[: rows * seqlen].reshape(rows, seqlen), batch)))


def lm_figures(
    model: nn.Module, ids: torch.Tensor, *, threads: int = 2, new_tokens: int = 16
) -> dict[str, float]:
    """Perplexity of ``ids`` (window 512, stride 256) and prompt / generation tokens per second
    (a 128-token prompt; ``new_tokens`` greedy tokens after it) on ``threads`` threads."""
    from ratecraft.evaluate.lm import perplexity, prompt_speed, token_latency

    ppl = perplexity(model, ids=ids, max_tokens=None, window=512, stride=256)
    prompt = ids[:, :128]
    speed = prompt_speed(model, prompt, threads=threads)
    lat = token_latency(model, prompt[:, :32], new_tokens=new_tokens, warmup=2, threads=threads)
    return {
        "perplexity": ppl["perplexity"],
        "tokens_scored": ppl["tokens"],
        "prompt_tokens_per_s": speed["prompt_tokens_per_s"],
        "tokens_per_s": lat["tokens_per_s"],
        "threads": float(threads),
    }


def shrink_lm(
    source: str | Path,
    recipe: Recipe,
    output: Path,
    *,
    eval_tokens: int = 512,
    threads: int = 2,
    new_tokens: int = 16,
    calib: Calibration | None = None,
    memory_budget: int | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Shrink the language model ``source`` with ``recipe`` into the artifact ``output``."""
    from ratecraft.evaluate.texts import heldout_text
    from ratecraft.shrink.artifact import load_artifact, save_artifact
    from ratecraft.shrink.lm.loading import lm_spec

    model, tokenizer = open_lm(source)
    tokenizer = _tokenizer_for(model, tokenizer)
    ids = _ids(tokenizer, heldout_text("lee"))[:, :eval_tokens]
    if ids.shape[1] < 160:
        raise BadInputError("--eval-tokens must be at least 160 (a 128-token prompt and more)")
    torch.set_num_threads(threads)
    before = lm_figures(model, ids, threads=threads, new_tokens=new_tokens)
    doc: dict[str, Any] = {
        "model": str(source),
        "output": str(output),
        "recipe_hash": recipe.hash(),
        "steps": [s.step for s in recipe.steps],
        "parameters_before": parameter_count(model),
        "bytes_before": model_bytes(model),
        **{f"{k}_before": v for k, v in before.items() if k != "threads"},
    }
    spec = lm_spec(model)
    calib = calib or lm_calibration(tokenizer)
    torch.manual_seed(0)
    shrunk = run_recipe(
        copy.deepcopy(model), recipe, calib, progress=progress, memory_budget=memory_budget
    )
    del model
    save_artifact(shrunk, output, spec=spec, recipe=recipe, info={"source": str(source)})
    del shrunk
    loaded = load_artifact(output).model
    after = lm_figures(loaded, ids, threads=threads, new_tokens=new_tokens)
    doc.update(
        parameters=parameter_count(loaded),
        bytes=artifact_bytes(output),
        **{k: v for k, v in after.items()},
    )
    doc["x_smaller"] = doc["bytes_before"] / doc["bytes"]
    doc["perplexity_change_pct"] = 100.0 * (doc["perplexity"] / doc["perplexity_before"] - 1)
    doc["speed_vs_before"] = doc["tokens_per_s"] / doc["tokens_per_s_before"]
    if hasattr(loaded, "close"):
        loaded.close()
    return doc
