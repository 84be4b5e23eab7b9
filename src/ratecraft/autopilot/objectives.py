"""Reward: objectives with directions, hard constraints, presets, a scalar score, Pareto fronts
and an exact hypervolume.

Every objective names a key of an evaluator's result (``spike_f1``, ``ratio``, ``accuracy``…).
For the hypervolume each objective is mapped onto ``[0, 1]`` with 0 best, between the bounds
``best`` and ``worst`` (log-scaled when the objective spans decades, as ratios do); the reference
point is then ``(1, …, 1)``, so values worse than ``worst`` add nothing and hypervolumes of runs
with the same objectives are comparable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ratecraft.errors import BadInputError

ROLES = ("quality", "size", "latency")

# objective name → (role, direction, best, worst, log scale): defaults for well-known keys
KNOWN: dict[str, tuple[str, str, float, float, bool]] = {
    "spike_f1": ("quality", "max", 1.0, 0.5, False),
    "sndr_db": ("quality", "max", 40.0, 0.0, False),
    "spike_window_sndr_db": ("quality", "max", 40.0, 0.0, False),
    "accuracy": ("quality", "max", 1.0, 0.5, False),
    "ratio": ("size", "max", 500.0, 1.0, True),
    "size_bytes": ("size", "min", 1e3, 1e8, True),
    "size_mb": ("size", "min", 1e-3, 1e3, True),
    "bits_per_sample": ("size", "min", 0.05, 16.0, True),
    "latency_ms": ("latency", "min", 0.01, 1e3, True),
    "throughput": ("latency", "max", 1e8, 1e4, True),
    "nmse": ("quality", "min", 1e-4, 1.0, True),
}

PRESETS: dict[str, dict[str, float]] = {
    "accuracy": {"quality": 0.8, "size": 0.1, "latency": 0.1},
    "latency": {"quality": 0.1, "size": 0.1, "latency": 0.8},
    "size": {"quality": 0.1, "size": 0.8, "latency": 0.1},
    "balanced": {"quality": 1 / 3, "size": 1 / 3, "latency": 1 / 3},
}


@dataclass(frozen=True)
class Objective:
    """One metric to optimize: its direction and the bounds used to normalize it."""

    name: str
    direction: str = "max"
    best: float = 1.0
    worst: float = 0.0
    log: bool = False
    role: str = "quality"

    def __post_init__(self) -> None:
        if self.direction not in ("min", "max"):
            raise BadInputError(f"objective {self.name}: direction must be min or max")
        if self.best == self.worst:
            raise BadInputError(f"objective {self.name}: best and worst bounds must differ")
        if self.log and (self.best <= 0 or self.worst <= 0):
            raise BadInputError(f"objective {self.name}: log bounds must be positive")
        if self.role not in ROLES:
            raise BadInputError(f"objective {self.name}: role must be one of {', '.join(ROLES)}")

    @classmethod
    def parse(cls, text: str) -> Objective:
        """``"name:max"`` or ``"name:min"``, with known bounds for well-known names."""
        name, _, direction = text.strip().partition(":")
        name = name.strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name):
            raise BadInputError(f"objective {text!r}: expected NAME:max or NAME:min")
        direction = direction.strip().lower() or None  # type: ignore[assignment]
        role, default_dir, best, worst, log = KNOWN.get(
            name, ("quality", direction or "max", 1.0, 0.0, False)
        )
        direction = direction or default_dir
        if direction not in ("min", "max"):
            raise BadInputError(f"objective {text!r}: direction must be min or max")
        if name not in KNOWN and direction == "min":
            best, worst = 0.0, 1.0
        if direction != default_dir and name in KNOWN:
            raise BadInputError(f"objective {text!r}: {name} is only sensible as {default_dir}")
        return cls(name, direction, best, worst, log, role)

    def finite(self, value: float | None) -> float:
        """``value`` with nan and missing as ``worst`` and an infinity on the good side as
        ``best`` (a lossless codec's SNDR is +inf: the best there is, not a failure)."""
        if value is None or math.isnan(value):
            return self.worst
        if math.isinf(value):
            good = (value > 0) == (self.direction == "max")
            return self.best if good else self.worst
        return float(value)

    def normalized(self, value: float) -> float:
        """0 at ``best``, 1 at ``worst``, clipped to [0, 1]; nan and missing count as worst."""
        value = self.finite(value)
        if self.log:
            value = max(value, 1e-300)
            b, w, v = math.log(self.best), math.log(self.worst), math.log(value)
        else:
            b, w, v = self.best, self.worst, value
        return float(min(1.0, max(0.0, (v - b) / (w - b))))


_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """A hard limit ``name op threshold``; its violation is ≤ 0 when satisfied (Optuna's rule)."""

    name: str
    op: str
    threshold: float

    @classmethod
    def parse(cls, text: str) -> Constraint:
        match = _CONSTRAINT.match(text)
        if not match:
            raise BadInputError(f"constraint {text!r}: expected NAME>=VALUE or NAME<=VALUE")
        try:
            threshold = float(match.group(3))
        except ValueError:
            raise BadInputError(
                f"constraint {text!r}: {match.group(3)!r} is not a number"
            ) from None
        return cls(match.group(1), match.group(2), threshold)

    def violation(self, values: Mapping[str, float]) -> float:
        """How far ``values`` is from meeting the limit (≤ 0 met, > 0 violated, inf if absent
        or nan; an infinite value meets or breaks it by an infinite margin)."""
        value = values.get(self.name)
        if value is None or math.isnan(value):
            return math.inf
        gap = self.threshold - value if self.op in (">=", ">") else value - self.threshold
        if self.op in (">", "<") and gap == 0:
            return 1e-12
        return float(gap)

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.threshold:g}"


@dataclass
class Reward:
    """Objectives plus constraints: what a run wants and what it must not break."""

    objectives: list[Objective]
    constraints: list[Constraint] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.objectives:
            raise BadInputError("give at least one objective")
        names = [o.name for o in self.objectives]
        if len(set(names)) != len(names):
            raise BadInputError(f"objectives repeat a name: {names}")
        self.objectives = [self._bounded(o) for o in self.objectives]

    def _bounded(self, objective: Objective) -> Objective:
        """Move an objective's ``worst`` bound onto a constraint that limits it from that side:
        nothing worse than the limit is feasible, so the hypervolume's reference point sits on
        the limit and measures only the feasible region."""
        for c in self.constraints:
            if c.name != objective.name:
                continue
            lower_limit = c.op in (">=", ">") and objective.direction == "max"
            upper_limit = c.op in ("<=", "<") and objective.direction == "min"
            lo, hi = sorted((objective.best, objective.worst))
            if (lower_limit or upper_limit) and lo < c.threshold < hi:
                if objective.log and c.threshold <= 0:
                    continue
                return replace(objective, worst=c.threshold)
        return objective

    @property
    def directions(self) -> list[str]:
        return ["maximize" if o.direction == "max" else "minimize" for o in self.objectives]

    def values(self, metrics: Mapping[str, float]) -> list[float]:
        """The objective values in order (nan where the evaluator did not give one)."""
        return [float(metrics.get(o.name, math.nan)) for o in self.objectives]

    def violations(self, metrics: Mapping[str, float]) -> list[float]:
        return [c.violation(metrics) for c in self.constraints]

    def feasible(self, metrics: Mapping[str, float]) -> bool:
        return all(v <= 0 for v in self.violations(metrics))

    def loss_point(self, metrics: Mapping[str, float]) -> np.ndarray:
        """The normalized minimization point of ``metrics`` (each coordinate in [0, 1])."""
        return np.array([o.normalized(metrics.get(o.name, math.nan)) for o in self.objectives])

    def score(self, metrics: Mapping[str, float], preset: str = "balanced") -> float:
        """A scalar in [0, 1] (1 best) for ranking: preset-weighted mean of normalized objectives.

        Role weights are shared among the objectives of that role and renormalized over the roles
        present, so ``accuracy`` ranks by quality first whatever the other objectives are.
        """
        if preset not in PRESETS:
            raise BadInputError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
        weights = PRESETS[preset]
        counts = {r: sum(o.role == r for o in self.objectives) for r in ROLES}
        total, norm = 0.0, 0.0
        for o in self.objectives:
            w = weights[o.role] / counts[o.role]
            total += w * (1.0 - o.normalized(metrics.get(o.name, math.nan)))
            norm += w
        return total / norm

    def hypervolume(self, metrics_list: Sequence[Mapping[str, float]]) -> float:
        """Hypervolume (fraction of the unit box) dominated by the feasible members of the list."""
        pts = [self.loss_point(m) for m in metrics_list if self.feasible(m)]
        if not pts:
            return 0.0
        return hypervolume(np.array(pts), np.ones(len(self.objectives)))


def pareto_front(points: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of ``points`` (all objectives minimized).

    Duplicates of a front member are all kept, so equal trials are reported together.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2:
        raise BadInputError(f"points must be 2-D, got shape {pts.shape}")
    keep = []
    for i, p in enumerate(pts):
        dominated = np.any(np.all(pts <= p, axis=1) & np.any(pts < p, axis=1))
        if not dominated:
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Exact hypervolume dominated by ``points`` (minimized) and bounded by ``reference``.

    2-D uses a sweep; more objectives slice along the last axis (HSO), which is exact and fast
    enough for the fronts of an autopilot run (tens of points).
    """
    pts = np.asarray(points, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if pts.size == 0:
        return 0.0
    if pts.ndim != 2 or pts.shape[1] != ref.shape[0]:
        raise BadInputError(f"points {pts.shape} do not match reference {ref.shape}")
    pts = pts[np.all(pts < ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    pts = pts[pareto_front(pts)]
    return _hv(np.unique(pts, axis=0), ref)


def _hv(pts: np.ndarray, ref: np.ndarray) -> float:
    d = pts.shape[1]
    if d == 1:
        return float(ref[0] - pts[:, 0].min())
    if d == 2:
        order = np.argsort(pts[:, 0], kind="stable")
        volume, best_y = 0.0, ref[1]
        for x, y in pts[order]:
            if y < best_y:
                volume += (ref[0] - x) * (best_y - y)
                best_y = y
        return float(volume)
    order = np.argsort(pts[:, -1], kind="stable")
    pts = pts[order]
    volume = 0.0
    for i in range(len(pts)):
        upper = pts[i + 1, -1] if i + 1 < len(pts) else ref[-1]
        depth = upper - pts[i, -1]
        if depth <= 0:
            continue
        slab = pts[: i + 1, :-1]
        slab = slab[pareto_front(slab)]
        volume += depth * _hv(slab, ref[:-1])
    return float(volume)
