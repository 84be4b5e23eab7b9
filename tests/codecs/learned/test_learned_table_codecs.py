"""Learned table codecs: shapes, gradients, exact round trips, checkpoints, rate, bad configs."""

import copy
import itertools

import numpy as np
import pytest
import torch

from ratecraft.codecs import Budget, decode, get_codec
from ratecraft.codecs.learned.table_codec import LearnedTableCodec
from ratecraft.data.synthetic_table import simulate_table
from ratecraft.errors import BadInputError

CODECS = ["adaptive-bottleneck", "grouped-vae", "vqvae"]
FAST = {"train": {"epochs": 3, "batch_size": 64}, "hidden": 16}


@pytest.fixture(scope="module")
def table():
    return simulate_table(n_samples=240, seed=3)


@pytest.fixture(scope="module")
def fitted(table):
    return {name: get_codec(name, FAST).fit(table) for name in CODECS}


def _same(a, b):
    return np.array_equal(np.nan_to_num(a, nan=1.5), np.nan_to_num(b, nan=1.5))


@pytest.mark.parametrize("name", CODECS)
def test_forward_shapes_and_gradient_flow(fitted, name):
    model = copy.deepcopy(fitted[name].model)  # training steps would move EMA codebooks
    model.train()
    x = torch.randn(32, model.n_features)
    x_hat, rate, aux = model.train_terms(x)
    assert x_hat.shape == x.shape and rate.shape == () and aux.shape == ()
    (((x_hat - x) ** 2).mean() + rate / 100 + aux).backward()
    enc = [p for n, p in model.named_parameters() if "encoder" in n]
    assert enc and all(p.grad is not None and torch.isfinite(p.grad).all() for p in enc)


@pytest.mark.parametrize("name", CODECS)
def test_bitstream_reproduces_the_model_reconstruction(fitted, table, name):
    codec = fitted[name]
    decoded = codec.decode(codec.encode(table))
    own = codec.reconstruct(table)
    assert decoded.values.shape == table.values.shape
    assert _same(decoded.values, own.values)
    # NaNs come back exactly where the kept features had them; dropped columns rebuilt
    report = codec.report
    assert np.isnan(
        decoded.values[:, [d.index for d in report.dropped if d.kind == "nan_fraction"]]
    ).all()
    const = [d for d in report.dropped if d.kind == "constant"]
    assert all((decoded.values[:, d.index] == d.value).all() for d in const)


def test_missing_cells_are_restored_exactly(fitted, table):
    codec = fitted["vqvae"]
    values = table.values.copy()
    kept = codec.report.kept
    values[5, kept[0]], values[9, kept[3]], values[11, kept[4]] = np.nan, np.inf, -np.inf
    from ratecraft.data.types import FeatureTable

    t = FeatureTable(values, table.feature_names, table.families)
    out = codec.decode(codec.encode(t)).values
    assert np.isnan(out[5, kept[0]]) and out[9, kept[3]] == np.inf and out[11, kept[4]] == -np.inf
    assert np.isfinite(out[:, kept]).sum() == np.isfinite(values[:, kept]).sum()


@pytest.mark.parametrize("name", CODECS)
def test_checkpoint_reload_gives_identical_reconstructions(fitted, table, name, tmp_path):
    codec = fitted[name]
    codec.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["codec.json", "weights.safetensors"]
    loaded = LearnedTableCodec.load(tmp_path)
    assert type(loaded) is type(codec) and loaded.model_sha256() == codec.model_sha256()
    blob = codec.encode(table)
    assert loaded.encode(table) == blob
    assert _same(loaded.decode(blob).values, codec.reconstruct(table).values)


def test_decode_needs_the_matching_model(fitted, table):
    blob = fitted["vqvae"].encode(table)
    with pytest.raises(BadInputError, match="trained model"):
        decode(blob)
    other = get_codec("vqvae", {**FAST, "seed": 1}).fit(table)
    with pytest.raises(BadInputError, match="needs vqvae model sha256"):
        other.decode(blob)
    with pytest.raises(BadInputError, match="not the grouped-vae model"):
        fitted["grouped-vae"].decode(blob)


@pytest.mark.parametrize("name", ["adaptive-bottleneck", "vqvae"])
def test_size_and_parameters_fall_as_the_level_rises(table, name):
    sizes, params = [], []
    for level in (0.5, 1.0, 2.0, 5.0):
        codec = get_codec(name, {**FAST, "compression_level": level}).fit(table)
        sizes.append(len(codec.encode(table)))
        params.append(codec.parameter_count())
    assert all(a > b for a, b in itertools.pairwise(params)), params
    assert all(a > b for a, b in itertools.pairwise(sizes)), sizes


def test_ratio_budget_sets_the_rate(table):
    codec = get_codec("vqvae", FAST).fit(table, Budget(ratio=40))
    assert codec.fit_report["ratio"] >= 40 * 0.95, codec.fit_report
    loose = get_codec("vqvae", FAST).fit(table, Budget(ratio=25))
    assert loose.allocation.bits > codec.allocation.bits


def test_temporal_family_gets_a_cnn(fitted):
    from ratecraft.codecs.learned.blocks import TemporalEncoder

    names = fitted["grouped-vae"].model.names
    encoders = fitted["grouped-vae"].model.encoders
    assert isinstance(encoders[names.index("temporal")], TemporalEncoder)
    assert not isinstance(encoders[names.index("summary")], TemporalEncoder)


def test_group_weights_and_ratios(table):
    codec = get_codec(
        "grouped-vae",
        {**FAST, "compression_ratios": "1:1:4", "group_weights": {"summary": 3.0}},
    ).fit(table)
    dims = codec.allocation.dims_by_group()
    assert dims["temporal"] > dims["initial"]


@pytest.mark.parametrize(
    ("name", "config", "budget", "match"),
    [
        ("vqvae", {"allocation_strategy": "bogus"}, None, "unknown allocation strategy"),
        ("grouped-vae", {"compression_ratios": {"nope": 1.0}}, None, "unknown group"),
        ("vqvae", {"grouping": {"a": [], "b": ["initial_00"]}}, None, "empty|zero width|unknown"),
        ("grouped-vae", {"latent_dims": 2}, None, "at least one"),
        ("adaptive-bottleneck", {}, Budget(lossless=True), "lossy"),
        ("vqvae", {}, Budget(max_error=0.1), "max_error"),
        ("grouped-vae", {"group_weights": {"x": 1.0}}, None, "unknown group"),
        ("vqvae", {"train": {"epochs": 0}}, None, "epochs"),
    ],
)
def test_bad_configs_give_one_line_errors(table, name, config, budget, match):
    with pytest.raises(BadInputError, match=match) as info:
        get_codec(name, {**FAST, **config}).fit(table, budget)
    assert "\n" not in str(info.value)


def test_unreachable_ratio_is_refused(table):
    with pytest.raises(BadInputError, match="unreachable"):
        get_codec("vqvae", FAST).fit(table, Budget(ratio=500))


def test_unfitted_codec_refuses_to_encode(table):
    with pytest.raises(BadInputError, match="not fitted"):
        get_codec("vqvae").encode(table)


def test_generic_load_dispatches_to_the_learned_checkpoint(tmp_path):
    from ratecraft.codecs.base import Codec

    table = simulate_table(n_samples=300, seed=1)
    codec = get_codec("adaptive-bottleneck", FAST).fit(table)
    codec.save(tmp_path)
    loaded = Codec.load(tmp_path)
    assert type(loaded) is type(codec)
    assert loaded.encode(table) == codec.encode(table)


@pytest.fixture(scope="module")
def refined(table):
    """Fitted at 8x: every model leaves budget unused there, so the refinement layer is on."""
    return {name: get_codec(name, FAST).fit(table, Budget(ratio=8)) for name in CODECS}


@pytest.mark.parametrize("name", CODECS)
def test_ratio_budget_is_met_within_five_percent(refined, table, name):
    codec = refined[name]
    report = codec.fit_report
    assert codec.config.residual_step is not None and report["model_ratio"] > 8 * 1.05
    assert 8 <= report["ratio"] <= 8 * 1.05, report
    blob = codec.encode(table)
    assert table.values.nbytes / len(blob) == pytest.approx(report["ratio"])


@pytest.mark.parametrize("name", CODECS)
def test_refinement_layer_round_trip_is_exact_and_survives_reload(refined, table, name, tmp_path):
    codec = refined[name]
    blob = codec.encode(table)
    own = codec.reconstruct(table)
    assert _same(codec.decode(blob).values, own.values)
    codec.save(tmp_path)
    again = LearnedTableCodec.load(tmp_path)
    assert again.config.residual_step == codec.config.residual_step
    assert _same(again.decode(blob).values, own.values)
    off = LearnedTableCodec.load(tmp_path)
    off._set(residual_step=None)
    with pytest.raises(BadInputError, match=r"needs .* model sha256"):
        off.decode(blob)


def test_more_budget_means_more_bytes_and_less_error(table):
    sizes, errors = [], []
    for ratio in (4.0, 6.0, 8.0):  # the refinement layer spends the difference
        codec = get_codec("adaptive-bottleneck", FAST).fit(table, Budget(ratio=ratio))
        sizes.append(len(codec.encode(table)))
        x_hat = codec.reconstruct(table).values
        z, _ = codec._z_of(table.values)
        z_hat, _ = codec._z_of(x_hat)
        errors.append(float(np.mean((z - z_hat) ** 2)))
    assert all(a > b for a, b in itertools.pairwise(sizes)), sizes
    assert all(a < b for a, b in itertools.pairwise(errors)), errors


@pytest.mark.parametrize("size", [2, 8, 16, 64, 256, 1000])
def test_fsq_levels_cover_the_codebook(size):
    from ratecraft.codecs.learned.vqvae import fsq_levels

    levels = fsq_levels(size)
    assert all(3 <= lv <= 8 for lv in levels) and int(np.prod(levels)) >= size


def test_fsq_quantizer_round_trip_and_tokens(table):
    codec = get_codec("vqvae", {**FAST, "quantizer": "fsq"}).fit(table)
    own = codec.reconstruct(table)
    assert _same(codec.decode(codec.encode(table)).values, own.values)
    sizes = codec.codebook_sizes()
    for name, tokens in codec.tokens(table.values).items():
        assert tokens.shape[1] == len(sizes[name])
        assert (tokens >= 0).all() and (tokens < np.array(sizes[name])[None, :]).all()
