"""The shrink problem on the digits CNN: recipes from strategies, real bytes, constraints."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torchao")
pytest.importorskip("torch_pruning")

from ratecraft.autopilot.shrink_problem import DigitsShrinkProblem, recipe_steps
from ratecraft.errors import BadInputError


@pytest.fixture(scope="module")
def problem() -> DigitsShrinkProblem:
    return DigitsShrinkProblem(seed=0, epochs=3, proxy_samples=100)


def test_recipes_follow_the_strategy() -> None:
    s = {
        "method": "prune",
        "params": {"sparsity": 0.5, "conv": False, "finetune_steps": 0, "quant": "int4"},
    }
    assert [name for name, _ in recipe_steps(s)] == ["prune-magnitude", "intx-weight"]
    assert recipe_steps({"method": "quantize", "params": {"quant": "none"}}) == []
    with pytest.raises(BadInputError):
        recipe_steps({"method": "quantize", "params": {"quant": "fp3"}})
    with pytest.raises(BadInputError):
        recipe_steps({"method": "melt", "params": {"quant": "none"}})


def test_quantization_shrinks_real_bytes_and_reward_is_relative(problem) -> None:
    base = problem.baseline()
    assert base["accuracy"] > 0.85 and base["latency_ms"] > 0
    int8 = problem.evaluate({"method": "quantize", "params": {"quant": "int8-weight"}}, "full")
    assert int8["size_bytes"] < 0.6 * base["size_bytes"]
    assert abs(int8["accuracy"] - base["accuracy"]) <= 0.02
    reward = problem.default_reward()
    assert [o.name for o in reward.objectives] == ["accuracy", "size_bytes", "latency_ms"]
    (limit,) = reward.constraints
    assert limit.threshold == pytest.approx(base["accuracy"] - 0.01, abs=1e-4)
    assert reward.score(int8, "size") > reward.score(base, "size")


def test_space_samples_all_run(problem) -> None:
    space = problem.default_space()
    rng = np.random.default_rng(0)
    for method in ("prune", "structured"):
        s = space.sample(rng, method)
        s["params"]["quant"] = "none"
        proxy = problem.evaluate(s, "proxy")
        assert 0.0 <= proxy["accuracy"] <= 1.0 and proxy["size_bytes"] > 0
    assert problem.preflight(s) is None
