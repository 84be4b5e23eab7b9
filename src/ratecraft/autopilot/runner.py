"""One call that starts or resumes a run folder: target → problem, space, reward, proposer,
backend; the episode loop; then ``front.json``, the best artifacts and the report.

Everything a resumed run needs is in ``RUN_DIR/run.json``, so ``--resume RUN_DIR`` takes no
other option except a larger ``--trials``.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ratecraft.autopilot.journal import Journal
from ratecraft.autopilot.loop import Autopilot, LoopSettings, Summary
from ratecraft.autopilot.objectives import Constraint, Objective, Reward
from ratecraft.autopilot.problems import CodecProblem, Problem
from ratecraft.autopilot.proposers import DEFAULT_PROPOSER, LLMSettings, make_proposer
from ratecraft.autopilot.report import (
    front_document,
    save_best_artifacts,
    write_front,
    write_report,
)
from ratecraft.errors import BadInputError
from ratecraft.train.tracking import Trackers

log = logging.getLogger(__name__)

SHRINK_TARGETS = ("digits-cnn", "smollm2-mixed")
# RunRequest field -> the `ratecraft autopilot` parameter that sets it
REQUEST_FLAGS = {
    "objectives": "objective",
    "constraints": "constraint",
    "proposer": "proposer",
    "backend": "backend",
    "parallel": "parallel",
    "seed": "seed",
    "time_budget_s": "time_budget",
    "patience": "patience",
    "proxy_seconds": "proxy_seconds",
    "full_seconds": "full_seconds",
    "include_learned": "learned",
    "space": "space",
    "llm_url": "llm_url",
    "llm_model": "llm_model",
    "ray_address": "ray_address",
    "save_artifacts": "no_artifacts",
}


@dataclass
class RunRequest:
    """What the user asked for (stored as ``run.json``)."""

    target: str
    objectives: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    trials: int = 40
    proposer: str = DEFAULT_PROPOSER
    backend: str = "local"
    parallel: int = 2
    seed: int = 0
    time_budget_s: float | None = None
    patience: int | None = None
    proxy_seconds: float = 0.25
    full_seconds: float | None = 2.0
    include_learned: bool = False
    space: dict[str, Any] | None = None
    llm_url: str | None = None
    llm_model: str = "local"
    ray_address: str | None = None
    save_artifacts: bool = True

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> RunRequest:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in doc.items() if k in known})


def build_problem(request: RunRequest) -> tuple[Problem, dict[str, Any]]:
    """The problem for ``request.target`` and the spec that was inferred for it."""
    from ratecraft.autopilot.spec import derive_defaults, infer_file_spec

    if request.target == "digits-cnn":
        from ratecraft.autopilot.shrink_problem import DigitsShrinkProblem

        problem = DigitsShrinkProblem(seed=request.seed)
        return problem, {"spec": problem.describe(), "defaults": problem.defaults()}
    if request.target == "smollm2-mixed":
        from ratecraft.autopilot.mixed_precision import MixedPrecisionProblem

        mixed = MixedPrecisionProblem.for_lm()
        return mixed, {"spec": mixed.describe(), "defaults": {}}
    path = Path(request.target)
    if not path.exists():
        raise BadInputError(
            f"{request.target}: no such file; give a data file or one of "
            f"{', '.join(SHRINK_TARGETS)}"
        )
    spec, data = infer_file_spec(path)
    defaults = derive_defaults(spec)
    if spec.kind == "recording":
        problem: Problem = CodecProblem(
            data,
            proxy_seconds=request.proxy_seconds,
            full_seconds=request.full_seconds,
            include_learned=request.include_learned,
            source=path,
        )
    else:
        from ratecraft.autopilot.table_problem import TableCodecProblem

        problem = TableCodecProblem(data, seed=request.seed)
    return problem, {"spec": spec.to_dict(), "defaults": defaults}


def _check_metric(name: str, what: str, known: frozenset[str], problem: str) -> None:
    """Refuse an objective or constraint on a metric the problem never reports: it would be
    nan in every trial, so the front and its hypervolume would stay empty."""
    if name in known:
        return
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise BadInputError(
        f"{what} {name!r} is not a metric of the {problem} problem{hint}; "
        f"it reports {', '.join(sorted(known))}"
    )


def build_reward(request: RunRequest, problem: Problem) -> Reward:
    """The user's objectives and constraints, or the inferred ones; the problem's own bounds
    (for normalization and the hypervolume) replace the generic ones for the names it knows."""
    own = problem.default_reward()
    known_metrics = problem.metric_names()
    for text in request.objectives:
        _check_metric(Objective.parse(text).name, "objective", known_metrics, problem.name)
    for text in request.constraints:
        _check_metric(Constraint.parse(text).name, "constraint", known_metrics, problem.name)
    if not request.objectives:
        if request.constraints:
            own.constraints = [Constraint.parse(c) for c in request.constraints]
        return own
    known = {o.name: o for o in own.objectives}
    objectives = []
    for text in request.objectives:
        parsed = Objective.parse(text)
        base = known.get(parsed.name)
        objectives.append(
            base if base is not None and base.direction == parsed.direction else parsed
        )
    return Reward(objectives, [Constraint.parse(c) for c in request.constraints])


class _Tracker:
    """MLflow logging of every episode when mlflow is importable (extra ``[track]``): into
    ``$MLFLOW_TRACKING_URI``, else ``mlflow.db`` in the run folder."""

    def __init__(self, run_dir: Path, request: RunRequest) -> None:
        self.trackers = Trackers(
            run_dir, "mlflow", experiment="ratecraft-autopilot", params=request.to_dict()
        )

    def log_episode(self, record: dict[str, Any], hypervolume: float) -> None:
        metrics = {**record["metrics"], "hypervolume": hypervolume}
        self.trackers.log(metrics, step=int(record["trial"]))

    def close(self) -> None:
        self.trackers.close()


def _tracker(run_dir: Path, request: RunRequest) -> _Tracker | None:
    if importlib.util.find_spec("mlflow") is None:
        return None
    try:
        return _Tracker(run_dir, request)
    except Exception as exc:  # tracking must never break a run
        log.warning("mlflow logging disabled: %s", exc)
        return None


def run_autopilot(
    request: RunRequest | None,
    run_dir: str | Path,
    *,
    resume: bool = False,
    trials: int | None = None,
    on_episode: Callable[[dict[str, Any], list[dict[str, Any]], float], None] | None = None,
    on_start: Callable[[dict[str, Any]], None] | None = None,
    problem: Problem | None = None,
    changes: dict[str, Any] | None = None,
) -> tuple[Summary, dict[str, Any]]:
    """Start (``request``) or resume (``resume=True``) the run in ``run_dir``.

    ``problem`` overrides the one built from the target (benchmarks pass a prepared one).
    ``changes``: request fields the user gave again when resuming; any that differs from the
    stored run is refused (a resumed run keeps its options; only ``trials`` may grow). A new
    run that fails before its first trial is recorded leaves no folder behind.
    Returns the loop's summary and the paths of what was written.
    """
    run_dir = Path(run_dir)
    if resume:
        journal = Journal.open(run_dir)
        request = RunRequest.from_dict(journal.config()["request"])
        _check_unchanged(request, changes or {})
        if trials is not None:
            if trials < len(journal.episodes()):
                raise BadInputError(f"--trials {trials} is below the trials already run")
            request.trials = trials
            journal.update_config(request=request.to_dict())
    elif request is None:
        raise BadInputError("give a target to start a run, or --resume RUN_DIR")
    inferred: dict[str, Any]
    if problem is None:
        problem, inferred = build_problem(request)
    else:
        inferred = {"spec": problem.describe(), "defaults": {}}
    reward = build_reward(request, problem)
    space = problem.default_space()
    if request.space:
        space = space.restricted(request.space)
    if on_start is not None:
        on_start(
            {
                **inferred,
                "space": space.to_dict(),
                "objectives": [o.name for o in reward.objectives],
            }
        )
    llm = LLMSettings(request.llm_url, request.llm_model) if request.llm_url else None
    proposer = make_proposer(request.proposer, seed=request.seed, budget=request.trials, llm=llm)
    if request.backend not in ("local", "ray"):
        raise BadInputError(f"unknown backend {request.backend!r}; choose local or ray")
    if not resume:  # everything is checked: only now does the run folder appear
        journal = Journal.create(run_dir, {"request": request.to_dict(), **inferred})
    try:
        return _run(request, run_dir, journal, problem, reward, space, proposer, on_episode)
    except BaseException:
        if not resume and not journal.episodes():
            shutil.rmtree(run_dir, ignore_errors=True)
            log.info("removed %s: the run failed before its first trial was recorded", run_dir)
        raise


def _check_unchanged(stored: RunRequest, changes: dict[str, Any]) -> None:
    """One line for the first option given on resume that differs from the stored run."""
    known = stored.to_dict()
    for key, value in changes.items():
        if key not in known:
            raise BadInputError(f"{key} is not an option of an autopilot run")
        if key != "trials" and known[key] != value:
            flag = "--" + REQUEST_FLAGS.get(key, key).replace("_", "-")
            raise BadInputError(
                f"{flag} {value!r} differs from the run's {known[key]!r}: a resumed run keeps "
                "the options it started with (only --trials may grow)"
            )


def _run(
    request: RunRequest,
    run_dir: Path,
    journal: Journal,
    problem: Problem,
    reward: Reward,
    space: Any,
    proposer: Any,
    on_episode: Callable[[dict[str, Any], list[dict[str, Any]], float], None] | None,
) -> tuple[Summary, dict[str, Any]]:
    backend = None
    if request.backend == "ray":
        from ratecraft.autopilot.ray_backend import RayBackend

        backend = RayBackend(run_dir, num_cpus=request.parallel, address=request.ray_address)
    settings = LoopSettings(
        trials=request.trials,
        time_budget_s=request.time_budget_s,
        patience=request.patience,
        parallel=request.parallel if backend is not None else 1,
    )
    tracker = _tracker(run_dir, request)

    def episode_done(record: dict[str, Any], front: list[dict[str, Any]], hv: float) -> None:
        write_front(run_dir, front_document(reward, front, hv, len(pilot.records)))
        if on_episode is not None:
            on_episode(record, front, hv)

    pilot = Autopilot(
        problem,
        reward,
        space,
        journal,
        proposer,
        settings,
        backend=backend,
        on_episode=episode_done,
        tracker=tracker,
    )
    try:
        summary = pilot.run()
    finally:
        if tracker is not None:
            tracker.close()
    write_front(
        run_dir, front_document(reward, summary.front, summary.hypervolume, len(summary.records))
    )
    artifacts = (
        save_best_artifacts(run_dir, problem, reward, summary.front)
        if request.save_artifacts
        else {}
    )
    header = {"target": request.target, "proposer": request.proposer, "backend": request.backend}
    report = write_report(
        run_dir,
        reward,
        summary.records,
        summary.front,
        summary.hypervolume,
        summary.stop_reason,
        artifacts,
        header,
    )
    return summary, {
        "front": str(run_dir / "front.json"),
        "report": str(report),
        "plot": str(run_dir / "pareto.png"),
        "artifacts": artifacts,
    }
