"""Group layouts: from families, prefixes, YAML and clustering; validated as a partition."""

from __future__ import annotations

import numpy as np
import pytest

from ratecraft.data.clean import clean_table
from ratecraft.data.grouping import (
    GroupLayout,
    cluster_groups,
    group_table,
    groups_from_families,
    groups_from_mapping,
    groups_from_prefixes,
    groups_from_yaml,
)
from ratecraft.data.synthetic import simulate_table
from ratecraft.errors import BadInputError


@pytest.fixture(scope="module")
def table():
    return simulate_table(n_samples=300, seed=2)


def _planted(seed: int, sizes=(5, 7, 4), n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Columns in blocks driven by one factor each (|corr| ≈ 0.8 inside, ≈ 0 across), shuffled."""
    rng = np.random.default_rng(seed)
    blocks, labels = [], []
    for g, size in enumerate(sizes):
        factor = rng.standard_normal((n, 1))
        signs = rng.choice([-1.0, 1.0], size)  # anti-correlated members belong together too
        blocks.append(
            factor * signs * rng.uniform(0.5, 2.0, size) + 0.5 * rng.standard_normal((n, size))
        )
        labels += [g] * size
    x = np.concatenate(blocks, axis=1)
    perm = rng.permutation(x.shape[1])
    return x[:, perm], np.asarray(labels)[perm]


def _partition(layout: GroupLayout) -> set[frozenset[int]]:
    return {frozenset(v) for v in layout.groups.values()}


def test_families_and_prefixes_agree_on_the_synthetic_table(table) -> None:
    fam = groups_from_families(table)
    assert fam.names == ["initial", "summary", "temporal"]
    assert fam.sizes == {"initial": 12, "summary": 16, "temporal": 32}
    assert fam.groups["summary"] == list(range(12, 28))
    pre = groups_from_prefixes(table.feature_names)
    assert pre.groups == fam.groups and pre.source == "prefix"
    assert group_table(table, "prefix").groups == fam.groups
    assert fam.labels() == table.families


def test_yaml_mapping_with_cleaned_features(tmp_path, table) -> None:
    cleaned, report = clean_table(table)
    spec = tmp_path / "groups.yaml"
    spec.write_text(
        "state: [" + ", ".join(f"initial_{i:02d}" for i in range(12)) + "]\n"
        "stats: [" + ", ".join(f"summary_{i:02d}" for i in range(16)) + "]\n"
        "trace: [" + ", ".join(f"temporal_{i:02d}" for i in range(32)) + "]\n"
    )
    layout = groups_from_yaml(spec, cleaned.feature_names, ignore=report.dropped_names)
    assert layout.names == ["state", "stats", "trace"]
    assert layout.sizes == {"state": 11, "stats": 14, "trace": 32}
    assert list(layout.groups.values()) == list(group_table(cleaned, "families").groups.values())
    assert group_table(cleaned, spec, ignore=report.dropped_names) == layout
    with pytest.raises(BadInputError, match="unknown feature"):
        groups_from_yaml(spec, cleaned.feature_names)  # the dropped names are unknown now


def test_clustering_recovers_planted_groups_and_is_deterministic() -> None:
    x, labels = _planted(seed=0)
    truth = {frozenset(np.flatnonzero(labels == g).tolist()) for g in range(3)}
    auto = cluster_groups(x)  # the silhouette picks k = 3
    assert _partition(auto) == truth and auto.source == "cluster"
    assert _partition(cluster_groups(x, 3)) == truth
    assert cluster_groups(x) == auto
    sub_a = cluster_groups(x, seed=5, max_rows=300)
    assert sub_a == cluster_groups(x, seed=5, max_rows=300)
    assert _partition(sub_a) == truth
    two = cluster_groups(x, n_groups=2)
    assert len(two.groups) == 2 and sum(two.sizes.values()) == x.shape[1]
    assert list(auto.groups) == [f"cluster_{k}" for k in range(3)]
    assert auto.groups["cluster_0"][0] == 0  # named in order of their first feature


def test_clustering_edge_cases() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 4))
    x[:, 2] = 3.0  # constant: correlates with nothing, no NaN in the distance
    assert sum(cluster_groups(x).sizes.values()) == 4
    assert cluster_groups(x[:, :1]).groups == {"cluster_0": [0]}
    assert cluster_groups(x, 1).groups == {"cluster_0": [0, 1, 2, 3]}
    with pytest.raises(BadInputError, match="n_groups"):
        cluster_groups(x, 9)
    with pytest.raises(BadInputError, match="NaN"):
        cluster_groups(np.where(x > 1, np.nan, x))


def test_invalid_layouts_raise_one_line_bad_input_errors() -> None:
    with pytest.raises(BadInputError, match="zero width") as info:
        GroupLayout(n_features=3, groups={"a": [0, 1, 2], "b": []})
    assert "\n" not in str(info.value)
    with pytest.raises(BadInputError, match="appears twice"):
        GroupLayout(n_features=3, groups={"a": [0, 1], "b": [1, 2]})
    with pytest.raises(BadInputError, match="appears twice"):
        GroupLayout(n_features=2, groups={"a": [0, 0, 1]})
    with pytest.raises(BadInputError, match="in no group: 2"):
        GroupLayout(n_features=3, groups={"a": [0, 1]})
    with pytest.raises(BadInputError, match="outside"):
        GroupLayout(n_features=2, groups={"a": [0, 1, 2]})
    with pytest.raises(BadInputError, match="zero width"):
        GroupLayout.model_validate_json('{"n_features": 1, "groups": {"a": [0], "b": []}}')
    with pytest.raises(BadInputError, match="zero width"):
        groups_from_mapping({"a": ["x", "y"], "b": []}, ["x", "y"])
    with pytest.raises(BadInputError, match="appears twice"):
        groups_from_mapping({"a": ["x", "y"], "b": ["y"]}, ["x", "y"])
    with pytest.raises(BadInputError, match="unknown feature"):
        groups_from_mapping({"a": ["x", "z"]}, ["x", "y"])


def test_bad_yaml_and_unknown_grouping(tmp_path, table) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [x\n")
    with pytest.raises(BadInputError, match="cannot read"):
        groups_from_yaml(bad, ["x"])
    listy = tmp_path / "list.yaml"
    listy.write_text("- x\n- y\n")
    with pytest.raises(BadInputError, match="mapping"):
        groups_from_yaml(listy, ["x", "y"])
    with pytest.raises(BadInputError, match="cannot read"):
        groups_from_yaml(tmp_path / "missing.yaml", ["x"])
    with pytest.raises(BadInputError, match="unknown grouping"):
        group_table(table, "kmeans")


def test_layout_json_round_trip_and_restrict(table) -> None:
    layout = groups_from_families(table)
    assert GroupLayout.model_validate_json(layout.model_dump_json()) == layout
    small = layout.restrict([0, 1, 12, 40])
    assert small.groups == {"initial": [0, 1], "summary": [2], "temporal": [3]}
    assert small.feature_names == ["initial_00", "initial_01", "summary_00", "temporal_12"]
    only = layout.restrict([13, 14])
    assert only.names == ["summary"]  # groups left empty are removed
    assert np.array_equal(layout.indices("summary"), np.arange(12, 28))
    with pytest.raises(BadInputError, match="unknown group"):
        layout.indices("other")


def test_auto_grouping_learns_planted_blocks_without_families() -> None:
    """``auto``: families when the table has them, else clusters; the planted blocks come back."""
    from ratecraft.data.types import FeatureTable

    for seed in range(3):
        x, labels = _planted(seed=seed)
        truth = {frozenset(np.flatnonzero(labels == g).tolist()) for g in range(3)}
        layout = group_table(FeatureTable(x), "auto")
        assert layout.source == "cluster" and _partition(layout) == truth
        fams = [f"b{g}" for g in labels]
        given = group_table(FeatureTable(x, families=fams), "auto")
        assert given.source == "families" and _partition(given) == truth


def test_auto_grouping_splits_the_survey_table() -> None:
    from ratecraft.data.normalize import NormalizeConfig, Normalizer
    from ratecraft.data.synthetic_survey import SURVEY_BLOCKS, simulate_survey
    from ratecraft.data.types import FeatureTable

    t = simulate_survey(3000, seed=1)
    z = Normalizer.fit(t.values, t.feature_names, NormalizeConfig()).transform(t.values)
    layout = group_table(FeatureTable(z, t.feature_names), "auto")
    assert len(layout.groups) > 1
    by_name = {n: g for g, members in layout.groups.items() for n in members}
    names = t.feature_names
    plan = {by_name[names.index(n)] for n in SURVEY_BLOCKS["plan"]}
    assert len(plan) == 1  # the plan block is one group ...
    assert not plan & {by_name[names.index(n)] for n in ("physlm", "disea", "hlthp")}  # ... alone
