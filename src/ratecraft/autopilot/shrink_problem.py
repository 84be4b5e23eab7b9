"""The shrink problem: search shrink recipes for a model; score accuracy, bytes on disk, latency.

Built on :mod:`ratecraft.shrink` (recipes, steps, artifacts, measurements) and
:mod:`ratecraft.evaluate.classification`. A strategy is a recipe family with its parameters plus
a final quantization (``quant``): ``quantize`` (quantization only), ``prune`` (unstructured
magnitude pruning, optional fine-tuning), ``structured`` (channel pruning with torch-pruning)
or ``distill`` (a narrower student). Size is the byte count of the saved artifact folder,
latency the median milliseconds of a 64-image batch on one thread.

:class:`DigitsShrinkProblem` is the built-in target ``digits-cnn``: scikit-learn's bundled 8×8
digits (no download), a small CNN trained here (seeded, a few seconds), recipes calibrated on
the training split, proxy accuracy on 150 validation images, full accuracy on the whole
validation split; the test split is only used for the saved artifacts' report.
"""

from __future__ import annotations

import copy
import logging
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ratecraft.autopilot.cache import fingerprint_array
from ratecraft.autopilot.objectives import Constraint, Objective, Reward
from ratecraft.autopilot.problems import Problem
from ratecraft.autopilot.space import Param, SearchSpace, Strategy, strategy_hash
from ratecraft.errors import BadInputError, MissingExtraError
from ratecraft.system import available_memory

log = logging.getLogger(__name__)

QUANT_STEPS: dict[str, tuple[str, dict[str, Any]] | None] = {
    "none": None,
    "int8-weight": ("int8-weight", {}),
    "int8-dynamic": ("int8-dynamic", {}),
    "int4": ("intx-weight", {"bits": 4, "group_size": 32}),
    "int2": ("intx-weight", {"bits": 2, "group_size": 32}),
}
CNN_SPEC = {"builder": "cnn", "in_channels": 1, "image_size": 8, "channels": [16, 32], "hidden": 64}


def recipe_steps(strategy: Strategy) -> list[tuple[str, dict[str, Any]]]:
    """The shrink steps of a strategy, in order (the last one is the chosen quantization)."""
    method, p = strategy["method"], strategy["params"]
    steps: list[tuple[str, dict[str, Any]]] = []
    if method == "prune":
        cfg = {"sparsity": p["sparsity"], "conv": p["conv"], "finetune_steps": p["finetune_steps"]}
        steps.append(("prune-magnitude", cfg))
    elif method == "structured":
        steps.append(
            ("prune-structured", {"ratio": p["ratio"], "finetune_steps": p["finetune_steps"]})
        )
    elif method == "distill":
        steps.append(("distill", {"width": p["width"], "epochs": p["epochs"]}))
    elif method != "quantize":
        raise BadInputError(f"unknown shrink method {method!r}")
    quant = QUANT_STEPS.get(p.get("quant", "none"))
    if p.get("quant", "none") not in QUANT_STEPS:
        raise BadInputError(f"unknown quantization {p.get('quant')!r}")
    if quant is not None:
        steps.append(quant)
    return steps


def _digits_splits(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order], y[order]
    return {
        "train": (x[:1000], y[:1000]),
        "val": (x[1000:1400], y[1000:1400]),
        "test": (x[1400:], y[1400:]),
    }


class DigitsShrinkProblem(Problem):
    """Shrink a digits CNN: objectives accuracy (max), size_bytes (min), latency_ms (min)."""

    name = "shrink"

    def __init__(self, seed: int = 0, epochs: int = 12, proxy_samples: int = 150) -> None:
        try:
            import torch  # noqa: F401
            import torch_pruning  # noqa: F401
            import torchao  # noqa: F401
        except ImportError as exc:
            raise MissingExtraError(exc.name or "torchao", "shrink") from None
        self.seed = seed
        self.epochs = epochs
        self.proxy_samples = proxy_samples
        self.splits = _digits_splits(seed)
        self._base: Any = None
        self._baseline: dict[str, float] | None = None
        self._shrunk: OrderedDict[str, Any] = OrderedDict()

    # ---- the base model -----------------------------------------------------------------------
    def base_model(self) -> Any:
        """The float CNN, trained once (seeded) on the training split."""
        if self._base is None:
            import torch

            from ratecraft.shrink import build_model

            torch.manual_seed(self.seed)
            model = build_model(CNN_SPEC)
            x, y = (torch.from_numpy(a) for a in self.splits["train"])
            opt = torch.optim.Adam(model.parameters(), lr=3e-3)
            gen = torch.Generator().manual_seed(self.seed)
            model.train()
            for _ in range(self.epochs):
                for idx in torch.randperm(len(y), generator=gen).split(64):
                    opt.zero_grad()
                    torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
                    opt.step()
            self._base = model.eval()
        return self._base

    def calibration(self) -> Any:
        import torch

        from ratecraft.shrink import Calibration

        x, y = (torch.from_numpy(a) for a in self.splits["train"])
        return Calibration.from_tensors(x, y, batch_size=64)

    def baseline(self) -> dict[str, float]:
        """Full-fidelity metrics of the unshrunk model (the reference for bounds and limits)."""
        if self._baseline is None:
            self._baseline = self._measure(copy.deepcopy(self.base_model()), "full", None)
        return self._baseline

    # ---- problem contract -----------------------------------------------------------------
    def default_space(self) -> SearchSpace:
        quant = Param("cat", choices=tuple(QUANT_STEPS))
        return SearchSpace(
            methods={
                "quantize": {},
                "prune": {
                    "sparsity": Param("float", 0.3, 0.95),
                    "conv": Param("cat", choices=(True, False)),
                    "finetune_steps": Param("int", 0, 60),
                },
                "structured": {
                    "ratio": Param("float", 0.1, 0.8),
                    "finetune_steps": Param("int", 0, 60),
                },
                "distill": {"width": Param("float", 0.25, 1.0), "epochs": Param("int", 1, 6)},
            },
            shared={"quant": quant},
        )

    def default_reward(self) -> Reward:
        base = self.baseline()
        return Reward(
            objectives=[
                Objective("accuracy", "max", 1.0, 0.8, False, "quality"),
                Objective(
                    "size_bytes", "min", base["size_bytes"] / 50, base["size_bytes"], True, "size"
                ),
                Objective(
                    "latency_ms",
                    "min",
                    base["latency_ms"] / 5,
                    base["latency_ms"] * 3,
                    True,
                    "latency",
                ),
            ],
            constraints=[Constraint("accuracy", ">=", round(base["accuracy"] - 0.01, 4))],
        )

    def defaults(self) -> dict[str, Any]:
        reward = self.default_reward()
        return {
            "objectives": [f"{o.name}:{o.direction}" for o in reward.objectives],
            "constraints": [str(c) for c in reward.constraints],
            "baseline": self.baseline(),
        }

    def metric_names(self) -> frozenset[str]:
        return frozenset(("accuracy", "loss", "size_bytes", "parameters", "latency_ms"))

    def fingerprint(self) -> str:
        x, _ = self.splits["train"]
        return fingerprint_array(x, CNN_SPEC, self.seed, self.epochs, self.proxy_samples)

    def preflight(self, strategy: Strategy) -> str | None:
        from ratecraft.shrink.steps import model_bytes

        need = 8 * model_bytes(self.base_model()) + 64 * 2**20
        have = available_memory()
        return None if need < have else f"needs about {need >> 20} MiB, {have >> 20} MiB free"

    def _shrink(self, strategy: Strategy) -> tuple[Any, Any]:
        """The shrunk model and recipe of ``strategy`` (the last few are kept for reuse)."""
        from ratecraft.shrink import Recipe, run_recipe

        key = strategy_hash(strategy)
        if key in self._shrunk:
            self._shrunk.move_to_end(key)
            return self._shrunk[key]
        import torch

        torch.manual_seed(self.seed)
        recipe = Recipe.of(*recipe_steps(strategy), name=strategy["method"])
        model = run_recipe(copy.deepcopy(self.base_model()), recipe, self.calibration())
        self._shrunk[key] = (model.eval(), recipe)
        while len(self._shrunk) > 4:
            self._shrunk.popitem(last=False)
        return self._shrunk[key]

    def _measure(self, model: Any, fidelity: str, recipe: Any) -> dict[str, float]:
        import torch

        from ratecraft.evaluate.classification import ClassificationEvaluator
        from ratecraft.shrink import save_artifact
        from ratecraft.shrink.measure import artifact_bytes, measure_latency, parameter_count

        x, y = self.splits["val"]
        if fidelity == "proxy":
            x, y = x[: self.proxy_samples], y[: self.proxy_samples]
        metrics = ClassificationEvaluator(x, y).evaluate(model)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "artifact"
            save_artifact(model, folder, spec=CNN_SPEC, recipe=recipe)
            size = artifact_bytes(folder)
        out = {
            "accuracy": metrics["accuracy"],
            "loss": metrics["loss"],
            "size_bytes": float(size),
            "parameters": float(parameter_count(model)),
        }
        if fidelity == "full":
            batch = torch.from_numpy(self.splits["val"][0][:64])
            lat = measure_latency(model, batch, warmup=3, repeats=15, threads=1)
            out["latency_ms"] = lat["latency_p50_ms"]
        return out

    def evaluate(self, strategy: Strategy, fidelity: str) -> dict[str, float]:
        model, recipe = self._shrink(strategy)
        metrics = self._measure(model, fidelity, recipe)
        if fidelity == "proxy":  # no timing at proxy fidelity: assume no speed-up
            metrics["latency_ms"] = self.baseline()["latency_ms"]
        return metrics

    def _replay_inputs(self, best: Path) -> tuple[Path, Path]:
        """The float model and the calibration split, saved once under ``best/`` so that each
        preset's recipe replays with ``ratecraft shrink``."""
        from ratecraft.atomic import atomic_output
        from ratecraft.shrink import save_artifact

        base, calib = best / "base-model", best / "calibration.npz"
        if not base.is_dir():
            save_artifact(copy.deepcopy(self.base_model()), base, spec=CNN_SPEC)
        if not calib.is_file():
            x, y = self.splits["train"]
            with atomic_output(calib) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, x=x, y=y)
        return base, calib

    def save_artifact(self, strategy: Strategy, folder: Path) -> dict[str, Any]:
        """The shrunk model (``model/``), its recipe (``recipe.json``) and the one command that
        rebuilds it from the saved float model and calibration split."""
        from ratecraft.atomic import atomic_write
        from ratecraft.evaluate.classification import ClassificationEvaluator
        from ratecraft.shrink import save_artifact

        model, recipe = self._shrink(strategy)
        folder.mkdir(parents=True, exist_ok=True)
        base, calib = self._replay_inputs(folder.parent)
        save_artifact(model, folder / "model", spec=CNN_SPEC, recipe=recipe)
        atomic_write(folder / "recipe.json", recipe.to_json().encode())
        test = ClassificationEvaluator(*self.splits["test"]).evaluate(model)
        replay = (
            f"ratecraft shrink {base} --recipe {folder / 'recipe.json'} --calib {calib} "
            f"--seed {self.seed} -o OUT"
        )
        return {
            "model": str(folder / "model"),
            "test_accuracy": test["accuracy"],
            "recipe": recipe.to_dict(),
            "replay": replay,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "problem": self.name,
            "model": "digits CNN " + str(CNN_SPEC["channels"]),
            "train/val/test": "1000/400/397",
            "proxy_samples": self.proxy_samples,
        }
