"""Recipes round-trip through YAML/JSON, validate their steps and hash stably."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from shrink_helpers import MLP, make

from ratecraft.errors import BadInputError
from ratecraft.shrink import Recipe, run_recipe

TEXT = """
name: prune-then-int8
steps:
  - step: prune-magnitude
    config: {sparsity: 0.5}
  - int8-weight
"""


def test_yaml_round_trip_and_hash_stability():
    recipe = Recipe.from_yaml(TEXT)
    again = Recipe.from_yaml(recipe.to_yaml())
    assert again == recipe
    assert Recipe.from_json(recipe.to_json()) == recipe
    assert again.hash() == recipe.hash() == Recipe.from_yaml(TEXT).hash()
    expected = hashlib.sha256(recipe.canonical_json().encode()).hexdigest()
    assert recipe.hash() == expected
    doc = json.loads(recipe.canonical_json())
    assert [d["step"] for d in doc] == ["prune-magnitude", "int8-weight"]


def test_defaults_hash_like_explicit_values_and_changes_do_not():
    implicit = Recipe.of("prune-magnitude")
    explicit = Recipe.of(("prune-magnitude", {"sparsity": 0.5, "scope": "layer"}))
    assert implicit.hash() == explicit.hash()
    assert Recipe.of(("prune-magnitude", {"sparsity": 0.6})).hash() != implicit.hash()
    swapped = Recipe.of("int8-weight", "prune-magnitude")
    assert swapped.hash() != Recipe.of("prune-magnitude", "int8-weight").hash()
    named = Recipe.of("prune-magnitude", name="other name")
    assert named.hash() == implicit.hash()


def test_files(tmp_path):
    recipe = Recipe.from_yaml(TEXT)
    (tmp_path / "r.yaml").write_text(recipe.to_yaml())
    (tmp_path / "r.json").write_text(recipe.to_json())
    assert Recipe.from_file(tmp_path / "r.yaml") == Recipe.from_file(tmp_path / "r.json") == recipe


@pytest.mark.parametrize(
    "text",
    ["steps: [{step: nope}]", "steps: [{step: prune-magnitude, config: {sparsity: 2}}]",
     "steps: [{step: int8-weight, extra: 1}]", "- [unclosed", "42", "version: 99\nsteps: []"],
)  # fmt: skip
def test_bad_recipes_are_one_line_errors(text):
    with pytest.raises(BadInputError) as err:
        Recipe.from_yaml(text)
    assert "\n" not in str(err.value)


def test_missing_recipe_file(tmp_path):
    with pytest.raises(BadInputError, match="cannot read"):
        Recipe.from_file(tmp_path / "none.yaml")


def test_run_recipe_applies_steps_in_order_and_reports_progress():
    model = make(MLP)
    seen = []
    recipe = Recipe.of(("prune-magnitude", {"sparsity": 0.5}), "int8-weight")
    out = run_recipe(model, recipe, progress=lambda i, n, name: seen.append((i, n, name)))
    assert seen == [(0, 2, "prune-magnitude"), (1, 2, "int8-weight"), (2, 2, "done")]
    assert type(out[0].weight).__name__ == "Int8Tensor"
    assert out(torch.randn(3, 64)).shape == (3, 10)
