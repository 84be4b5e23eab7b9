"""Which steps can follow which: refuse, with one line, a step that cannot stack on the model.

The rules look at the model as it is, not at the recipe's history, so they hold for an artifact
loaded from disk and extended with another recipe as well:

- after a deployment step (``gguf``, ``onnxrt``) nothing follows: the model is a runtime file;
- a quantizing step on a model that already holds quantized weights is refused: a second grid
  over the first (int8 on int4) rounds twice and the artifact would describe neither; a step
  limited by ``only`` patterns (one step of a mixed-precision recipe) may follow, since it
  quantizes only layers that are still float;
- pruning and training steps need float weights: prune or distill before quantizing;
- ``embedding-quant`` once; ``round-fp16``, ``lora`` (which recovers in the model's own grid)
  and the deployment steps themselves take any torch model.
"""

from __future__ import annotations

from torch import nn

from ratecraft.errors import BadInputError
from ratecraft.shrink.runtime import is_runtime
from ratecraft.shrink.steps import Step

__all__ = ["check_stack", "quantized_weights"]


def _is_quantized_tensor(t: object) -> bool:
    return type(t).__name__ not in ("Tensor", "Parameter")


def quantized_weights(model: nn.Module) -> list[str]:
    """Names of modules whose weights are quantized (torchao tensors, quanto, bitsandbytes)."""
    out = []
    for name, module in model.named_modules():
        owner = type(module).__module__
        if owner.startswith(("optimum.quanto", "bitsandbytes")) and hasattr(module, "weight"):
            out.append(name)
            continue
        w = module._parameters.get("weight")
        if w is not None and _is_quantized_tensor(w):
            out.append(name)
    return out


def check_stack(model: nn.Module, step: Step, config: object = None) -> None:
    """Raise a one-line :class:`BadInputError` when ``step`` (with its parsed ``config``) cannot
    run on ``model``."""
    if is_runtime(model):
        raise BadInputError(
            f"step {step.name} cannot follow a deployment step: the model is a "
            f"{model.kind.upper()} file now; put {step.name} before it"
        )
    if step.role == "keep" or step.terminal:
        return
    quantized = quantized_weights(model)
    embeddings = {n for n, m in model.named_modules() if isinstance(m, nn.Embedding)}
    if step.role == "embedding":
        if any(n in embeddings for n in quantized):
            raise BadInputError(f"step {step.name}: the embedding is already quantized")
        return
    layers = [n for n in quantized if n not in embeddings]
    if not layers:
        return
    first = layers[0] or "the model"
    if step.role == "quantize" and getattr(config, "only", None):
        return  # a mixed-precision step: it quantizes only the float layers its patterns name
    if step.role == "quantize":
        raise BadInputError(
            f"step {step.name}: {len(layers)} layers ({first}, …) are already quantized; "
            "quantizing again would stack two grids — quantize once"
        )
    raise BadInputError(
        f"step {step.name} needs float weights but {first} is quantized; "
        f"{'prune' if step.role == 'prune' else 'train'} before quantizing"
    )
