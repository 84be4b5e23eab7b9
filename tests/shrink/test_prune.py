"""Unstructured and N:M pruning: sparsity reached, 2:4 holds, sparse storage shrinks the file."""

from __future__ import annotations

import itertools

import pytest
import torch
from shrink_helpers import CNN, MLP, make, outputs, roundtrip

from ratecraft.shrink import get_step
from ratecraft.shrink.measure import artifact_bytes, sparsity
from ratecraft.shrink.prune import cubic_schedule, sparsegpt_layer

UNSTRUCTURED = ["prune-magnitude", "prune-wanda", "prune-sparsegpt"]


def linear_weights(model):
    return [m.weight.detach() for m in model.modules() if isinstance(m, torch.nn.Linear)]


@pytest.mark.parametrize("step", UNSTRUCTURED)
@pytest.mark.parametrize("target", [0.3, 0.7])
def test_sparsity_is_reached_per_layer(step, target, mlp_calib):
    model = get_step(step)(make(MLP), {"sparsity": target}, mlp_calib)
    for w in linear_weights(model):
        assert abs(float((w == 0).float().mean()) - target) < 0.02
    assert outputs(mlp_calib, model).shape == (64, 10)


@pytest.mark.parametrize("step", UNSTRUCTURED)
def test_two_four_pattern_holds(step, mlp_calib):
    model = get_step(step)(make(MLP), {"pattern": "2:4"}, mlp_calib)
    for w in linear_weights(model):
        groups = (w.reshape(w.shape[0], -1, 4) != 0).sum(-1)
        assert int(groups.max()) <= 2
    assert abs(sparsity(model) - 0.5) < 0.01


def test_global_scope_and_convolutions(cnn_calib):
    model = get_step("prune-magnitude")(
        make(CNN), {"sparsity": 0.6, "scope": "global", "conv": True}
    )
    assert abs(sparsity(model) - 0.6) < 0.01
    assert float((model[0].weight == 0).float().mean()) > 0  # convolutions were considered


def test_sparse_artifact_is_really_smaller_and_reloads_exactly(tmp_path, mlp_calib):
    roundtrip(make(MLP), MLP, tmp_path / "dense")
    model = get_step("prune-magnitude")(make(MLP), {"sparsity": 0.75})
    art = roundtrip(model, MLP, tmp_path / "sparse")
    assert torch.equal(outputs(mlp_calib, art.model), outputs(mlp_calib, model))
    assert sparsity(art.model) == pytest.approx(0.75, abs=0.01)
    # bitmask (1 bit) + 25% of the 32-bit values ≈ 9 bits per weight instead of 32
    assert artifact_bytes(tmp_path / "sparse") < 0.4 * artifact_bytes(tmp_path / "dense")


def test_sparsegpt_keeps_outputs_closer_than_magnitude(mlp_calib):
    ref = outputs(mlp_calib, make(MLP))
    errors = {}
    for step in ("prune-magnitude", "prune-sparsegpt"):
        model = get_step(step)(make(MLP), {"sparsity": 0.6}, mlp_calib)
        errors[step] = float((outputs(mlp_calib, model) - ref).pow(2).mean())
    assert errors["prune-sparsegpt"] < errors["prune-magnitude"]


def test_sparsegpt_layer_with_zero_sparsity_changes_nothing():
    g = torch.Generator().manual_seed(0)
    w, x = torch.randn(8, 16, generator=g), torch.randn(64, 16, generator=g)
    out, mask = sparsegpt_layer(w, 2 * x.t() @ x / 64, 0.0, 0, 0, 4, 0.01)
    assert not mask.any()
    assert torch.allclose(out, w, atol=1e-5)


def test_cubic_schedule_is_monotone_and_ends_at_target():
    s = cubic_schedule(0.8, 5)
    assert all(a < b for a, b in itertools.pairwise(s))
    assert s[-1] == pytest.approx(0.8)
    assert cubic_schedule(0.5, 1) == [0.5]


def test_gradual_schedule_with_finetuning_keeps_zeros(mlp_calib):
    model = get_step("prune-magnitude")(
        make(MLP), {"sparsity": 0.6, "schedule_steps": 3, "finetune_steps": 4}, mlp_calib
    )
    for w in linear_weights(model):
        assert abs(float((w == 0).float().mean()) - 0.6) < 0.02


def test_wanda_uses_activation_norms(mlp_calib):
    scaled = [x * torch.linspace(0.01, 10, 64) for x in mlp_calib.inputs]
    mlp_calib.inputs = scaled
    model = get_step("prune-wanda")(make(MLP), {"sparsity": 0.5}, mlp_calib)
    first = model[0].weight.detach()
    # inputs with tiny activations lose far more weights than those with large activations
    assert float((first[:, :16] == 0).float().mean()) > float((first[:, -16:] == 0).float().mean())
