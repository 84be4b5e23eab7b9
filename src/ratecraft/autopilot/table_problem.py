"""The table problem: search learned table codecs (and their allocation) for a feature table.

Methods are the learned table codecs that are registered (``adaptive-bottleneck``,
``grouped-vae``, ``vqvae``) with their main knobs — latent size, allocation strategy,
rate–distortion λ, codebook size — and a target ratio. Codecs train on the first 70% of the rows
and are scored on the rest (never on what they trained on): mean per-feature NMSE, the worst
family's NMSE and the real ratio of the scored rows' container. The proxy trains briefly on a
subset; the full evaluation trains with the configured epochs on all training rows.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ratecraft.autopilot.cache import fingerprint_array
from ratecraft.autopilot.objectives import Constraint, Objective, Reward
from ratecraft.autopilot.problems import Problem
from ratecraft.autopilot.space import Param, SearchSpace, Strategy
from ratecraft.errors import BadInputError
from ratecraft.system import available_memory

TABLE_SPACE: dict[str, dict[str, Param]] = {
    "adaptive-bottleneck": {
        "latent_dims": Param("int", 4, 64, log=True),
        "allocation_strategy": Param(
            "cat", choices=("auto", "uniform", "variance", "information", "rd")
        ),
        "lmbda": Param("float", 5.0, 500.0, log=True),
    },
    "grouped-vae": {
        "latent_dims": Param("int", 4, 64, log=True),
        "allocation_strategy": Param(
            "cat", choices=("auto", "uniform", "variance", "information", "rd")
        ),
        "lmbda": Param("float", 5.0, 500.0, log=True),
    },
    "vqvae": {
        "max_codebook_size": Param("int", 16, 1024, log=True),
        "levels": Param("int", 1, 4),
    },
}
TRAIN_FRACTION = 0.7


class TableCodecProblem(Problem):
    """Fit a learned table codec at a target ratio; score NMSE on held-out rows and the ratio."""

    name = "table"

    def __init__(
        self,
        table: Any,
        *,
        seed: int = 0,
        proxy_epochs: int = 5,
        full_epochs: int = 40,
        proxy_rows: int = 600,
    ) -> None:
        from ratecraft.data.types import FeatureTable

        if not isinstance(table, FeatureTable):
            raise BadInputError("the table problem needs a feature table (samples x features)")
        if table.n_samples < 20:
            raise BadInputError("the table problem needs at least 20 rows")
        self.table = table
        self.seed = seed
        self.proxy_epochs = proxy_epochs
        self.full_epochs = full_epochs
        self.proxy_rows = proxy_rows

    def _rows(self, start: int, stop: int) -> Any:
        from ratecraft.data.types import FeatureTable

        t = self.table
        return FeatureTable(
            values=t.values[start:stop], feature_names=t.feature_names, families=t.families
        )

    def _split(self, fidelity: str) -> tuple[Any, Any]:
        n = self.table.n_samples
        cut = int(n * TRAIN_FRACTION)
        train_stop = min(cut, self.proxy_rows) if fidelity == "proxy" else cut
        return self._rows(0, train_stop), self._rows(cut, n)

    def default_space(self) -> SearchSpace:
        from ratecraft.codecs import available_codecs

        names = set(available_codecs())
        methods = {m: dict(p) for m, p in TABLE_SPACE.items() if m in names}
        if not methods:
            raise BadInputError("no learned table codec is registered")
        return SearchSpace(methods=methods, shared={"ratio": Param("float", 2.0, 100.0, log=True)})

    def default_reward(self) -> Reward:
        return Reward(
            objectives=[Objective.parse("nmse:min"), Objective.parse("ratio:max")],
            constraints=[Constraint.parse("nmse<=0.1")],
        )

    def metric_names(self) -> frozenset[str]:
        return frozenset(("nmse", "worst_group_nmse", "coverage", "ratio", "bits_per_sample"))

    def fingerprint(self) -> str:
        return fingerprint_array(
            np.nan_to_num(self.table.values),
            self.table.families,
            self.seed,
            self.proxy_epochs,
            self.full_epochs,
            self.proxy_rows,
        )

    def preflight(self, strategy: Strategy) -> str | None:
        need = self.table.values.size * 8 * 64
        have = available_memory()
        return None if need < have else f"needs about {need >> 20} MiB, {have >> 20} MiB free"

    def _config(self, strategy: Strategy, fidelity: str) -> dict[str, Any]:
        p = dict(strategy["params"])
        p.pop("ratio")
        epochs = self.proxy_epochs if fidelity == "proxy" else self.full_epochs
        train: dict[str, Any] = {"epochs": epochs, "seed": self.seed}
        if "lmbda" in p:
            train["lmbda"] = p.pop("lmbda")
        return {**p, "train": train, "seed": self.seed}

    def _fit(self, strategy: Strategy, fidelity: str) -> tuple[Any, Any]:
        from ratecraft.codecs import Budget, get_codec

        train, scored = self._split(fidelity)
        codec = get_codec(strategy["method"], self._config(strategy, fidelity))
        codec.fit(train, Budget(ratio=float(strategy["params"]["ratio"])))
        return codec, scored

    def evaluate(self, strategy: Strategy, fidelity: str) -> dict[str, float]:
        from ratecraft.metrics import per_feature_nmse

        codec, scored = self._fit(strategy, fidelity)
        blob, stats = codec.encode_with_stats(scored)
        back = codec.decode(blob)
        x = np.asarray(scored.values, np.float64)
        y = np.asarray(back.values, np.float64)
        has_data = ~np.isnan(x)
        rebuilt = has_data & np.isfinite(y)  # columns the cleaner dropped come back as NaN
        nmse = per_feature_nmse(np.where(rebuilt, x, np.nan), np.where(rebuilt, y, 0.0))
        lost = has_data.any(axis=0) & ~rebuilt.any(axis=0)
        nmse = np.where(lost, 1.0, nmse)  # a column not rebuilt is no better than its mean
        families = scored.families or ["all"] * scored.n_features
        groups = {}
        for fam in dict.fromkeys(families):
            vals = nmse[[f == fam for f in families]]
            vals = vals[np.isfinite(vals)]
            if vals.size:
                groups[fam] = float(vals.mean())
        return {
            "nmse": float(np.nanmean(nmse)),
            "worst_group_nmse": max(groups.values()) if groups else math.nan,
            "coverage": float(rebuilt.sum() / max(int(has_data.sum()), 1)),
            "ratio": float(stats.ratio),
            "bits_per_sample": float(stats.bits_per_sample),
        }

    def save_artifact(self, strategy: Strategy, folder: Path) -> dict[str, Any]:
        from ratecraft.atomic import atomic_write

        folder.mkdir(parents=True, exist_ok=True)
        codec, scored = self._fit(strategy, "full")
        codec.save(folder / "model")
        blob, stats = codec.encode_with_stats(scored)
        atomic_write(folder / "heldout.rcz", blob)
        return {"model": str(folder / "model"), "ratio": stats.ratio}

    def describe(self) -> dict[str, Any]:
        return {
            "problem": self.name,
            "rows": self.table.n_samples,
            "features": self.table.n_features,
            "train_fraction": TRAIN_FRACTION,
        }
