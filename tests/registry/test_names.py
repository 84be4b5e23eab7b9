"""Names, aliases and references: valid ones parse, every trick gets one clear error."""

from __future__ import annotations

import pytest

from ratecraft.errors import BadInputError
from ratecraft.registry import ModelRef, check_alias, parse_ref


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("probe", ModelRef("probe")),
        ("probe-32ch_v2.1", ModelRef("probe-32ch_v2.1")),
        ("probe@3", ModelRef("probe", version=3)),
        ("probe@v12", ModelRef("probe", version=12)),
        ("probe@production", ModelRef("probe", alias="production")),
        ("zoo:implant", ModelRef("implant", zoo=True)),
    ],
)
def test_references_parse(text, ref):
    assert parse_ref(text) == ref
    assert parse_ref(str(ref)) == ref


@pytest.mark.parametrize(
    "text",
    [
        "",
        "../etc",
        "a/b",
        "..",
        "a..b",
        "/abs",
        "Upper",
        "-dash",
        "x" * 65,
        "name@",
        "name@0",
        "name@../x",
        "zoo:a@2",
        "n\x00",
        "a b",
        "name@pro/d",
    ],
)
def test_bad_references_are_refused_in_one_line(text):
    with pytest.raises(BadInputError) as err:
        parse_ref(text)
    assert "\n" not in str(err.value)


def test_an_alias_cannot_look_like_a_version():
    with pytest.raises(BadInputError, match="version"):
        check_alias("v3")
