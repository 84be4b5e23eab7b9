"""Episodes: propose → pre-flight → run → proxy evaluation → full evaluation → update the front
→ adapt, until the trial or time budget is spent or the hypervolume stops improving.

One Optuna study (journal storage in the run folder) holds the trials; each finished episode is
also written as a JSON record before it is told to Optuna, which is what makes a killed run
resumable without losing or repeating a finished trial (see :mod:`ratecraft.autopilot.journal`).
Trials run through a backend: in this process (``local``) or in parallel through Ray Tune.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ratecraft.autopilot.cache import ResultCache
from ratecraft.autopilot.journal import STUDY_NAME, Journal
from ratecraft.autopilot.objectives import Reward, pareto_front
from ratecraft.autopilot.problems import Problem
from ratecraft.autopilot.proposers import Context, Proposer
from ratecraft.autopilot.space import SearchSpace, Strategy, strategy_hash
from ratecraft.errors import BadInputError, RatecraftError

log = logging.getLogger(__name__)

RUN_ERRORS = (RatecraftError, ValueError, RuntimeError, ArithmeticError, MemoryError, OSError)
_BIG = 1e6  # Optuna wants finite constraint values


@dataclass
class LoopSettings:
    """Budgets and stopping rules of a run."""

    trials: int = 40
    time_budget_s: float | None = None
    patience: int | None = None  # stop after this many trials without a hypervolume gain
    min_improvement: float = 1e-4
    proxy_margin: float = 0.02  # normalized slack when deciding whether a proxy could join
    parallel: int = 1


@dataclass
class Summary:
    """What a run (or a resumed session of it) ended with."""

    records: list[dict[str, Any]]
    front: list[dict[str, Any]]
    hypervolume: float
    stop_reason: str
    new_trials: int
    cache_hits: int = 0
    proposer_state: dict[str, Any] = field(default_factory=dict)


def execute_episode(
    problem: Problem,
    reward: Reward,
    strategy: Strategy,
    front_points: np.ndarray,
    cache: ResultCache | None,
    margin: float = 0.02,
) -> dict[str, Any]:
    """Pre-flight, proxy evaluation and — for candidates that could join the front — full
    evaluation of one strategy. Pure apart from the cache, so Ray workers can run it."""
    t0 = time.perf_counter()
    out: dict[str, Any] = {"status": "complete", "cached": {}, "error": None}
    reason = problem.preflight(strategy)
    if reason:
        out.update(status="skipped", error=reason, seconds=time.perf_counter() - t0)
        return out
    fingerprint = problem.fingerprint()

    def measure(fidelity: str) -> dict[str, float]:
        hit = cache.get(strategy, fingerprint, fidelity) if cache else None
        out["cached"][fidelity] = hit is not None
        if hit is not None:
            return hit
        metrics = problem.evaluate(strategy, fidelity)
        if cache:
            cache.put(strategy, fingerprint, fidelity, metrics)
        return metrics

    try:
        proxy = measure("proxy")
        out["proxy_metrics"] = proxy
        if could_join(reward, proxy, front_points, margin):
            out.update(metrics=measure("full"), fidelity="full")
        else:
            out.update(metrics=proxy, fidelity="proxy")
    except RUN_ERRORS as exc:
        log.info("trial failed: %s", exc)
        out.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    except BaseException as exc:  # a Rust panic in a native extension is a BaseException
        if type(exc).__name__ != "PanicException":
            raise
        log.warning("native code panicked on %s: %s", strategy, str(exc).splitlines()[0])
        out.update(status="failed", error=f"PanicException: {str(exc).splitlines()[0]}")
    out["seconds"] = time.perf_counter() - t0
    return out


def could_join(
    reward: Reward, metrics: dict[str, float], front_points: np.ndarray, margin: float
) -> bool:
    """True when proxy ``metrics`` are (nearly) feasible and no front member clearly dominates."""
    for c, v in zip(reward.constraints, reward.violations(metrics), strict=True):
        if v > margin * max(abs(c.threshold), 1.0):
            return False
    if len(front_points) == 0:
        return True
    p = reward.loss_point(metrics) - margin
    return not bool(np.any(np.all(front_points <= p, axis=1) & np.any(front_points < p, axis=1)))


def front_records(reward: Reward, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Feasible, fully evaluated records that no other such record dominates."""
    pool = [
        r
        for r in records
        if r.get("status") == "complete" and r.get("fidelity") == "full" and r.get("feasible")
    ]
    if not pool:
        return []
    idx = pareto_front(np.array([reward.loss_point(r["metrics"]) for r in pool]))
    return [pool[i] for i in idx]


def run_hypervolume(reward: Reward, records: Sequence[dict[str, Any]]) -> float:
    return reward.hypervolume([r["metrics"] for r in front_records(reward, records)])


class Autopilot:
    """Drives one run folder: recovery, the episode loop, records and the study."""

    def __init__(
        self,
        problem: Problem,
        reward: Reward,
        space: SearchSpace,
        journal: Journal,
        proposer: Proposer,
        settings: LoopSettings | None = None,
        *,
        cache: ResultCache | None = None,
        backend: Any = None,
        on_episode: Callable[[dict[str, Any], list[dict[str, Any]], float], None] | None = None,
        tracker: Any = None,
    ) -> None:
        import warnings

        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        self.problem, self.reward, self.space = problem, reward, space
        self.journal, self.proposer = journal, proposer
        self.settings = settings or LoopSettings()
        self.cache = cache if cache is not None else ResultCache(journal.run_dir / "cache")
        self.backend = backend
        self.on_episode = on_episode
        self.tracker = tracker
        self.session = int(time.time() * 1000) % 10**10 + os.getpid() % 1000
        self.study = optuna.create_study(
            study_name=STUDY_NAME,
            storage=journal.storage(),
            directions=reward.directions,
            sampler=proposer.sampler(len(reward.objectives)),
            load_if_exists=True,
        )
        if self.study.directions and len(self.study.directions) != len(reward.objectives):
            raise BadInputError("the run folder's study has a different number of objectives")
        self.study.set_user_attr("objective_names", [o.name for o in reward.objectives])
        self.records = journal.episodes()
        self._recover()
        self._initial = 0
        if not self.records and not self.study.trials:
            for strategy in problem.initial_strategies():
                self.study.enqueue_trial(space.to_optuna_params(space.validate(strategy)))
                self._initial += 1

    # ---- recovery -----------------------------------------------------------------------------
    def _recover(self) -> None:
        """Settle trials a killed session left running: replay recorded ones, fail the rest."""
        from optuna.trial import Trial, TrialState

        for frozen in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            record = self.journal.read_episode(frozen.number)
            if record is not None:
                log.info("replaying finished trial %d into the study", frozen.number)
                self._tell(Trial(self.study, frozen._trial_id), record)
            else:
                log.info("trial %d never finished; it will be proposed again", frozen.number)
                self.study.tell(frozen.number, state=TrialState.FAIL)

    # ---- one episode --------------------------------------------------------------------------
    def _values(self, metrics: dict[str, float]) -> list[float]:
        values = self.reward.values(metrics)
        return [o.finite(v) for o, v in zip(self.reward.objectives, values, strict=True)]

    def _tell(self, trial: Any, record: dict[str, Any]) -> None:
        from optuna.trial import TrialState

        if record["status"] == "skipped":
            self.study.tell(trial, state=TrialState.FAIL)
            return
        if record["status"] == "failed":  # a strategy that cannot run: worst values, infeasible
            trial.set_user_attr("failed", str(record.get("error")))
            for c in self.reward.constraints:
                trial.set_constraint(str(c), _BIG)
            self.study.tell(trial, [o.worst for o in self.reward.objectives])
            return
        for c, v in zip(self.reward.constraints, record["violations"], strict=True):
            trial.set_constraint(str(c), float(np.clip(v, -_BIG, _BIG)))
        self.study.tell(trial, self._values(record["metrics"]))

    def _context(self) -> Context:
        return Context(
            space=self.space,
            records=self.records,
            front=front_records(self.reward, self.records),
            budget=self.settings.trials,
        )

    def ask(self) -> tuple[Any, Strategy, str]:
        """Let the proposer enqueue if it wants, then ask the study for the next strategy
        (the problem's initial strategies come first, whatever the proposer)."""
        if self._initial:
            self._initial -= 1
            origin = "initial"
        else:
            origin = self.proposer.before_ask(self.study, self._context())
        trial = self.study.ask()
        try:
            strategy = self.space.validate(self.space.suggest(trial))
        except BadInputError as exc:  # a stale enqueued point no longer fits the space
            log.warning("dropping an out-of-space proposal: %s", exc)
            from optuna.trial import TrialState

            self.study.tell(trial, state=TrialState.FAIL)
            return self.ask()
        return trial, strategy, origin

    def finish(self, trial: Any, strategy: Strategy, origin: str, result: dict[str, Any]) -> dict:
        """Record an executed episode, tell the study, update the front and adapt."""
        before = run_hypervolume(self.reward, self.records)
        record: dict[str, Any] = {
            "trial": trial.number,
            "strategy": strategy,
            "hash": strategy_hash(strategy),
            "origin": origin,
            "proposer": self.proposer.name,
            "session": self.session,
            "metrics": result.get("metrics", {}),
            "proxy_metrics": result.get("proxy_metrics", {}),
            **{k: result.get(k) for k in ("status", "fidelity", "cached", "error", "seconds")},
        }
        if record["status"] == "complete":
            record["values"] = self.reward.values(record["metrics"])
            record["violations"] = self.reward.violations(record["metrics"])
            record["feasible"] = self.reward.feasible(record["metrics"])
        else:
            record.update(values=None, violations=None, feasible=False)
        after = run_hypervolume(self.reward, [*self.records, record])
        record["improved"] = after > before + self.settings.min_improvement
        record["hypervolume"] = after
        self.journal.write_episode(record)  # first the record, then Optuna (see journal.py)
        self._tell(trial, record)
        self.records.append(record)
        self.proposer.update(record, record["improved"])
        front = front_records(self.reward, self.records)
        if self.tracker is not None:
            self.tracker.log_episode(record, after)
        if self.on_episode is not None:
            self.on_episode(record, front, after)
        return record

    # ---- the loop -----------------------------------------------------------------------------
    def _stop_reason(self, started: float) -> str | None:
        s = self.settings
        if len(self.records) >= s.trials:
            return "trial budget"
        if s.time_budget_s is not None and time.monotonic() - started >= s.time_budget_s:
            return "time budget"
        if s.patience and len(self.records) > s.patience + self.proposer.startup:
            hv = [float(r.get("hypervolume") or 0.0) for r in self.records]
            if hv[-1] - hv[-1 - s.patience] < s.min_improvement:
                return "hypervolume plateau"
        return None

    def run(self) -> Summary:
        started = time.monotonic()
        done_before = len(self.records)
        reason = self._stop_reason(started)
        while reason is None:
            n = max(1, min(self.settings.parallel, self.settings.trials - len(self.records)))
            batch = [self.ask() for _ in range(n)]
            front = front_records(self.reward, self.records)
            points = np.array([self.reward.loss_point(r["metrics"]) for r in front])
            points = points.reshape(len(front), len(self.reward.objectives))
            strategies = [s for _, s, _ in batch]
            if self.backend is None:
                results = [
                    execute_episode(
                        self.problem, self.reward, s, points, self.cache, self.settings.proxy_margin
                    )
                    for s in strategies
                ]
            else:
                results = self.backend.execute(
                    self.problem, self.reward, strategies, points, self.cache, self.settings
                )
            for (trial, strategy, origin), result in zip(batch, results, strict=True):
                self.finish(trial, strategy, origin, result)
            reason = self._stop_reason(started)
        front = front_records(self.reward, self.records)
        return Summary(
            records=self.records,
            front=front,
            hypervolume=run_hypervolume(self.reward, self.records),
            stop_reason=reason,
            new_trials=len(self.records) - done_before,
            cache_hits=sum(
                any((r.get("cached") or {}).values()) for r in self.records[done_before:]
            ),
            proposer_state=self.proposer.state(),
        )
