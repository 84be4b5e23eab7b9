"""Conditional search spaces: sampling, validation, YAML restriction, grid, mutation, hashing."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from ratecraft.autopilot.problems import CLASSICAL_SPACE
from ratecraft.autopilot.space import Param, SearchSpace, strategy_hash
from ratecraft.errors import BadInputError


def _space() -> SearchSpace:
    return SearchSpace(
        methods={m: dict(p) for m, p in CLASSICAL_SPACE.items()},
        shared={"ratio": Param("float", 2.0, 200.0, log=True)},
    )


def test_sampled_strategies_validate_and_are_conditional() -> None:
    space = _space()
    rng = np.random.default_rng(0)
    for _ in range(50):
        s = space.sample(rng)
        assert space.validate(s) == s
        assert set(s["params"]) == {"ratio", *space.methods[s["method"]]}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(10):
        trial = study.ask()
        s = space.validate(space.suggest(trial))
        assert all(
            k == "method" or k == "ratio" or k.startswith(s["method"] + ".") for k in trial.params
        )
        assert space.from_optuna_params(trial.params) == s
        study.tell(trial, 0.0)


@pytest.mark.parametrize(
    "bad",
    [
        {"method": "zip", "params": {}},
        {"method": "pca", "params": {"ratio": 10.0}},
        {
            "method": "pca",
            "params": {
                "ratio": 1000.0,
                "dead_zone": 0.1,
                "temporal": True,
                "component_fraction": 0.5,
            },
        },
        {
            "method": "pca",
            "params": {"ratio": 10.0, "dead_zone": 0.1, "temporal": 1, "component_fraction": 0.5},
        },
        {
            "method": "pca",
            "params": {
                "ratio": 10.0,
                "dead_zone": 0.1,
                "temporal": True,
                "component_fraction": 0.5,
                "extra": 1,
            },
        },
        {
            "method": "quant",
            "params": {"ratio": 10.0, "max_order": 2.5, "context_block": 64, "neighbours": True},
        },
        ["quant"],
    ],
)
def test_invalid_strategies_are_rejected(bad: object) -> None:
    with pytest.raises(BadInputError):
        _space().validate(bad)


def test_yaml_restriction_and_extension() -> None:
    doc = {
        "methods": ["wavelet", "quant"],
        "shared": {"ratio": {"low": 5, "high": 50}},
        "params": {"wavelet": {"wavelet": {"choices": ["db4", "sym8"]}}},
    }
    space = _space().restricted(doc)
    assert list(space.methods) == ["wavelet", "quant"]
    assert space.shared["ratio"].low == 5 and space.shared["ratio"].log
    assert space.methods["wavelet"]["wavelet"].choices == ("db4", "sym8")
    extended = _space().restricted({"params": {"sz3": {"error_bound": {"low": 0.5, "high": 8}}}})
    assert "sz3" in extended.methods and "quant" in extended.methods
    with pytest.raises(BadInputError):
        _space().restricted({"methods": ["nope"]})
    with pytest.raises(BadInputError):
        _space().restricted({"colour": "red"})


def test_grid_mutation_and_hash() -> None:
    space = _space()
    grid = space.grid(2)
    assert len({strategy_hash(s) for s in grid}) == len(grid)
    for s in grid:
        space.validate(s)
    rng = np.random.default_rng(3)
    parent = space.sample(rng, "wavelet")
    for _ in range(30):
        child = space.mutate(parent, rng)
        assert space.validate(child)["method"] == "wavelet"
    same = {"params": {"ratio": 10.0000000000001}, "method": "x"}
    assert strategy_hash(same) == strategy_hash({"method": "x", "params": {"ratio": 10.0}})
    assert strategy_hash(same) != strategy_hash({"method": "x", "params": {"ratio": 10.5}})
