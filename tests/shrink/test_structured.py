"""Structured pruning (torch-pruning): the model really gets smaller and still runs."""

from __future__ import annotations

import pytest
import torch
from shrink_helpers import CNN, MLP, TX, make, outputs, roundtrip

from ratecraft.errors import BadInputError
from ratecraft.shrink import get_step
from ratecraft.shrink.measure import artifact_bytes, parameter_count
from ratecraft.shrink.structured import output_layers


@pytest.mark.parametrize(("spec", "calib_name"), [(MLP, "mlp_calib"), (CNN, "cnn_calib")])
def test_channel_pruning_shrinks_and_reloads(tmp_path, request, spec, calib_name):
    calib = request.getfixturevalue(calib_name)
    model = make(spec)
    before, shape = parameter_count(model), outputs(calib, model).shape
    roundtrip(model, spec, tmp_path / "dense")
    model = get_step("prune-structured")(model, {"ratio": 0.5}, calib)
    assert parameter_count(model) < 0.5 * before
    assert outputs(calib, model).shape == shape  # the output layer is never pruned
    art = roundtrip(model, spec, tmp_path / "pruned")
    assert torch.equal(outputs(calib, art.model), outputs(calib, model))
    assert artifact_bytes(tmp_path / "pruned") < 0.6 * artifact_bytes(tmp_path / "dense")


def test_output_layers_found_through_the_graph(mlp_calib, tx_calib):
    mlp = make(MLP)
    assert output_layers(mlp, mlp_calib) == [mlp[4]]
    tx = make(TX)
    assert output_layers(tx, tx_calib) == [tx.head]


def test_mlp_mode_only_narrows_the_hidden_width(tx_calib):
    model = get_step("prune-structured")(make(TX), {"mode": "mlp", "ratio": 0.5}, tx_calib)
    for block in model.layers:
        assert block.up.out_features == 32 and block.down.in_features == 32
        assert block.attn.q_proj.out_features == 32
    assert outputs(tx_calib, model).shape == (8, 16, 32)


def test_head_pruning_removes_whole_heads(tmp_path, tx_calib):
    model = get_step("prune-structured")(make(TX), {"mode": "heads", "ratio": 0.5}, tx_calib)
    for block in model.layers:
        assert block.attn.num_heads == 2
        assert block.attn.q_proj.out_features == 2 * block.attn.head_dim
        assert block.attn.o_proj.in_features == 2 * block.attn.head_dim
    art = roundtrip(model, TX, tmp_path / "heads")
    assert [b.attn.num_heads for b in art.model.layers] == [2, 2, 2]
    assert torch.equal(outputs(tx_calib, art.model), outputs(tx_calib, model))


def test_iterative_with_finetuning(mlp_calib):
    model = get_step("prune-structured")(
        make(MLP), {"ratio": 0.5, "iterative_steps": 2, "finetune_steps": 3}, mlp_calib
    )
    assert model[0].out_features == 48


def test_heads_mode_without_attention_is_refused(mlp_calib):
    with pytest.raises(BadInputError, match="no attention"):
        get_step("prune-structured")(make(MLP), {"mode": "heads"}, mlp_calib)


def test_targets_that_match_nothing_are_refused(mlp_calib):
    with pytest.raises(BadInputError, match="no layer matches"):
        get_step("prune-structured")(make(MLP), {"targets": ["nope*"]}, mlp_calib)
