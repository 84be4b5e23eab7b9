"""Proposers: where the next strategy comes from.

Every proposer drives one Optuna study through ask-and-tell. It chooses the study's sampler
(TPE, NSGA-II, GP, random) and may, before each ask, *enqueue* a strategy — a whole one (a
mutated Pareto member, a grid point, a validated answer of a chat model) or only its method (the
bandit's pick, whose parameters the sampler then fills in). Constraints reach the samplers
through ``trial.set_constraint`` (see :mod:`ratecraft.autopilot.loop`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ratecraft.autopilot.space import SearchSpace, Strategy
from ratecraft.errors import BadInputError
from ratecraft.plugins import Registry

log = logging.getLogger(__name__)

PROPOSER_REGISTRY: Registry[type[Proposer]] = Registry("proposer")
for _name, _target in (
    ("tpe", "TPEProposer"),
    ("nsga2", "NSGA2Proposer"),
    ("gp", "GPProposer"),
    ("bandit", "BanditProposer"),
    ("random", "RandomProposer"),
    ("grid", "GridProposer"),
):
    PROPOSER_REGISTRY.declare(_name, f"ratecraft.autopilot.proposers:{_target}")
PROPOSER_REGISTRY.declare("llm", "ratecraft.autopilot.llm:LLMProposer")
PROPOSERS = tuple(PROPOSER_REGISTRY.names())
DEFAULT_PROPOSER = "tpe"


@dataclass
class Context:
    """What a proposer may look at: the space, the finished records and the front's records."""

    space: SearchSpace
    records: Sequence[dict[str, Any]]
    front: Sequence[dict[str, Any]]
    budget: int


class Proposer:
    """Base proposer: an Optuna sampler plus optional Pareto-member mutation.

    ``mutation_rate`` is the chance, once a front exists and the startup trials are done, that
    the next trial is a mutated copy of a random front member (sent with ``enqueue_trial``).
    """

    name = "base"
    default_mutation: float = 0.25  # mutation rate when the caller names none

    @classmethod
    def build(cls, seed: int, startup: int, llm: LLMSettings | None, **kw: Any) -> Proposer:
        """An instance for a run (``llm``: the chat server settings, for proposers that ask)."""
        kw.setdefault("mutation_rate", cls.default_mutation)
        return cls(seed, startup=startup, **kw)

    def __init__(self, seed: int = 0, mutation_rate: float = 0.0, startup: int = 6) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.mutation_rate = mutation_rate
        self.startup = startup

    def sampler(self, n_objectives: int) -> Any:
        import optuna

        return optuna.samplers.RandomSampler(seed=self.seed)

    def before_ask(self, study: Any, ctx: Context) -> str:
        """Enqueue something for the next ask if this proposer wants to; return its origin."""
        if (
            self.mutation_rate > 0
            and ctx.front
            and len(ctx.records) >= self.startup
            and self.rng.random() < self.mutation_rate
        ):
            parent = ctx.front[int(self.rng.integers(len(ctx.front)))]
            child = ctx.space.mutate(parent["strategy"], self.rng)
            study.enqueue_trial(ctx.space.to_optuna_params(child), skip_if_exists=True)
            return "mutation"
        return "sampler"

    def update(self, record: dict[str, Any], improved: bool) -> None:
        """Learn from a finished episode (``improved``: it raised the hypervolume)."""

    def state(self) -> dict[str, Any]:
        return {}


class TPEProposer(Proposer):
    name = "tpe"

    def sampler(self, n_objectives: int) -> Any:
        import optuna

        return optuna.samplers.TPESampler(
            seed=self.seed,
            multivariate=True,
            group=True,
            n_startup_trials=self.startup,
        )


class NSGA2Proposer(Proposer):
    name = "nsga2"
    default_mutation = 0.0

    def sampler(self, n_objectives: int) -> Any:
        import optuna

        return optuna.samplers.NSGAIISampler(seed=self.seed, population_size=max(4, self.startup))


class GPProposer(Proposer):
    """Gaussian-process sampler (needs torch, a base dependency through the codecs)."""

    name = "gp"

    def sampler(self, n_objectives: int) -> Any:
        import optuna

        return optuna.samplers.GPSampler(
            seed=self.seed,
            n_startup_trials=self.startup,
            deterministic_objective=False,
            warn_independent_sampling=False,
        )


class RandomProposer(Proposer):
    name = "random"
    default_mutation = 0.0


class GridProposer(Proposer):
    """The space's grid (``points`` values per numeric axis) in a seeded random order."""

    name = "grid"
    default_mutation = 0.0

    def __init__(self, seed: int = 0, points: int = 3, **kw: Any) -> None:
        super().__init__(seed=seed, **kw)
        self.points = points
        self._queue: list[Strategy] | None = None

    def before_ask(self, study: Any, ctx: Context) -> str:
        if self._queue is None:
            grid = ctx.space.grid(self.points)
            order = self.rng.permutation(len(grid))
            done = {_key(ctx.space, r["strategy"]) for r in ctx.records}
            self._queue = [grid[i] for i in order if _key(ctx.space, grid[i]) not in done]
        if not self._queue:
            return "sampler"
        study.enqueue_trial(ctx.space.to_optuna_params(self._queue.pop(0)))
        return "grid"


def _key(space: SearchSpace, strategy: Strategy) -> str:
    from ratecraft.autopilot.space import strategy_hash

    return strategy_hash(strategy)


@dataclass
class _Arm:
    pulls: int = 0
    wins: float = 0.0


class BanditProposer(TPEProposer):
    """A bandit over method families (UCB1 or Thompson sampling) in front of TPE.

    Each trial the bandit picks a method and enqueues only ``{"method": m}``; TPE fills in that
    method's parameters. The reward of an arm is 1 when its trial raised the hypervolume.
    """

    name = "bandit"

    def __init__(self, seed: int = 0, policy: str = "ucb", c: float = 1.0, **kw: Any) -> None:
        super().__init__(seed=seed, **kw)
        if policy not in ("ucb", "thompson"):
            raise BadInputError(f"bandit policy must be ucb or thompson, not {policy!r}")
        self.policy = policy
        self.c = c
        self.arms: dict[str, _Arm] = {}
        self._replayed = False

    def _replay(self, ctx: Context) -> None:
        """Rebuild arm statistics from finished records (after a resume)."""
        for r in ctx.records:
            arm = self.arms.setdefault(r["strategy"]["method"], _Arm())
            arm.pulls += 1
            arm.wins += float(bool(r.get("improved")))
        self._replayed = True

    def choose(self, methods: Sequence[str]) -> str:
        for m in methods:
            self.arms.setdefault(m, _Arm())
        untried = [m for m in methods if self.arms[m].pulls == 0]
        if untried:
            return untried[int(self.rng.integers(len(untried)))]
        if self.policy == "thompson":
            draws = [
                self.rng.beta(1 + self.arms[m].wins, 1 + self.arms[m].pulls - self.arms[m].wins)
                for m in methods
            ]
            return methods[int(np.argmax(draws))]
        total = sum(self.arms[m].pulls for m in methods)
        ucb = [
            self.arms[m].wins / self.arms[m].pulls
            + self.c * math.sqrt(2 * math.log(total) / self.arms[m].pulls)
            for m in methods
        ]
        return methods[int(np.argmax(ucb))]

    def before_ask(self, study: Any, ctx: Context) -> str:
        if not self._replayed:
            self._replay(ctx)
        origin = super().before_ask(study, ctx)
        if origin != "sampler":
            return origin
        method = self.choose(list(ctx.space.methods))
        study.enqueue_trial({"method": method})
        return f"bandit:{method}"

    def update(self, record: dict[str, Any], improved: bool) -> None:
        arm = self.arms.setdefault(record["strategy"]["method"], _Arm())
        arm.pulls += 1
        arm.wins += float(improved)

    def state(self) -> dict[str, Any]:
        return {m: {"pulls": a.pulls, "wins": a.wins} for m, a in self.arms.items()}


@dataclass
class LLMSettings:
    """An OpenAI-compatible chat endpoint (``base_url`` up to, not including, ``/v1``)."""

    base_url: str
    model: str = "local"
    api_key: str | None = None
    timeout_s: float = 30.0
    history: int = 20
    extra: dict[str, Any] = field(default_factory=dict)


def make_proposer(
    name: str, seed: int = 0, budget: int = 40, llm: LLMSettings | None = None, **kw: Any
) -> Proposer:
    """The proposer called ``name`` with startup trials and mutation sized to ``budget``."""
    startup = kw.pop("startup", max(4, min(10, budget // 5)))
    return PROPOSER_REGISTRY.get(name).build(seed, startup, llm, **kw)
