"""Run a GGUF file in the llama.cpp runtime behind the interface the torch evaluators use.

:class:`LlamaCppLM` is an ``nn.Module`` whose ``forward(input_ids, use_cache=…, cache=…)``
returns an object with ``.logits`` (a float32 torch tensor, batch 1) and a KV-cache handle, the
way a Hugging Face causal LM does. So :func:`ratecraft.evaluate.lm.perplexity`,
:func:`~ratecraft.evaluate.lm.token_latency`, the JSONL tasks and HumanEval score a GGUF file in
llama.cpp with the *same code and the same token ids* as a torch model, and the two figures
compare directly.

The cache handle is the number of tokens the llama.cpp context holds: a call with a handle
continues from there (its KV cache), a call without one starts afresh. With
``logits_all=False`` only the last position's logits are computed (what generation needs; the
prompt's other positions skip the output matrix, as ``llama-bench`` does), so perplexity needs
``logits_all=True``. Threads are fixed when the file is opened (``threads`` for generation and
for prompt batches). Needs ``llama-cpp-python`` (the ``gguf`` extra).
"""

from __future__ import annotations

import atexit
import logging
import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ratecraft.errors import BadInputError, MissingExtraError
from ratecraft.shrink.runtime import RuntimeModule, register_runtime

__all__ = ["LlamaCppCache", "LlamaCppLM", "LlamaCppOutput", "gguf_parameters"]

log = logging.getLogger(__name__)

_OPEN: weakref.WeakSet[LlamaCppLM] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """Free llama.cpp models before the interpreter tears down the modules they need."""
    for model in list(_OPEN):
        model.close()


@dataclass(frozen=True)
class LlamaCppCache:
    """How many tokens of this sequence the llama.cpp context holds."""

    n_tokens: int


@dataclass
class LlamaCppOutput:
    logits: Tensor
    cache: LlamaCppCache

    @property
    def past_key_values(self) -> LlamaCppCache:
        return self.cache


def gguf_parameters(path: str | Path) -> int:
    """Logical weights in a GGUF file (elements of every tensor, whatever its type)."""
    import gguf

    return int(sum(int(np.prod(t.shape)) for t in gguf.GGUFReader(path).tensors))


class LlamaCppLM(RuntimeModule):
    """A GGUF file in llama.cpp, callable like a causal LM on token ids (see module doc)."""

    kind = "gguf"
    suffix = ".gguf"

    def __init__(
        self,
        path: str | Path,
        *,
        n_ctx: int = 2048,
        threads: int = 2,
        logits_all: bool = True,
        n_batch: int = 512,
    ) -> None:
        super().__init__(Path(path))
        try:
            from llama_cpp import Llama
        except ImportError:
            raise MissingExtraError("llama-cpp-python", "gguf") from None
        p = Path(path)
        if not p.is_file():
            raise BadInputError(f"{p}: no such GGUF file")
        self.threads = int(threads)
        self.logits_all = bool(logits_all)
        try:
            self.llm = Llama(
                model_path=str(p),
                n_ctx=int(n_ctx),
                n_batch=int(n_batch),
                n_ubatch=int(n_batch),
                n_threads=self.threads,
                n_threads_batch=self.threads,
                logits_all=self.logits_all,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise BadInputError(f"{p}: llama.cpp cannot load it ({exc})") from None
        _OPEN.add(self)
        self.n_vocab = int(self.llm.n_vocab())
        self.n_ctx = int(self.llm.n_ctx())

    def file_bytes(self) -> int:
        return os.path.getsize(self.file)

    def logical_parameters(self) -> int:
        return gguf_parameters(self.file)

    def options(self) -> dict[str, Any]:
        return {"n_ctx": self.n_ctx, "threads": self.threads}

    def close(self) -> None:
        """Free the llama.cpp model and context now (not at interpreter exit)."""
        llm = self.__dict__.pop("llm", None)
        if llm is not None:
            llm.close()

    def forward(
        self,
        input_ids: Tensor,
        use_cache: bool = False,
        cache: LlamaCppCache | None = None,
        past_key_values: LlamaCppCache | None = None,
        **_: Any,
    ) -> LlamaCppOutput:
        ids = torch.as_tensor(input_ids)
        if ids.dim() == 2 and ids.shape[0] != 1:
            raise BadInputError("llama.cpp evaluation takes one sequence (batch 1)")
        tokens = [int(t) for t in ids.reshape(-1)]
        if not tokens:
            raise BadInputError("llama.cpp evaluation needs at least one token")
        state = cache if cache is not None else past_key_values
        if state is None:
            self.llm.reset()
        elif state.n_tokens != self.llm.n_tokens:
            raise BadInputError("llama.cpp cache handle does not match the context's state")
        start = self.llm.n_tokens
        if start + len(tokens) > self.n_ctx:
            raise BadInputError(f"{start + len(tokens)} tokens exceed the context of {self.n_ctx}")
        if max(tokens) >= self.n_vocab or min(tokens) < 0:
            raise BadInputError(f"token ids must lie in 0..{self.n_vocab - 1}")
        self.llm.eval(tokens)
        if self.logits_all:
            rows = np.array(self.llm.scores[start : start + len(tokens)], dtype=np.float32)
        else:
            last = self.llm._ctx.get_logits_ith(-1)
            rows = np.ctypeslib.as_array(last, shape=(self.n_vocab,)).astype(np.float32)[None]
        return LlamaCppOutput(torch.from_numpy(rows)[None], LlamaCppCache(self.llm.n_tokens))

    def generate_ids(self, prompt: Tensor, new_tokens: int) -> list[int]:
        """Greedy continuation of ``prompt`` (token ids), ``new_tokens`` long."""
        out = self(prompt)
        ids: list[int] = []
        for _ in range(new_tokens):
            nxt = int(out.logits[0, -1].argmax())
            ids.append(nxt)
            out = self(torch.tensor([[nxt]]), use_cache=True, cache=out.cache)
        return ids


@register_runtime("gguf")
def _open(path: Path, options: dict[str, Any]) -> LlamaCppLM:
    return LlamaCppLM(
        path,
        n_ctx=int(options.get("n_ctx", 2048)),
        threads=int(options.get("threads", 2)),
        logits_all=True,
    )
