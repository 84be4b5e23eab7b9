"""Autopilot: given data or a model, objectives and hard limits, search strategies, run them,
evaluate them and keep a Pareto front — episode by episode, resumable, locally or on Ray.

Entry points: :func:`run_autopilot` (what ``ratecraft autopilot`` calls) with a
:class:`RunRequest`; the pieces — :class:`SearchSpace`, :class:`Reward`, the proposers, the
problems and :class:`Autopilot` (the episode loop) — are usable on their own.
"""

from ratecraft.autopilot.loop import Autopilot, LoopSettings, Summary
from ratecraft.autopilot.objectives import (
    PRESETS,
    Constraint,
    Objective,
    Reward,
    hypervolume,
    pareto_front,
)
from ratecraft.autopilot.problems import CodecProblem, Problem
from ratecraft.autopilot.proposers import PROPOSERS, make_proposer
from ratecraft.autopilot.runner import RunRequest, run_autopilot
from ratecraft.autopilot.space import Param, SearchSpace, strategy_hash
from ratecraft.autopilot.spec import derive_defaults, infer_data_spec, infer_model_spec

__all__ = [
    "PRESETS",
    "PROPOSERS",
    "Autopilot",
    "CodecProblem",
    "Constraint",
    "LoopSettings",
    "Objective",
    "Param",
    "Problem",
    "Reward",
    "RunRequest",
    "SearchSpace",
    "Summary",
    "derive_defaults",
    "hypervolume",
    "infer_data_spec",
    "infer_model_spec",
    "make_proposer",
    "pareto_front",
    "run_autopilot",
    "strategy_hash",
]
