"""Listing and setting a pydantic config's options by dotted name."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from ratecraft.errors import BadInputError
from ratecraft.options import check_keys, merge, options, parse_settings, type_text


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epochs: int = Field(60, ge=1, le=100, description="passes")
    lr: float = Field(1e-3, gt=0, description="rate")


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["a", "b"] = Field("a", description="which")
    step: float | None = Field(None, ge=0.0, lt=0.5)
    weights: dict[str, float] | None = None
    sizes: tuple[int, ...] = (1, 2)
    train: Inner = Field(default_factory=lambda: Inner(epochs=5))


def test_options_flatten_nested_configs_with_the_parents_defaults():
    rows = {o.name: o for o in options(Outer)}
    assert list(rows) == ["kind", "step", "weights", "sizes", "train.epochs", "train.lr"]
    assert rows["train.epochs"].default == 5  # the parent's default_factory, not Inner's 60
    assert rows["train.epochs"].bounds == "[1, 100]" and rows["train.epochs"].help == "passes"
    assert rows["train.lr"].bounds == "(0, ∞)"
    assert rows["step"].bounds == "[0, 0.5)" and rows["step"].type == "float | None"
    assert rows["kind"].type == "a | b" and rows["kind"].default == "a"
    assert rows["sizes"].type == "list[int]" and rows["sizes"].default == [1, 2]
    assert rows["weights"].type == "dict[str, float] | None" and rows["weights"].bounds == ""


def test_type_text():
    assert type_text(int) == "int" and type_text(list[str]) == "list[str]"
    assert type_text(str | dict[str, list[float]]) == "str | dict[str, list[float]]"


def test_parse_settings_reads_yaml_values_into_nested_keys():
    doc = parse_settings(["train.epochs=2", "kind=b", "step=null", "weights.x=1.5", "sizes=[3]"])
    assert doc == {"train": {"epochs": 2}, "kind": "b", "step": None, "weights": {"x": 1.5},
                   "sizes": [3]}  # fmt: skip
    assert Outer.model_validate(doc).train.epochs == 2


@pytest.mark.parametrize(
    ("pairs", "words"),
    [
        (["epochs"], "KEY=VALUE"),
        (["=3"], "KEY=VALUE"),
        (["train..epochs=1"], "KEY=VALUE"),
        (["kind=[unclosed"], "not a YAML value"),
        (["train=1", "train.epochs=2"], "set to a value"),
    ],
)
def test_parse_settings_refuses_malformed_pairs(pairs, words):
    with pytest.raises(BadInputError, match=words):
        parse_settings(pairs)


def test_check_keys_names_the_closest_options():
    check_keys({"train": {"epochs": 1}, "weights": {"any": 1.0}}, Outer, "--set")  # fine
    with pytest.raises(BadInputError) as err:
        check_keys({"train": {"epochz": 1}}, Outer, "--set", " (see the list)")
    text = str(err.value)
    assert text.startswith("--set: unknown option 'train.epochz'; did you mean train.epochs")
    assert text.endswith("? (see the list)")
    with pytest.raises(BadInputError, match=r"unknown option 'nothing_like_it'$"):
        check_keys({"nothing_like_it": 1}, Outer, "--set")


def test_merge_is_deep_and_the_override_wins():
    base = {"train": {"epochs": 1, "lr": 0.1}, "kind": "a"}
    assert merge(base, {"train": {"epochs": 3}}) == {"train": {"epochs": 3, "lr": 0.1}, "kind": "a"}
    assert base["train"]["epochs"] == 1  # not modified
