"""The episode loop: cache hits skip runs, records match the study, fronts are feasible."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ratecraft.autopilot.cache import ResultCache
from ratecraft.autopilot.journal import Journal
from ratecraft.autopilot.loop import Autopilot, LoopSettings, could_join, execute_episode
from ratecraft.autopilot.problems import CodecProblem
from ratecraft.autopilot.proposers import make_proposer
from ratecraft.autopilot.space import SearchSpace
from ratecraft.errors import BadInputError


class CountingCodecProblem(CodecProblem):
    """The real codec problem, counting how often each fidelity really runs."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.runs: list[tuple[str, str]] = []

    def evaluate(self, strategy, fidelity):
        self.runs.append((strategy["method"], fidelity))
        return super().evaluate(strategy, fidelity)


def _wavelet_only(problem: CodecProblem) -> SearchSpace:
    return problem.default_space().restricted(
        {"methods": ["wavelet"], "shared": {"ratio": {"low": 3, "high": 12}}}
    )


def test_cache_hit_skips_the_run(tiny_recording, tmp_path) -> None:
    problem = CountingCodecProblem(tiny_recording, proxy_seconds=0.05, full_seconds=0.2)
    reward = problem.default_reward()
    space = _wavelet_only(problem)
    strategy = space.sample(np.random.default_rng(0))
    cache = ResultCache(tmp_path / "cache")
    first = execute_episode(problem, reward, strategy, np.zeros((0, 2)), cache)
    assert first["status"] == "complete" and first["cached"] == {"proxy": False, "full": False}
    assert len(problem.runs) == 2
    again = execute_episode(problem, reward, strategy, np.zeros((0, 2)), cache)
    assert len(problem.runs) == 2, "a cached strategy must not run again"
    assert again["cached"] == {"proxy": True, "full": True}
    assert again["metrics"] == first["metrics"]
    # another input (fingerprint) misses the cache
    other = CountingCodecProblem(tiny_recording, proxy_seconds=0.06, full_seconds=0.2)
    execute_episode(other, reward, strategy, np.zeros((0, 2)), cache)
    assert len(other.runs) == 2


def test_dominated_proxies_skip_the_full_evaluation(codec_problem) -> None:
    reward = codec_problem.default_reward()
    front = np.array([[0.0, 0.0]])  # a front member that dominates everything
    metrics = {"spike_f1": 0.99, "ratio": 20.0}
    assert not could_join(reward, metrics, front, 0.02)
    assert could_join(reward, metrics, np.zeros((0, 2)), 0.02)
    assert not could_join(reward, {"spike_f1": 0.5, "ratio": 20.0}, np.zeros((0, 2)), 0.02)


def test_loop_runs_records_and_tells_the_study(codec_problem, tmp_path) -> None:
    reward = codec_problem.default_reward()
    journal = Journal.create(tmp_path / "run", {"request": {}})
    proposer = make_proposer("tpe", seed=0, budget=6)
    pilot = Autopilot(
        codec_problem,
        reward,
        _wavelet_only(codec_problem),
        journal,
        proposer,
        LoopSettings(trials=6),
    )
    summary = pilot.run()
    assert summary.stop_reason == "trial budget" and len(summary.records) == 6
    files = sorted(p.name for p in (tmp_path / "run" / "episodes").iterdir())
    assert files == [f"{i:05d}.json" for i in range(6)]
    trials = pilot.study.get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 6
    for r in summary.front:
        assert r["feasible"] and r["fidelity"] == "full"
        assert r["metrics"]["spike_f1"] >= 0.9
    hv = [r["hypervolume"] for r in summary.records]
    assert hv == sorted(hv), "the hypervolume of the front can only grow"
    record = json.loads((tmp_path / "run" / "episodes" / "00000.json").read_text())
    assert record["strategy"]["method"] == "wavelet"
    with pytest.raises(BadInputError):
        Journal.create(tmp_path / "run", {})


@pytest.mark.parametrize("name", ["nsga2", "bandit", "random", "grid"])
def test_every_proposer_runs_a_few_trials(codec_problem, tmp_path, name) -> None:
    reward = codec_problem.default_reward()
    space = codec_problem.default_space().restricted({"shared": {"ratio": {"low": 3, "high": 20}}})
    journal = Journal.create(tmp_path / name, {"request": {}})
    proposer = make_proposer(name, seed=1, budget=4, startup=2)
    pilot = Autopilot(codec_problem, reward, space, journal, proposer, LoopSettings(trials=4))
    summary = pilot.run()
    assert len(summary.records) == 4
    assert all(space.validate(r["strategy"]) == r["strategy"] for r in summary.records)
    if name == "bandit":
        assert sum(a["pulls"] for a in summary.proposer_state.values()) == 4
    if name == "grid":
        assert {r["origin"] for r in summary.records} == {"grid"}
