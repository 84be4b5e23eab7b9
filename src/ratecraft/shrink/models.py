"""Model builders: rebuild a module's skeleton from a JSON spec, so artifacts never unpickle.

A saved artifact names how to build the float skeleton it was shrunk from — ``{"builder":
"mlp", "sizes": [64, 32, 10]}`` — and the loader builds it, then restores the saved shapes,
attributes and tensors on top. Builders here: ``mlp``, ``cnn`` (small image classifier),
``tiny-transformer`` (a causal LM built from a handful of numbers, for tests and examples),
``codec-encoder`` (the encoder of a trained ratecraft codec folder) and ``hf-causal-lm``
(a Hugging Face causal LM from its config dict; needs ``transformers``). More builders
register with :func:`register_builder` (the language-model package adds its own).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ratecraft.errors import BadInputError
from ratecraft.plugins import MissingExtraError, Registry

__all__ = [
    "TinyTransformer",
    "build_model",
    "codec_encoder_of",
    "load_codec_dir",
    "register_builder",
]

Builder = Callable[..., nn.Module]
BUILDERS: Registry[Builder] = Registry("model builder")
BUILDERS.provide("ratecraft.shrink.lm", extra="llm")  # the language models' builders


def register_builder(name: str) -> Callable[[Builder], Builder]:
    """Register ``fn(**spec) -> nn.Module`` as the builder called ``name``."""
    return BUILDERS.register(name)


def build_model(spec: dict[str, Any]) -> nn.Module:
    """Build the float skeleton that ``spec`` describes (``spec['builder']`` names the builder)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("builder"), str):
        raise BadInputError("a model spec needs a 'builder' name")
    name = spec["builder"]
    builder = BUILDERS.get(name)
    kwargs = {k: v for k, v in spec.items() if k != "builder"}
    try:
        return builder(**kwargs)
    except TypeError as exc:
        raise BadInputError(f"model builder {name}: {exc}") from None


_ACTS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


@register_builder("mlp")
def mlp(sizes: list[int], activation: str = "relu") -> nn.Module:
    """``Linear → act → … → Linear`` through the widths in ``sizes``."""
    if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
        raise BadInputError("mlp sizes need at least two positive widths")
    if activation not in _ACTS:
        raise BadInputError(f"unknown activation {activation!r}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(int(a), int(b)))
        if i < len(sizes) - 2:
            layers.append(_ACTS[activation]())
    return nn.Sequential(*layers)


@register_builder("cnn")
def cnn(
    in_channels: int = 1,
    image_size: int = 8,
    channels: list[int] | None = None,
    hidden: int = 64,
    classes: int = 10,
) -> nn.Module:
    """Conv(3x3)+BN+ReLU blocks (the second onwards with stride 2), global pooling, an MLP head."""
    chans = [int(c) for c in (channels or [32, 64])]
    layers: list[nn.Module] = []
    prev = in_channels
    for i, c in enumerate(chans):
        layers += [
            nn.Conv2d(prev, c, 3, stride=1 if i == 0 else 2, padding=1),
            nn.BatchNorm2d(c),
            nn.ReLU(),
        ]
        prev = c
    size = image_size
    for _ in chans[1:]:
        size = (size + 1) // 2
    layers += [
        nn.Flatten(),
        nn.Linear(prev * size * size, hidden),
        nn.ReLU(),
        nn.Linear(hidden, classes),
    ]
    return nn.Sequential(*layers)


class Attention(nn.Module):
    """Causal multi-head self-attention with separate q/k/v/o projections (head-prunable)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise BadInputError(f"dim {dim} is not a multiple of heads {heads}")
        self.num_heads = heads
        self.head_dim = dim // heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.o_proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        h, d = self.num_heads, self.head_dim

        def split(y: Tensor) -> Tensor:
            return y.view(b, t, h, d).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o_proj(y.transpose(1, 2).reshape(b, t, h * d))


class Block(nn.Module):
    """Pre-norm transformer block: attention and an MLP (up → GELU → down), both residual."""

    def __init__(self, dim: int, heads: int, mlp: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.up = nn.Linear(dim, mlp)
        self.act = nn.GELU()
        self.down = nn.Linear(mlp, dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.down(self.act(self.up(self.norm2(x))))


class TinyTransformer(nn.Module):
    """A small causal language model: token + position embeddings, blocks, a linear head."""

    def __init__(
        self,
        vocab: int = 64,
        dim: int = 32,
        heads: int = 4,
        layers: int = 2,
        mlp: int = 64,
        context: int = 64,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(context, dim)
        self.layers = nn.ModuleList(Block(dim, heads, mlp) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, tokens: Tensor) -> Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.embed(tokens) + self.pos(positions)
        for block in self.layers:
            x = block(x)
        return self.head(self.norm(x))


@register_builder("tiny-transformer")
def tiny_transformer(**kwargs: Any) -> nn.Module:
    """:class:`TinyTransformer` from its keyword arguments."""
    return TinyTransformer(**kwargs)


def load_codec_dir(source: str | Path) -> Any:
    """A trained codec from its folder (one-line error when it is not one)."""
    from ratecraft.codecs.base import Codec

    if not (Path(source) / "codec.json").is_file():
        raise BadInputError(f"{source}: not a trained codec folder (no codec.json)")
    return Codec.load(source)


def codec_encoder_of(codec: Any, module: str = "encoder") -> nn.Module:
    """The encoder of a trained codec's model, sharing its weights.

    Table codecs (``adaptive-bottleneck``, ``grouped-vae``, ``vqvae``): the branch or category
    encoders on their own columns, concatenated
    (:class:`ratecraft.codecs.learned.encoder_view.TableEncoder`, the module ONNX export uses
    too). Recording codecs: the analysis path
    (:func:`analysis_view`). ``module`` names another sub-module instead.
    """
    root = getattr(codec, "model", None)
    if not isinstance(root, nn.Module):
        raise BadInputError(f"codec {codec.name} has no torch model to shrink")
    if module == "encoder" and hasattr(root, "columns"):
        from ratecraft.codecs.learned.encoder_view import encoder_for

        return encoder_for(codec)[0]
    if module == "encoder" and callable(getattr(root, "analysis", None)):
        return analysis_view(root)
    try:
        found = root.get_submodule(module) if module else root
    except AttributeError:
        raise BadInputError(f"codec {codec.name} model has no sub-module {module!r}") from None
    if isinstance(found, nn.ModuleList | nn.ModuleDict):
        raise BadInputError(f"codec sub-module {module!r} is a list, not a runnable module")
    return found


def analysis_view(root: nn.Module) -> nn.Module:
    """A recording model reduced to its analysis (encoder) path.

    The view is a shallow copy of ``root`` that keeps only the children its ``analysis`` runs
    (found with forward hooks on one zero window) and whose ``forward`` is ``analysis``: the
    same code, without the decoder or entropy model, so its weights are the encoder's alone.
    """
    used: set[str] = set()
    handles = [
        child.register_forward_hook(lambda *_a, n=name: used.add(n))
        for name, child in root.named_children()
    ]
    try:
        with torch.no_grad():
            root.analysis(torch.zeros(1, int(root.n_channels), int(root.window)))
    finally:
        for h in handles:
            h.remove()
    view = copy.copy(root)
    view._modules = {k: m for k, m in root._modules.items() if k in used}
    view._parameters = dict(root._parameters)
    view._buffers = dict(root._buffers)
    view.forward = view.analysis  # type: ignore[method-assign]
    return view


@register_builder("codec-encoder")
def codec_encoder(source: str, module: str = "encoder") -> nn.Module:
    """The encoder of the trained codec folder ``source`` (see :func:`codec_encoder_of`)."""
    return codec_encoder_of(load_codec_dir(source), module)


@register_builder("hf-causal-lm")
def hf_causal_lm(
    config: dict[str, Any], dtype: str = "float32", tokenizer_gguf: str | None = None
) -> nn.Module:
    """A Hugging Face causal LM built from its config dict (weights come from the artifact).

    ``tokenizer_gguf`` names the GGUF file the model came from; the ``gguf`` step copies its
    vocabulary into the files it writes.
    """
    try:
        from transformers import AutoConfig, AutoModelForCausalLM
    except ImportError:
        raise MissingExtraError("transformers", "shrink") from None
    cfg = dict(config)
    model_type = cfg.pop("model_type", None)
    if not isinstance(model_type, str):
        raise BadInputError("hf-causal-lm config needs a 'model_type'")
    hf_config = AutoConfig.for_model(model_type, **cfg)
    model = AutoModelForCausalLM.from_config(hf_config)
    if tokenizer_gguf is not None:
        model.tokenizer_gguf = str(tokenizer_gguf)
    return model.to(getattr(torch, dtype))
