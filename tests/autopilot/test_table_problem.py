"""The table problem: learned table codecs scored on held-out rows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ratecraft.autopilot.table_problem import TableCodecProblem
from ratecraft.data.synthetic_table import simulate_table
from ratecraft.errors import BadInputError


def test_one_proxy_trial_scores_heldout_rows() -> None:
    table = simulate_table(seed=0, n_samples=200)
    problem = TableCodecProblem(table, proxy_epochs=1, full_epochs=1, proxy_rows=100)
    space = problem.default_space()
    assert "ratio" in space.shared and space.methods
    method = "grouped-vae" if "grouped-vae" in space.methods else next(iter(space.methods))
    strategy = space.sample(np.random.default_rng(0), method)
    strategy["params"]["ratio"] = 6.0
    metrics = problem.evaluate(space.validate(strategy), "proxy")
    assert 0.0 <= metrics["nmse"] < 1.0 and math.isfinite(metrics["worst_group_nmse"])
    assert metrics["worst_group_nmse"] >= metrics["nmse"] * 0.5
    assert 0.5 < metrics["coverage"] <= 1.0 and metrics["ratio"] > 1.0
    reward = problem.default_reward()
    assert [o.name for o in reward.objectives] == ["nmse", "ratio"]
    with pytest.raises(BadInputError):
        TableCodecProblem(simulate_table(seed=0, n_samples=10))
