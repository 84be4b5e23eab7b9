"""The mixed-precision problem: a bit width for every transformer block and for the embedding,
and one group size, for a causal language model; scored by artifact bytes and perplexity.

A strategy is ``{"method": "mixed", "params": {"block_00": 4, …, "embedding_bits": 8,
"group_size": 32}}``: every ``nn.Linear`` of block *i* gets ``block_i``-bit codes with one scale
and zero point per group (torchao ``IntxWeightOnlyConfig``, asymmetric), the token embedding
(and the output head tied to it) ``embedding_bits``. Objectives: ``size_bytes`` (min) and
``perplexity_increase`` over the float model on the same tokens (min); constraint
``perplexity_increase <= 0.10``. The proxy scores the first ``proxy_tokens`` held-out tokens,
the full evaluation ``full_tokens``. Search matters here: the space has 4³⁰ assignments for
SmolLM2's 30 blocks and one 2-bit block in the wrong place breaks the constraint, so uniform
random sampling mostly lands outside it.

**How a trial is evaluated.** Each layer is quantized by torchao once per (bits, group size)
and kept as the weight torchao computes with (its codes times scales, dequantized into the
model's dtype) together with the bytes :func:`ratecraft.shrink.artifact.payload_bytes` gives
its codes, scales and zero points on disk. A trial swaps those weights into one float model
and runs the perplexity: the numbers a torchao model of that recipe computes, without
quantizing the whole model again per trial (tested against the real recipe on a tiny Llama).
:meth:`save_artifact` runs the real recipe — one ``intx-weight`` step per bit width limited by
``only`` patterns, then ``embedding-quant`` — saves the artifact, reloads it and measures its
bytes and perplexity again; both sets of figures go in the report.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ratecraft.autopilot.cache import fingerprint_array
from ratecraft.autopilot.objectives import Constraint, Objective, Reward
from ratecraft.autopilot.problems import Problem
from ratecraft.autopilot.space import Param, SearchSpace, Strategy
from ratecraft.errors import BadInputError, MissingExtraError

__all__ = ["MixedPrecisionProblem", "mixed_recipe"]

log = logging.getLogger(__name__)

BITS = (2, 3, 4, 8)
GROUP_SIZES = (32, 64, 192)  # each divides SmolLM2's widths (576 and 1536)
EMBEDDING_BITS = (4, 8)
MAX_INCREASE = 0.10
_MAPPING = "asymmetric"


def _blocks(model: nn.Module) -> list[str]:
    """Module names of the decoder blocks (``model.layers.i`` in Llama-family models)."""
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None:
        raise BadInputError("the mixed-precision problem needs a Llama-family causal LM")
    return [f"model.layers.{i}" for i in range(len(layers))]


def _param_name(i: int) -> str:
    return f"block_{i:02d}"


def mixed_recipe(strategy: Strategy, n_blocks: int) -> Any:
    """The shrink recipe of a strategy: one ``intx-weight`` step per bit width used (its
    ``only`` patterns name the blocks), then ``embedding-quant``."""
    from ratecraft.shrink import Recipe

    p = strategy["params"]
    by_bits: dict[int, list[str]] = {}
    for i in range(n_blocks):
        by_bits.setdefault(int(p[_param_name(i)]), []).append(f"model.layers.{i}.*")
    steps: list[tuple[str, dict[str, Any]]] = [
        (
            "intx-weight",
            {"bits": bits, "group_size": int(p["group_size"]), "mapping": _MAPPING, "only": only},
        )
        for bits, only in sorted(by_bits.items())
    ]
    embedding = {"bits": int(p["embedding_bits"]), "group_size": 32, "mapping": _MAPPING}
    steps.append(("embedding-quant", embedding))
    return Recipe.of(*steps, name="mixed-precision")


class MixedPrecisionProblem(Problem):
    """Per-block bit widths for a causal LM (see the module docstring)."""

    name = "mixed-precision"

    def __init__(
        self,
        model: nn.Module,
        ids: torch.Tensor,
        *,
        proxy_tokens: int = 256,
        full_tokens: int = 1024,
        spec: dict[str, Any] | None = None,
        label: str = "causal LM",
    ) -> None:
        try:
            import torchao  # noqa: F401
        except ImportError:
            raise MissingExtraError("torchao", "shrink") from None
        ids = ids.reshape(1, -1).long()
        if ids.shape[1] < max(proxy_tokens, full_tokens):
            raise BadInputError(f"need {max(proxy_tokens, full_tokens)} tokens, got {ids.shape[1]}")
        self.model = model.eval()
        self.ids = ids
        self.tokens = {"proxy": proxy_tokens, "full": full_tokens}
        self.blocks = _blocks(model)
        from ratecraft.shrink.lm.loading import lm_spec

        self.spec = spec or lm_spec(model)
        self.label = label
        self._float = {n: m.weight for n, m in self._linears()}
        self._embedding = self._embedding_module().weight
        self._cache: dict[tuple[str, int, int], tuple[torch.Tensor, int]] = {}
        self._baseline: dict[str, float] = {}
        self._rest_bytes: int | None = None

    @classmethod
    def for_lm(cls, source: str = "smollm2-135m", **kw: Any) -> MixedPrecisionProblem:
        """The problem for a language model a user has (the bundled SmolLM2 by default), scored
        on the held-out half of the Lee corpus."""
        from ratecraft.evaluate.lm_shrink import _ids, _tokenizer_for, open_lm
        from ratecraft.evaluate.texts import heldout_text

        model, tokenizer = open_lm(source)
        tokenizer = _tokenizer_for(model, tokenizer)
        return cls(model, _ids(tokenizer, heldout_text("lee")), label=source, **kw)

    # ---- the model's parts --------------------------------------------------------------------
    def _linears(self) -> list[tuple[str, nn.Linear]]:
        prefixes = tuple(b + "." for b in self.blocks)
        return [
            (n, m)
            for n, m in self.model.named_modules()
            if isinstance(m, nn.Linear) and n.startswith(prefixes)
        ]

    def _embedding_module(self) -> nn.Embedding:
        found = [m for m in self.model.modules() if isinstance(m, nn.Embedding)]
        if len(found) != 1:
            raise BadInputError("the mixed-precision problem needs exactly one token embedding")
        return found[0]

    def _quantized(self, name: str, weight: torch.Tensor, bits: int, group: int) -> tuple:
        """(weight as torchao computes with it, its bytes on disk) for one layer, cached."""
        key = (name, bits, group)
        if key not in self._cache:
            from torchao.quantization import IntxWeightOnlyConfig, MappingType, quantize_
            from torchao.quantization.granularity import PerGroup

            from ratecraft.shrink.artifact import payload_bytes

            holder: nn.Module
            if weight is self._embedding:
                holder = nn.Embedding(*weight.shape, dtype=weight.dtype)
            else:
                holder = nn.Linear(weight.shape[1], weight.shape[0], bias=False, dtype=weight.dtype)
            with torch.no_grad():
                holder.weight.copy_(weight)
                quantize_(
                    holder,
                    IntxWeightOnlyConfig(
                        weight_dtype=getattr(torch, f"int{bits}"),
                        granularity=PerGroup(group),
                        mapping_type=MappingType.ASYMMETRIC,
                    ),
                    filter_fn=lambda m, _fqn: m is holder,
                )
            q = holder.weight
            self._cache[key] = (q.dequantize().to(weight.dtype), payload_bytes({"layer.weight": q}))
        return self._cache[key]

    def _float_bytes(self, name: str) -> int:
        key = (name, 0, 0)
        if key not in self._cache:
            from ratecraft.shrink.artifact import payload_bytes

            w = self._float[name]
            self._cache[key] = (w, payload_bytes({"layer.weight": w.detach()}))
        return self._cache[key][1]

    def _other_bytes(self) -> int:
        """Bytes of everything the strategy does not quantize (norms, biases), stored as the
        artifact stores them."""
        if self._rest_bytes is None:
            from ratecraft.shrink.artifact import payload_bytes

            skip = {id(w) for w in self._float.values()} | {id(self._embedding)}
            rest: dict[str, torch.Tensor] = {}
            seen: set[int] = set()
            for n, t in self.model.state_dict(keep_vars=True).items():
                if id(t) in skip or id(t) in seen:
                    continue
                seen.add(id(t))
                rest[n] = t.detach()
            self._rest_bytes = payload_bytes(rest)
        return self._rest_bytes

    # ---- problem contract -----------------------------------------------------------------
    def default_space(self) -> SearchSpace:
        params = {_param_name(i): Param("cat", choices=BITS) for i in range(len(self.blocks))}
        params["embedding_bits"] = Param("cat", choices=EMBEDDING_BITS)
        params["group_size"] = Param("cat", choices=GROUP_SIZES)
        return SearchSpace(methods={"mixed": params})

    def initial_strategies(self) -> list[Strategy]:
        """Every block and the embedding at 8 bits (group 32): within the constraint on any
        model tried here, and the point the search has to improve on."""
        params: dict[str, Any] = {_param_name(i): 8 for i in range(len(self.blocks))}
        params.update(embedding_bits=8, group_size=32)
        return [{"method": "mixed", "params": params}]

    def float_bytes(self) -> int:
        from ratecraft.shrink.artifact import payload_bytes

        return payload_bytes({n: t.detach() for n, t in self.model.state_dict().items()})

    def default_reward(self) -> Reward:
        size = float(self.float_bytes())
        return Reward(
            objectives=[
                Objective("size_bytes", "min", size / 8, size, True, "size"),
                Objective("perplexity_increase", "min", 0.0, 1.0, False, "quality"),
            ],
            constraints=[Constraint("perplexity_increase", "<=", MAX_INCREASE)],
        )

    def metric_names(self) -> frozenset[str]:
        return frozenset(("size_bytes", "perplexity", "perplexity_increase", "bits_per_weight"))

    def fingerprint(self) -> str:
        first = next(iter(self._float.values()))
        return fingerprint_array(
            first.detach().float().numpy()[:8],
            self.ids.numpy(),
            self.tokens,
            self.label,
            _MAPPING,
        )

    def _perplexity(self, fidelity: str, model: nn.Module | None = None) -> float:
        """Perplexity of the first tokens of ``fidelity`` in one window (every token but the
        first scored once, with all the context before it)."""
        from ratecraft.evaluate.lm import perplexity

        n = self.tokens[fidelity]
        ids = self.ids[:, :n]
        doc = perplexity(model or self.model, ids=ids, max_tokens=None, window=n, stride=n)
        return float(doc["perplexity"])

    def baseline(self, fidelity: str) -> float:
        """Perplexity of the float model on the tokens of ``fidelity``."""
        if fidelity not in self._baseline:
            self._restore()
            self._baseline[fidelity] = self._perplexity(fidelity)
        return self._baseline[fidelity]

    def _restore(self) -> None:
        for (_n, m), w in zip(self._linears(), self._float.values(), strict=True):
            m.weight = w
        self._set_embedding(self._embedding)

    def _set_embedding(self, weight: torch.Tensor) -> None:
        emb = self._embedding_module()
        tied = [
            m for m in self.model.modules() if isinstance(m, nn.Linear) and m.weight is emb.weight
        ]
        param = (
            weight
            if isinstance(weight, nn.Parameter)
            else nn.Parameter(weight, requires_grad=False)
        )
        emb.weight = param
        for head in tied:
            head.weight = param

    def evaluate(self, strategy: Strategy, fidelity: str) -> dict[str, float]:
        base = self.baseline(fidelity)
        p = strategy["params"]
        group = int(p["group_size"])
        size = self._other_bytes()
        weights = 0
        for name, module in self._linears():
            block = int(name.split(".")[2])
            w = self._float[name]
            if w.shape[1] % group:  # the recipe keeps such a layer in float, and so does this
                nbytes = self._float_bytes(name)
            else:
                w, nbytes = self._quantized(name, w, int(p[_param_name(block)]), group)
                module.weight = nn.Parameter(w, requires_grad=False)
            size += nbytes
            weights += w.numel()
        emb, nbytes = self._quantized("embedding", self._embedding, int(p["embedding_bits"]), 32)
        self._set_embedding(emb)
        size += nbytes
        weights += emb.numel()
        try:
            ppl = self._perplexity(fidelity)
        finally:
            self._restore()
        return {
            "size_bytes": float(size),
            "perplexity": ppl,
            "perplexity_increase": ppl / base - 1.0,
            "bits_per_weight": 8.0 * size / weights,
        }

    def save_artifact(self, strategy: Strategy, folder: Path) -> dict[str, Any]:
        """Run the real recipe, save the artifact and its recipe, reload it and measure it."""
        from ratecraft.atomic import atomic_write
        from ratecraft.shrink import load_artifact, run_recipe, save_artifact
        from ratecraft.shrink.measure import artifact_bytes

        recipe = mixed_recipe(strategy, len(self.blocks))
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / "recipe.json", recipe.to_json().encode())
        self._restore()
        shrunk = run_recipe(copy.deepcopy(self.model), recipe, None)
        save_artifact(shrunk, folder / "model", spec=self.spec, recipe=recipe)
        del shrunk
        loaded = load_artifact(folder / "model").model
        ppl = self._perplexity("full", loaded)
        size = artifact_bytes(folder / "model")
        return {
            "model": str(folder / "model"),
            "whole_input": {
                "size_bytes": float(size),
                "perplexity": ppl,
                "perplexity_increase": ppl / self.baseline("full") - 1.0,
            },
            "replay": f"ratecraft shrink {self.label} --recipe {folder / 'recipe.json'} -o OUT",
        }

    def describe(self) -> dict[str, Any]:
        return {
            "problem": self.name,
            "model": self.label,
            "blocks": len(self.blocks),
            "proxy_tokens": self.tokens["proxy"],
            "full_tokens": self.tokens["full"],
        }
