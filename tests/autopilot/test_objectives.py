"""Reward: Pareto fronts and hypervolumes on hand-made points; constraints; presets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ratecraft.autopilot.loop import front_records, run_hypervolume
from ratecraft.autopilot.objectives import Constraint, Objective, Reward, hypervolume, pareto_front
from ratecraft.errors import BadInputError


def test_pareto_front_of_hand_made_points() -> None:
    pts = np.array([[1, 5], [2, 3], [3, 4], [4, 1], [2, 3], [5, 5]], dtype=float)
    # (3,4) is dominated by (2,3); (5,5) by everything; the duplicate (2,3) stays with its twin
    assert sorted(pareto_front(pts).tolist()) == [0, 1, 3, 4]


def test_hypervolume_2d_by_hand() -> None:
    pts = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    # staircase below reference (4, 4): 3*1 + 2*1 + 1*1 = 6
    assert hypervolume(pts, np.array([4.0, 4.0])) == pytest.approx(6.0)
    # a dominated point and a point outside the reference change nothing
    more = np.vstack([pts, [[3.0, 3.0], [5.0, 0.5]]])
    assert hypervolume(more, np.array([4.0, 4.0])) == pytest.approx(6.0)
    assert hypervolume(np.zeros((0, 2)), np.ones(2)) == 0.0


def test_hypervolume_3d_by_hand_and_against_optuna() -> None:
    ref = np.ones(3)
    assert hypervolume(np.array([[0.5, 0.5, 0.5]]), ref) == pytest.approx(0.125)
    # two boxes 0.5*1*1 and 1*0.5*1 overlapping in 0.5*0.5*1: union 0.75
    two = np.array([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]])
    assert hypervolume(two, ref) == pytest.approx(0.75)
    from optuna._hypervolume import compute_hypervolume

    rng = np.random.default_rng(0)
    for d in (2, 3, 4):
        pts = rng.random((12, d))
        ours = hypervolume(pts, np.ones(d))
        theirs = compute_hypervolume(pts[pareto_front(pts)], np.ones(d))
        assert ours == pytest.approx(theirs, rel=1e-9)


def test_hypervolume_grows_when_a_point_is_added() -> None:
    rng = np.random.default_rng(1)
    pts = rng.random((6, 3))
    base = hypervolume(pts, np.ones(3))
    assert hypervolume(np.vstack([pts, [[0.01, 0.01, 0.01]]]), np.ones(3)) > base


def _record(trial: int, f1: float, ratio: float, fidelity: str = "full") -> dict:
    return {
        "trial": trial,
        "status": "complete",
        "fidelity": fidelity,
        "metrics": {"spike_f1": f1, "ratio": ratio},
        "strategy": {"method": "quant", "params": {}},
    }


def test_constraints_exclude_infeasible_trials_from_the_front() -> None:
    reward = Reward(
        [Objective.parse("spike_f1:max"), Objective.parse("ratio:max")],
        [Constraint.parse("spike_f1>=0.95")],
    )
    records = [_record(0, 0.99, 10.0), _record(1, 0.97, 30.0), _record(2, 0.90, 200.0)]
    for r in records:
        r["feasible"] = reward.feasible(r["metrics"])
    assert [r["feasible"] for r in records] == [True, True, False]
    front = front_records(reward, records)
    # trial 2 would dominate nothing but is the best ratio: it must still be left out
    assert sorted(r["trial"] for r in front) == [0, 1]
    hv_feasible = run_hypervolume(reward, records[:2])
    assert run_hypervolume(reward, records) == pytest.approx(hv_feasible)
    # a proxy-only evaluation never joins the front either
    proxy = _record(3, 0.99, 100.0, fidelity="proxy")
    proxy["feasible"] = True
    assert 3 not in [r["trial"] for r in front_records(reward, [*records, proxy])]


def test_constraint_parsing_and_violation() -> None:
    c = Constraint.parse("spike_f1 >= 0.95")
    assert c.violation({"spike_f1": 0.97}) < 0 < c.violation({"spike_f1": 0.9})
    assert c.violation({}) == math.inf
    assert Constraint.parse("size_bytes<=3e8").violation({"size_bytes": 1e8}) < 0
    for bad in ("spike_f1", "f1 => 3", ">=0.5", "x>=abc"):
        with pytest.raises(BadInputError):
            Constraint.parse(bad)


def test_objective_parsing_and_normalization() -> None:
    ratio = Objective.parse("ratio:max")
    assert ratio.log and ratio.normalized(500.0) == 0.0 and ratio.normalized(1.0) == 1.0
    assert 0 < ratio.normalized(20.0) < 1
    assert Objective.parse("spike_f1").direction == "max"
    assert Objective.parse("latency_ms:min").normalized(float("nan")) == 1.0
    for bad in ("ratio:min", "spike_f1:up", "2x:max"):
        with pytest.raises(BadInputError):
            Objective.parse(bad)
    with pytest.raises(BadInputError):
        Reward([Objective.parse("ratio"), Objective.parse("ratio")])


def test_presets_rank_by_their_role() -> None:
    reward = Reward([Objective.parse("spike_f1:max"), Objective.parse("ratio:max")])
    accurate = {"spike_f1": 0.999, "ratio": 5.0}
    small = {"spike_f1": 0.8, "ratio": 300.0}
    assert reward.score(accurate, "accuracy") > reward.score(small, "accuracy")
    assert reward.score(small, "size") > reward.score(accurate, "size")
    assert 0.0 <= reward.score(small, "balanced") <= 1.0
    with pytest.raises(BadInputError):
        reward.score(small, "fastest")
