"""``--backend ray``: run a batch of trials in parallel through Ray Tune.

Trial-level parallelism only: the driver asks the proposer for a batch of strategies, Ray Tune
runs each one (:func:`ratecraft.autopilot.loop.execute_episode`, the same code the local
backend runs, with the same result cache folder), and the driver writes the episode records and
tells the study in order — so the journal, resume and the cache behave exactly as locally.
Scheduling, placement and retries are Ray's.

On a laptop ``ray.init(num_cpus=N)`` starts a local instance; to use an existing cluster pass
its address (``--ray-address ray://head:10001`` or ``auto``, or set ``RAY_ADDRESS``); the run
folder must then be on storage every node can reach.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ratecraft.errors import MissingExtraError
from ratecraft.system import start_ray

log = logging.getLogger(__name__)


def _episode_trainable(config: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """One Ray Tune trial: run strategy ``config["index"]`` of the batch and return its result."""
    from ratecraft.autopilot.cache import ResultCache
    from ratecraft.autopilot.loop import execute_episode

    try:
        import torch

        torch.set_num_threads(kw.get("threads", 1))
    except ImportError:  # pragma: no cover - torch is a base dependency
        pass
    cache = ResultCache(kw["cache_dir"]) if kw.get("cache_dir") else None
    strategy = kw["strategies"][int(config["index"])]
    result = execute_episode(
        kw["problem"], kw["reward"], strategy, kw["points"], cache, kw["margin"]
    )
    return {"episode": json.dumps(result, default=float)}


class RayBackend:
    """Runs batches of episodes as Ray Tune trials (one CPU each by default)."""

    def __init__(
        self,
        run_dir: Path,
        *,
        num_cpus: int | None = None,
        address: str | None = None,
        cpus_per_trial: float = 1.0,
    ) -> None:
        try:
            import ray
            from ray import tune  # noqa: F401
        except ImportError:
            raise MissingExtraError("ray[tune]", "distributed") from None
        self.run_dir = Path(run_dir)
        self.cpus_per_trial = cpus_per_trial
        self._batch = 0
        start_ray(address, num_cpus)
        self.num_cpus = int(ray.cluster_resources().get("CPU", 1))

    def execute(
        self,
        problem: Any,
        reward: Any,
        strategies: list[dict[str, Any]],
        points: np.ndarray,
        cache: Any,
        settings: Any,
    ) -> list[dict[str, Any]]:
        """Run ``strategies`` concurrently; results come back in the order given."""
        from ray import tune

        self._batch += 1
        trainable = tune.with_resources(
            tune.with_parameters(
                _episode_trainable,
                problem=problem,
                reward=reward,
                strategies=strategies,
                points=points,
                cache_dir=str(cache.folder) if cache is not None else None,
                margin=settings.proxy_margin,
            ),
            {"cpu": self.cpus_per_trial},
        )
        tuner = tune.Tuner(
            trainable,
            param_space={"index": tune.grid_search(list(range(len(strategies))))},
            tune_config=tune.TuneConfig(max_concurrent_trials=max(1, settings.parallel)),
            run_config=tune.RunConfig(
                name=f"batch-{self._batch:04d}",
                storage_path=str((self.run_dir / "ray").resolve()),
                verbose=0,
            ),
        )
        grid = tuner.fit()
        out: list[dict[str, Any] | None] = [None] * len(strategies)
        for result in grid:
            index = int(result.config["index"])
            if result.error is not None or "episode" not in (result.metrics or {}):
                out[index] = {"status": "failed", "error": f"ray trial failed: {result.error}"}
                continue
            out[index] = json.loads(result.metrics["episode"])
        for i, item in enumerate(out):
            if item is None:
                out[i] = {"status": "failed", "error": "ray returned no result", "cached": {}}
        return out  # type: ignore[return-value]

    @staticmethod
    def shutdown() -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()
