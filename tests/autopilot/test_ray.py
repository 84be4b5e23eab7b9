"""``--backend ray``: trials in parallel through Ray Tune, same journal and cache."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.tune")

from ratecraft.autopilot.journal import Journal  # noqa: E402
from ratecraft.autopilot.loop import Autopilot, LoopSettings  # noqa: E402
from ratecraft.autopilot.proposers import make_proposer  # noqa: E402
from ratecraft.autopilot.ray_backend import RayBackend  # noqa: E402


# about 90 s on a shared 2-core box (mostly Ray start-up); benchmarks/autopilot.py --ray covers it
@pytest.mark.slow
def test_ray_backend_runs_trials_in_parallel_with_the_same_journal(codec_problem, tmp_path):
    run = tmp_path / "run"
    space = codec_problem.default_space().restricted(
        {"methods": ["wavelet", "pca"], "shared": {"ratio": {"low": 3, "high": 10}}}
    )
    reward = codec_problem.default_reward()
    backend = RayBackend(run, num_cpus=2)
    try:
        pilot = Autopilot(
            codec_problem,
            reward,
            space,
            Journal.create(run, {}),
            make_proposer("tpe", budget=4),
            LoopSettings(trials=4, parallel=2),
            backend=backend,
        )
        summary = pilot.run()
        assert len(summary.records) == 4
        assert all(r["status"] == "complete" for r in summary.records)
        assert len(list((run / "ray").iterdir())) == 2  # two Tune batches of two trials
        assert sorted(p.name for p in (run / "episodes").iterdir())[-1] == "00003.json"
        # a second run over the same strategies hits the cache the workers filled
        strategies = [r["strategy"] for r in summary.records]
        results = backend.execute(
            codec_problem,
            reward,
            strategies,
            pilot_points(reward),
            pilot.cache,
            LoopSettings(parallel=2),
        )
        assert all(all(r["cached"].values()) for r in results)
    finally:
        backend.shutdown()


def pilot_points(reward):
    import numpy as np

    return np.zeros((0, len(reward.objectives)))
