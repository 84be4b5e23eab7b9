"""Allocation: exact sums, monotone in the budget, strategies that differ, rd beats uniform."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ratecraft.allocation import (
    STRATEGIES,
    Allocation,
    AllocationBudget,
    AllocationConfig,
    GroupStats,
    allocate,
    allocate_from_config,
    parse_compression_ratios,
    predicted_distortion,
    reverse_water_fill,
)
from ratecraft.data.clean import clean_table
from ratecraft.data.grouping import GroupLayout, groups_from_families
from ratecraft.data.normalize import Normalizer
from ratecraft.data.synthetic import simulate_table
from ratecraft.errors import BadInputError

NAMED = [s for s in STRATEGIES if s != "auto"]


@pytest.fixture(scope="module")
def table_stats() -> list[GroupStats]:
    """The synthetic family table through clean → normalize → families → group spectra."""
    table, _ = clean_table(simulate_table(n_samples=2000, seed=0))
    z = Normalizer.fit(table.values, table.feature_names).transform(table.values)
    return GroupStats.from_values(z, groups_from_families(table))


def _low_and_full_rank() -> list[GroupStats]:
    """Two 8-feature groups of equal total variance: one rank 2, one isotropic."""
    low = GroupStats.from_spectrum("low", [4.0, 4.0] + [0.0] * 6)
    full = GroupStats.from_spectrum("full", [1.0] * 8)
    return [low, full]


def _total(stats, allocation) -> float:
    return sum(predicted_distortion(stats, allocation).values())


def test_group_stats_from_values_match_the_layout(table_stats) -> None:
    assert [g.name for g in table_stats] == ["initial", "summary", "temporal"]
    assert [g.dims for g in table_stats] == [11, 14, 32]
    for g in table_stats:
        lam = g.spectrum
        assert np.all(np.diff(lam) <= 0) and lam.min() >= 0
        assert g.variance == pytest.approx(lam.sum())
        assert 1.0 <= g.effective_dims <= g.dims and g.entropy_bits > 0
    again = GroupStats.model_validate_json(table_stats[0].model_dump_json())
    assert again == table_stats[0]


@pytest.mark.parametrize("strategy", [*NAMED, "auto"])
@pytest.mark.parametrize(
    "budget", [{"bits": 8}, {"bits": 64.5}, {"latent_dims": 3}, {"latent_dims": 20, "bits": 40}]
)
def test_sums_are_exact_and_every_group_gets_a_dim(table_stats, strategy, budget) -> None:
    a = allocate(table_stats, budget, strategy)
    dims = a.dims_by_group()
    assert sum(dims.values()) == a.latent_dims and min(dims.values()) >= 1
    if "latent_dims" in budget:
        assert a.latent_dims == budget["latent_dims"]
    if "bits" in budget:
        assert sum(a.bits_by_group().values()) == pytest.approx(budget["bits"], rel=1e-12)
        for g in a.groups:
            assert len(g.codebook_sizes) == 3
            assert all(2 <= k <= 4096 and k & (k - 1) == 0 for k in g.codebook_sizes)
    else:
        assert all(b is None for b in a.bits_by_group().values())
    assert Allocation.model_validate_json(a.model_dump_json()) == a
    assert a.strategy == ("rd" if strategy == "auto" else strategy)


@pytest.mark.parametrize("strategy", NAMED)
def test_monotone_in_the_budget(table_stats, strategy) -> None:
    previous = None
    for bits in np.linspace(2.0, 300.0, 40):
        a = allocate(table_stats, {"bits": float(bits)}, strategy)
        if previous is not None:
            for g, p in zip(a.groups, previous.groups, strict=True):
                assert g.latent_dims >= p.latent_dims
                assert g.bits >= p.bits - 1e-9 * bits
                assert all(k >= q for k, q in zip(g.codebook_sizes, p.codebook_sizes, strict=True))
        previous = a
    previous = None
    for dims in range(3, 80):
        a = allocate(table_stats, {"latent_dims": dims}, strategy)
        if previous is not None:
            assert all(
                g.latent_dims >= p.latent_dims
                for g, p in zip(a.groups, previous.groups, strict=True)
            )
        previous = a


def test_strategies_differ_for_a_low_rank_and_a_full_rank_group() -> None:
    stats = _low_and_full_rank()
    budget = {"latent_dims": 8, "bits": 16}
    results = {s: allocate(stats, budget, s) for s in NAMED}
    uniform = results["uniform"]
    assert uniform.dims_by_group() == {"low": 4, "full": 4}  # same feature count, same share
    assert results["variance"].dims_by_group() == {"low": 4, "full": 4}  # same total variance
    assert results["rd"].dims_by_group() == {"low": 2, "full": 6}  # rank 2 needs only 2
    assert results["dimensionality"].dims_by_group() == {"low": 2, "full": 6}  # PR 2 vs 8
    # water-filling: the 2 strong components get 1 bit more each than the 6 weak ones
    assert results["rd"].bits_by_group() == pytest.approx({"low": 5.5, "full": 10.5})
    assert uniform.bits_by_group() == pytest.approx({"low": 8.0, "full": 8.0})
    assert results["information"].bits_by_group() != uniform.bits_by_group()
    assert results["balanced"].bits_by_group() != uniform.bits_by_group()
    distinct = {tuple(sorted(r.bits_by_group().items())) for r in results.values()}
    assert len(distinct) >= 4
    for name, r in results.items():
        assert _total(stats, results["rd"]) <= _total(stats, r) + 1e-12, name


def test_balanced_equalizes_relative_distortion(table_stats) -> None:
    a = allocate(table_stats, {"bits": 32}, "balanced")
    rel = predicted_distortion(table_stats, a, relative=True)
    assert max(rel.values()) / min(rel.values()) < 1.05
    uniform = predicted_distortion(
        table_stats, allocate(table_stats, {"bits": 32}, "uniform"), relative=True
    )
    assert max(uniform.values()) / min(uniform.values()) > 2.0


@pytest.mark.parametrize(
    ("budget", "min_gain"),
    [({"bits": 64}, 0.15), ({"bits": 128}, 0.5), ({"latent_dims": 12, "bits": 64}, 0.2)],
)
def test_rd_beats_uniform_at_equal_bits_on_the_table(table_stats, budget, min_gain) -> None:
    totals = {s: _total(table_stats, allocate(table_stats, budget, s)) for s in NAMED}
    for name, value in totals.items():
        assert totals["rd"] <= value * (1 + 1e-12), name
    assert 1.0 - totals["rd"] / totals["uniform"] >= min_gain


def test_reverse_water_fill_by_hand() -> None:
    theta, bits = reverse_water_fill(np.array([4.0, 1.0]), 1.0)
    assert theta == pytest.approx(1.0) and bits.tolist() == pytest.approx([1.0, 0.0])
    theta, bits = reverse_water_fill(np.array([4.0, 1.0, 0.0]), 3.0)
    assert bits.sum() == pytest.approx(3.0) and bits[2] == 0.0
    assert bits[0] - bits[1] == pytest.approx(1.0)  # ½·log2(4/1) more to the larger
    assert theta == pytest.approx(2.0 ** ((2.0 - 6.0) / 2))
    assert reverse_water_fill(np.zeros(4), 2.0)[1].tolist() == [0.5] * 4


def test_predicted_distortion_by_hand() -> None:
    stats = [GroupStats.from_spectrum("g", [4.0, 1.0, 0.25])]
    a = allocate(stats, {"latent_dims": 2, "bits": 1.0}, "rd")
    # 2 dims kept, 1 bit: θ = 1 → D = min(4, 1) + min(1, 1) + 0.25 (truncated)
    assert predicted_distortion(stats, a) == {"g": pytest.approx(2.25)}
    assert predicted_distortion(stats, a, relative=True)["g"] == pytest.approx(2.25 / 5.25)
    dims_only = allocate(stats, {"latent_dims": 1}, "rd")
    assert predicted_distortion(stats, dims_only) == {"g": pytest.approx(1.25)}


def test_compression_level_scales_dims_and_bits(table_stats) -> None:
    sizes = []
    for level in (0.5, 1.0, 2.0, 5.0):
        a = allocate(table_stats, {"latent_dims": 40, "bits": 100, "compression_level": level})
        assert a.latent_dims == math.floor(40 / level + 0.5)
        assert a.bits == pytest.approx(100 / level)
        sizes.append((a.latent_dims, a.bits))
    assert all(x[0] > y[0] and x[1] > y[1] for x, y in itertools.pairwise(sizes))
    with pytest.raises(BadInputError, match="every group needs at least one"):
        allocate(table_stats, {"latent_dims": 10, "compression_level": 5})


def test_parse_compression_ratios_forms() -> None:
    names = ["initial", "summary", "temporal"]
    assert parse_compression_ratios("auto", names) is None
    assert parse_compression_ratios(None, names) is None
    parsed = parse_compression_ratios("0.5:1:1.5", names)
    assert parsed.weights == {"initial": 0.5, "summary": 1.0, "temporal": 1.5}
    assert parse_compression_ratios([0.5, 1, 1.5], names).weights == parsed.weights
    per_level = parse_compression_ratios(
        {"initial": 1, "summary": [1, 2, 3], "temporal": 2.5}, names, levels=3
    )
    assert per_level.weights == {"initial": 1.0, "summary": 6.0, "temporal": 2.5}
    assert per_level.level_weights == {"summary": [1.0, 2.0, 3.0]}


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("0.5:1", "2 value"),
        ("a:b:c", "cannot parse"),
        ("1:0:1", "positive"),
        ("1:-2:1", "positive"),
        ({"initial": 1, "summary": 1, "temporal": 1, "spatial": 2}, "unknown group.*spatial"),
        ({"initial": 1, "summary": 1}, "no value for group.*temporal"),
        ({"initial": 1, "summary": [1, 2], "temporal": 1}, "2 level value"),
        ({"initial": 1, "summary": 1, "temporal": float("nan")}, "positive"),
        (3, "must be 'auto'"),
    ],
)
def test_parse_compression_ratios_errors(value, match) -> None:
    with pytest.raises(BadInputError, match=match):
        parse_compression_ratios(value, ["initial", "summary", "temporal"], levels=3)


def test_config_with_ratios_gives_manual_shares(table_stats) -> None:
    cfg = AllocationConfig(compression_ratios="1:1:2", latent_dims=12, bits=48)
    a = allocate_from_config(table_stats, cfg)
    assert a.strategy == "manual"
    assert a.dims_by_group() == {"initial": 3, "summary": 3, "temporal": 6}
    assert a.bits_by_group() == pytest.approx({"initial": 12, "summary": 12, "temporal": 24})
    levels = AllocationConfig(
        compression_ratios={"initial": [4, 1, 1], "summary": 1, "temporal": 1}, bits=16
    )
    sizes = allocate_from_config(table_stats, levels).codebooks_by_group()["initial"]
    assert sizes == [256, 4, 4]  # 12 bits (weight 6 of 8) split 4:1:1 over the levels
    default = allocate_from_config(table_stats, AllocationConfig(bits=48))
    assert default.strategy == "rd" and default.requested_strategy == "auto"


def test_bad_configs_are_clear_errors(table_stats) -> None:
    with pytest.raises(BadInputError, match="unknown allocation strategy 'greedy'"):
        allocate(table_stats, {"bits": 10}, "greedy")
    with pytest.raises(BadInputError, match="unknown allocation strategy") as info:
        AllocationConfig(allocation_strategy="greedy", bits=10)
    assert "\n" not in str(info.value)
    with pytest.raises(BadInputError, match="both set"):
        AllocationConfig(allocation_strategy="variance", compression_ratios="1:1:1", bits=10)
    with pytest.raises(BadInputError, match="unknown group"):
        allocate_from_config(table_stats, AllocationConfig(compression_ratios={"x": 1}, bits=8))
    with pytest.raises(BadInputError, match="latent_dims, bits"):
        AllocationBudget()
    with pytest.raises(BadInputError, match="needs weights"):
        allocate(table_stats, {"bits": 10}, "manual")
    with pytest.raises(BadInputError, match="zero width"):
        GroupStats.from_spectrum("empty", [])
    with pytest.raises(BadInputError, match="zero width"):
        GroupLayout(n_features=2, groups={"a": [0, 1], "b": []})
    with pytest.raises(BadInputError, match="2 latent dims for 3 groups"):
        allocate(table_stats, {"latent_dims": 2})
    with pytest.raises(BadInputError, match="unique"):
        allocate([table_stats[0], table_stats[0]], {"bits": 4})


@settings(max_examples=60, deadline=None)
@given(
    spectra=st.lists(
        st.lists(st.floats(0.0, 100.0, allow_nan=False), min_size=1, max_size=6),
        min_size=1,
        max_size=4,
    ),
    strategy=st.sampled_from(NAMED),
    bits=st.floats(0.5, 200.0),
    extra=st.floats(0.0, 50.0),
    dims=st.integers(0, 20),
)
def test_allocation_properties(spectra, strategy, bits, extra, dims) -> None:
    stats = [GroupStats.from_spectrum(f"g{i}", s) for i, s in enumerate(spectra)]
    total_dims = len(stats) + dims
    budget = {"latent_dims": total_dims, "bits": bits}
    small = allocate(stats, budget, strategy)
    large = allocate(stats, {**budget, "bits": bits + extra}, strategy)
    assert sum(small.dims_by_group().values()) == total_dims
    assert sum(small.bits_by_group().values()) == pytest.approx(bits, rel=1e-9)
    assert min(small.dims_by_group().values()) >= 1
    for s, g in zip(small.groups, large.groups, strict=True):
        assert g.bits >= s.bits - 1e-9 * (bits + extra)
    wider = allocate(stats, {**budget, "latent_dims": total_dims + 1}, strategy)
    assert all(
        w.latent_dims >= s.latent_dims for w, s in zip(wider.groups, small.groups, strict=True)
    )
    lo, hi = (allocate(stats, {"bits": b}, strategy) for b in (bits, bits + extra))
    for s, g in zip(lo.groups, hi.groups, strict=True):  # bits only: dims derived from bits
        assert g.latent_dims >= s.latent_dims and g.bits >= s.bits - 1e-9 * (bits + extra)
    rd = _total(stats, allocate(stats, budget, "rd"))
    assert rd <= _total(stats, small) * (1 + 1e-9) + 1e-12
