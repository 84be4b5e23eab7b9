"""Classification accuracy of a (shrunk) model on held-out labelled data.

``ClassificationEvaluator(x, y).evaluate(artifact)`` returns ``accuracy``, ``error_rate``,
``loss`` (mean cross-entropy) and ``samples``. The data never comes from the calibration set
the shrink steps saw unless the caller passes it: held-out data is the caller's to keep apart.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ratecraft.errors import BadInputError
from ratecraft.evaluate import ArtifactLike, register_evaluator, resolve_model

__all__ = ["ClassificationEvaluator", "accuracy"]


def accuracy(logits: Tensor, labels: Tensor) -> float:
    """Fraction of rows whose arg-max equals the label."""
    return float((logits.argmax(-1) == labels).float().mean())


@register_evaluator("classification")
class ClassificationEvaluator:
    """Accuracy, error rate and cross-entropy of a classifier on ``(inputs, labels)``."""

    def __init__(
        self,
        inputs: Tensor | np.ndarray,
        labels: Tensor | np.ndarray,
        *,
        batch_size: int = 256,
        forward: Callable[[nn.Module, Tensor], Tensor] | None = None,
    ) -> None:
        x = torch.as_tensor(inputs)
        y = torch.as_tensor(labels).long()
        if x.shape[0] != y.shape[0] or y.dim() != 1:
            raise BadInputError(
                f"need one label per input row: {tuple(x.shape)} vs {tuple(y.shape)}"
            )
        if x.shape[0] == 0:
            raise BadInputError("classification evaluation needs at least one sample")
        if batch_size < 1:
            raise BadInputError("batch_size must be ≥ 1")
        self.inputs, self.labels, self.batch_size = x, y, batch_size
        self.forward = forward

    @classmethod
    def from_npz(cls, path: str | Path, **kwargs: Any) -> ClassificationEvaluator:
        """Read arrays ``x`` and ``y`` from an ``.npz`` file (no pickles)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(z["x"], z["y"], **kwargs)
        except (OSError, KeyError, ValueError) as exc:
            raise BadInputError(f"{path}: need arrays 'x' and 'y' ({exc})") from None

    def evaluate(self, artifact: ArtifactLike) -> dict[str, float]:
        model = resolve_model(artifact)
        logits = []
        with torch.inference_mode():
            for xb in torch.split(self.inputs, self.batch_size):
                out = self.forward(model, xb) if self.forward is not None else model(xb)
                logits.append(out.float())
        z = torch.cat(logits)
        if z.dim() != 2 or z.shape[0] != self.labels.shape[0]:
            raise BadInputError(f"model output {tuple(z.shape)} is not samples × classes")
        acc = accuracy(z, self.labels)
        loss = float(nn.functional.cross_entropy(z, self.labels))
        return {
            "accuracy": acc,
            "error_rate": 1.0 - acc,
            "loss": loss,
            "samples": float(self.labels.shape[0]),
        }
