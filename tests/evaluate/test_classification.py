"""The classification evaluator: accuracy on held-out data, from a model or an artifact folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ratecraft.errors import BadInputError
from ratecraft.evaluate import Evaluator, available_evaluators, get_evaluator, resolve_model
from ratecraft.evaluate.classification import ClassificationEvaluator, accuracy
from ratecraft.shrink import build_model, save_artifact

SPEC = {"builder": "mlp", "sizes": [4, 3]}


def identity_classifier() -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(SPEC)
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(3, 4))
        model[0].bias.zero_()
    return model


def data(n: int = 30, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.nn.functional.one_hot(y, 4).float() + 0.01 * torch.randn(n, 4, generator=g)
    return x, y


def test_perfect_and_wrong_labels():
    x, y = data()
    ev = ClassificationEvaluator(x, y, batch_size=7)
    res = ev.evaluate(identity_classifier())
    assert res["accuracy"] == 1.0 and res["error_rate"] == 0.0 and res["samples"] == 30
    wrong = ClassificationEvaluator(x, (y + 1) % 3).evaluate(identity_classifier())
    assert wrong["accuracy"] == 0.0 and wrong["loss"] > res["loss"]
    assert all(isinstance(v, float) for v in res.values())


def test_evaluates_a_saved_artifact(tmp_path):
    save_artifact(identity_classifier(), tmp_path / "a", spec=SPEC)
    x, y = data()
    np.savez(tmp_path / "d.npz", x=x.numpy(), y=y.numpy())
    ev = ClassificationEvaluator.from_npz(tmp_path / "d.npz")
    assert ev.evaluate(tmp_path / "a")["accuracy"] == 1.0
    assert isinstance(ev, Evaluator)


def test_registry():
    assert "classification" in available_evaluators()
    x, y = data()
    assert get_evaluator("classification", inputs=x, labels=y).evaluate(identity_classifier())
    with pytest.raises(BadInputError):
        get_evaluator("nope")


def test_bad_inputs():
    x, y = data()
    with pytest.raises(BadInputError):
        ClassificationEvaluator(x, y[:-1])
    with pytest.raises(BadInputError):
        ClassificationEvaluator(x[:0], y[:0])
    with pytest.raises(BadInputError):
        resolve_model(42)
    seq = torch.nn.Sequential(torch.nn.Flatten(0))
    with pytest.raises(BadInputError, match="samples × classes"):
        ClassificationEvaluator(x, y).evaluate(seq)
    assert accuracy(torch.tensor([[0.0, 1.0]]), torch.tensor([1])) == 1.0
