"""Recipes: an ordered list of shrink steps, serializable to YAML/JSON and hashable.

A recipe file looks like::

    name: int8-after-pruning
    steps:
      - step: prune-structured
        config: {ratio: 0.5}
      - step: int8-weight

Each step's config is validated by that step's pydantic model when the recipe is built, and the
hash is the SHA-256 of the canonical JSON of the *validated* configs (defaults filled in, keys
sorted), so ``{}`` and the spelled-out defaults hash alike while any real change does not.
The hash keys the autopilot's result cache and is stored in every saved artifact.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from ratecraft.config import validated
from ratecraft.errors import BadInputError
from ratecraft.shrink.preflight import preflight
from ratecraft.shrink.steps import Calibration, get_step

__all__ = ["Recipe", "RecipeItem", "run_recipe"]

log = logging.getLogger(__name__)

RECIPE_VERSION = 1


class RecipeItem(BaseModel):
    """One step of a recipe: its registered name and its (validated) config."""

    model_config = ConfigDict(extra="forbid")

    step: str
    config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("config", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    def normalized(self) -> RecipeItem:
        """The same item with its config validated and every default spelled out."""
        step = get_step(self.step)
        cfg = step.parse(self.config)
        return RecipeItem(step=self.step, config=cfg.model_dump(mode="json"))


class Recipe(BaseModel):
    """An ordered list of shrink steps (the strategy the autopilot proposes and caches)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    version: int = RECIPE_VERSION
    steps: list[RecipeItem] = Field(default_factory=list)

    @classmethod
    def of(cls, *steps: str | tuple[str, dict[str, Any]], name: str | None = None) -> Recipe:
        """Build a recipe from step names or ``(name, config)`` pairs, validating each config."""
        items = [
            RecipeItem(step=s) if isinstance(s, str) else RecipeItem(step=s[0], config=s[1])
            for s in steps
        ]
        return cls(name=name, steps=items).validated()

    def validated(self) -> Recipe:
        """Check every step name and config now (one-line error for the first bad one)."""
        if self.version > RECIPE_VERSION:
            raise BadInputError(f"recipe version {self.version} is newer than this ratecraft")
        return Recipe(name=self.name, steps=[item.normalized() for item in self.steps])

    # ---- serialization ------------------------------------------------------------------
    def canonical_json(self) -> str:
        """Sorted-key, whitespace-free JSON of the validated steps (what the hash covers)."""
        doc = [item.model_dump(mode="json") for item in self.validated().steps]
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False)

    def hash(self) -> str:
        """SHA-256 hex digest of :meth:`canonical_json` (the name does not enter it)."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=False)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, doc: Any) -> Recipe:
        """A recipe from a parsed mapping, or a bare list of steps; validated."""
        if isinstance(doc, list):
            doc = {"steps": doc}
        if not isinstance(doc, dict):
            raise BadInputError("a recipe must be a mapping with a 'steps' list")
        steps = doc.get("steps")
        if isinstance(steps, list):
            doc = {**doc, "steps": [{"step": s} if isinstance(s, str) else s for s in steps]}
        recipe = validated(cls, doc, "recipe")
        return recipe.validated()

    @classmethod
    def from_yaml(cls, text: str) -> Recipe:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise BadInputError(f"recipe is not valid YAML ({str(exc).splitlines()[0]})") from None
        return cls.from_dict(doc)

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise BadInputError(f"recipe is not valid JSON ({exc})") from None
        return cls.from_dict(doc)

    @classmethod
    def from_file(cls, path: str | Path) -> Recipe:
        """Read a ``.yaml``/``.yml``/``.json`` recipe file."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise BadInputError(f"{p}: cannot read recipe ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise BadInputError(f"{p}: recipe is not UTF-8 text") from None
        if p.suffix.lower() == ".json":
            return cls.from_json(text)
        return cls.from_yaml(text)


StepProgress = Callable[[int, int, str], None]


def run_recipe(
    model: nn.Module,
    recipe: Recipe,
    calib: Calibration | None = None,
    *,
    progress: StepProgress | None = None,
    memory_budget: int | None = None,
) -> nn.Module:
    """Apply every step of ``recipe`` in order and return the shrunk model.

    Each step is first checked against the model by the stacking rules of
    :mod:`ratecraft.shrink.stacking` (one-line refusal). With ``memory_budget`` (bytes) each
    step is checked by the pre-flight of :mod:`ratecraft.shrink.preflight` before it runs, and
    refused with a clear message when its estimate does not fit. ``progress(i, n, step_name)``
    is called before each step.
    """
    from ratecraft.shrink.stacking import check_stack

    steps = recipe.validated().steps
    for item, later in itertools.pairwise(steps):
        if get_step(item.step).terminal:  # refuse before any work is done
            raise BadInputError(
                f"step {later.step} cannot follow {item.step}: a deployment step must be last"
            )
    for i, item in enumerate(steps):
        step = get_step(item.step)
        cfg = step.parse(item.config)
        check_stack(model, step, cfg)
        if memory_budget is not None:
            preflight(model, step, cfg, calib, budget_bytes=memory_budget)
        if progress is not None:
            progress(i, len(steps), item.step)
        log.info("shrink step %d/%d: %s", i + 1, len(steps), item.step)
        model = step(model, cfg, calib)
    if progress is not None:
        progress(len(steps), len(steps), "done")
    return model
