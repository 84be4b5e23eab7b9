"""Conditional search spaces: a method (codec family, shrink recipe) picks its own parameters.

A strategy is a plain dict ``{"method": m, "params": {...}}`` holding the shared parameters
(the target ratio, for instance) and those of method ``m``. In Optuna a parameter of method ``m``
is named ``"m.param"`` so that samplers see the conditional structure, and TPE's ``group`` option
models each method's parameters together.

Users restrict or extend a space with YAML::

    methods: [wavelet, quant]            # keep only these
    shared: {ratio: {low: 5, high: 100, log: true}}   # every method that has a ratio
    params:
      wavelet: {wavelet: {choices: [db4, sym8]}}
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ratecraft.errors import BadInputError

Strategy = dict[str, Any]


@dataclass(frozen=True)
class Param:
    """One hyperparameter: ``kind`` is ``float``, ``int`` or ``cat``."""

    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("float", "int", "cat"):
            raise BadInputError(f"parameter kind must be float, int or cat, not {self.kind!r}")
        if self.kind == "cat":
            if not self.choices:
                raise BadInputError("a categorical parameter needs at least one choice")
        elif self.low is None or self.high is None or not self.low <= self.high:
            raise BadInputError(f"bad range [{self.low}, {self.high}]")
        elif self.log and self.low <= 0:
            raise BadInputError("a log-scaled parameter needs a positive lower bound")

    def contains(self, value: Any) -> bool:
        if self.kind == "cat":
            return any(
                value == c and isinstance(value, bool) == isinstance(c, bool) for c in self.choices
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind == "int" and int(value) != value:
            return False
        return math.isfinite(value) and self.low <= value <= self.high  # type: ignore[operator]

    def suggest(self, trial: Any, name: str) -> Any:
        if self.kind == "cat":
            return trial.suggest_categorical(name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(name, float(self.low), float(self.high), log=self.log)

    def sample(self, rng: np.random.Generator) -> Any:
        if self.kind == "cat":
            return self.choices[int(rng.integers(len(self.choices)))]
        lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
        log_x = rng.uniform(math.log(lo), math.log(hi)) if self.log else 0.0
        x = math.exp(log_x) if self.log else rng.uniform(lo, hi)
        return int(min(hi, max(lo, round(x)))) if self.kind == "int" else float(x)

    def grid(self, n: int) -> list[Any]:
        if self.kind == "cat":
            return list(self.choices)
        lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
        if self.log:
            pts = np.exp(np.linspace(math.log(lo), math.log(hi), n))
        else:
            pts = np.linspace(lo, hi, n)
        if self.kind == "int":
            return sorted({round(float(p)) for p in pts})
        return [float(p) for p in pts]

    def mutate(self, value: Any, rng: np.random.Generator, scale: float = 0.15) -> Any:
        """A nearby value: a Gaussian step of ``scale`` of the (log) range, or another choice."""
        if self.kind == "cat":
            return self.sample(rng) if rng.random() < 0.3 else value
        lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
        if self.log:
            x = math.exp(math.log(value) + rng.normal(0, scale * math.log(hi / lo) + 1e-12))
        else:
            x = value + rng.normal(0, scale * (hi - lo) + 1e-12)
        x = min(hi, max(lo, x))
        return round(x) if self.kind == "int" else float(x)

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "cat":
            return {"kind": "cat", "choices": list(self.choices)}
        return {"kind": self.kind, "low": self.low, "high": self.high, "log": self.log}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], base: Param | None = None) -> Param:
        if not isinstance(doc, Mapping):
            raise BadInputError(f"a parameter must be a mapping, got {doc!r}")
        unknown = set(doc) - {"kind", "low", "high", "log", "choices"}
        if unknown:
            raise BadInputError(f"unknown parameter keys: {', '.join(sorted(unknown))}")
        if "choices" in doc:
            return cls("cat", choices=tuple(doc["choices"] or ()))
        kind = doc.get("kind", base.kind if base and base.kind != "cat" else "float")
        fields = {k: doc[k] for k in ("low", "high", "log") if k in doc}
        if base is not None and base.kind == kind:
            return replace(base, **fields)
        return cls(kind, **fields)


@dataclass
class SearchSpace:
    """Methods, the parameters every method shares, and each method's own parameters."""

    methods: dict[str, dict[str, Param]]
    shared: dict[str, Param] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.methods:
            raise BadInputError("the search space has no method left")

    # ---- sampling ---------------------------------------------------------------------------
    def suggest(self, trial: Any) -> Strategy:
        """Ask an Optuna trial for a strategy (method first, then its parameters)."""
        method = trial.suggest_categorical("method", list(self.methods))
        params = {k: p.suggest(trial, k) for k, p in self.shared.items()}
        for k, p in self.methods[method].items():
            params[k] = p.suggest(trial, f"{method}.{k}")
        return {"method": method, "params": params}

    def sample(self, rng: np.random.Generator, method: str | None = None) -> Strategy:
        method = method or list(self.methods)[int(rng.integers(len(self.methods)))]
        params = {k: p.sample(rng) for k, p in self.shared.items()}
        params.update({k: p.sample(rng) for k, p in self.methods[method].items()})
        return {"method": method, "params": params}

    def grid(self, points_per_axis: int = 3) -> list[Strategy]:
        """Every combination of ``points_per_axis`` values per numeric axis, method by method."""
        out = []
        for method, own in self.methods.items():
            axes = {**self.shared, **own}
            names = list(axes)
            for combo in itertools.product(*(axes[n].grid(points_per_axis) for n in names)):
                out.append({"method": method, "params": dict(zip(names, combo, strict=True))})
        return out

    def mutate(self, strategy: Strategy, rng: np.random.Generator) -> Strategy:
        """A neighbour of ``strategy``: one to all of its parameters moved a little."""
        method = strategy["method"]
        axes = {**self.shared, **self.methods[method]}
        params = dict(strategy["params"])
        names = list(axes)
        chosen = rng.choice(len(names), size=int(rng.integers(1, len(names) + 1)), replace=False)
        for i in chosen:
            params[names[i]] = axes[names[i]].mutate(params[names[i]], rng)
        return {"method": method, "params": params}

    # ---- optuna naming ----------------------------------------------------------------------
    def to_optuna_params(self, strategy: Strategy) -> dict[str, Any]:
        method = strategy["method"]
        out: dict[str, Any] = {"method": method}
        for k, v in strategy["params"].items():
            out[k if k in self.shared else f"{method}.{k}"] = v
        return out

    def from_optuna_params(self, flat: Mapping[str, Any]) -> Strategy:
        method = flat["method"]
        params = {k: flat[k] for k in self.shared if k in flat}
        prefix = f"{method}."
        params.update({k[len(prefix) :]: v for k, v in flat.items() if k.startswith(prefix)})
        return {"method": method, "params": params}

    # ---- checks -----------------------------------------------------------------------------
    def validate(self, strategy: Any) -> Strategy:
        """Return ``strategy`` normalized, or raise BadInputError saying what is wrong with it."""
        if not isinstance(strategy, Mapping):
            raise BadInputError("a strategy must be a mapping with 'method' and 'params'")
        extra = set(strategy) - {"method", "params"}
        if extra:
            raise BadInputError(f"unexpected strategy keys: {', '.join(sorted(extra))}")
        method = strategy.get("method")
        if method not in self.methods:
            raise BadInputError(f"unknown method {method!r}; choose from {', '.join(self.methods)}")
        params = strategy.get("params", {})
        if not isinstance(params, Mapping):
            raise BadInputError("strategy 'params' must be a mapping")
        axes = {**self.shared, **self.methods[method]}
        unknown = set(params) - set(axes)
        if unknown:
            raise BadInputError(f"{method}: unknown parameters {', '.join(sorted(unknown))}")
        missing = set(axes) - set(params)
        if missing:
            raise BadInputError(f"{method}: missing parameters {', '.join(sorted(missing))}")
        for name, p in axes.items():
            if not p.contains(params[name]):
                raise BadInputError(f"{method}.{name}={params[name]!r} is outside {p.to_dict()}")
        out = {k: (int(v) if axes[k].kind == "int" else v) for k, v in params.items()}
        return {"method": method, "params": out}

    # ---- YAML -------------------------------------------------------------------------------
    def restricted(self, doc: Mapping[str, Any]) -> SearchSpace:
        """A copy restricted or extended by a user document (see the module docstring)."""
        if not isinstance(doc, Mapping):
            raise BadInputError("the search-space file must be a mapping")
        unknown = set(doc) - {"methods", "shared", "params"}
        if unknown:
            raise BadInputError(f"unknown search-space keys: {', '.join(sorted(unknown))}")
        methods = {m: dict(p) for m, p in self.methods.items()}
        if "methods" in doc:
            keep = list(doc["methods"] or [])
            bad = [m for m in keep if m not in methods and m not in (doc.get("params") or {})]
            if bad:
                raise BadInputError(f"unknown methods in the space file: {', '.join(bad)}")
            methods = {m: methods.get(m, {}) for m in keep}
        shared = dict(self.shared)
        for name, pdoc in (doc.get("shared") or {}).items():
            owners = [m for m, ps in methods.items() if name in ps]
            if name not in shared and owners:  # a parameter several methods have: change each
                for m in owners:
                    methods[m][name] = Param.from_dict(pdoc, methods[m][name])
                continue
            shared[name] = Param.from_dict(pdoc, shared.get(name))
        for method, pdocs in (doc.get("params") or {}).items():
            if method not in methods:
                if "methods" in doc:
                    continue
                methods[method] = {}
            for name, pdoc in (pdocs or {}).items():
                methods[method][name] = Param.from_dict(pdoc, methods[method].get(name))
        return SearchSpace(methods=methods, shared=shared)

    def to_dict(self) -> dict[str, Any]:
        return {
            "shared": {k: p.to_dict() for k, p in self.shared.items()},
            "methods": {
                m: {k: p.to_dict() for k, p in ps.items()} for m, ps in self.methods.items()
            },
        }


def strategy_hash(strategy: Strategy) -> str:
    """A stable hash of a strategy (canonical JSON; floats rounded to 12 significant digits)."""

    def canon(value: Any) -> Any:
        if isinstance(value, float):
            return float(f"{value:.12g}")
        if isinstance(value, Mapping):
            return {str(k): canon(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [canon(v) for v in value]
        return value

    text = json.dumps(canon(strategy), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]
