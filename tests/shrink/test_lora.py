"""LoRA recovery: merged weights compute what the adapter model computed; QLoRA stays quantized."""

from __future__ import annotations

import pytest
import torch
from shrink_helpers import MLP, TX, make, outputs, roundtrip

from ratecraft.errors import BadInputError
from ratecraft.shrink import Recipe, get_step, run_recipe
from ratecraft.shrink.lora import LoraStepConfig, attach_lora, merge_lora, train_lora
from ratecraft.shrink.measure import sparsity
from ratecraft.shrink.steps import frozen_copy


def test_merge_gives_the_adapter_models_outputs(mlp_calib):
    cfg = LoraStepConfig(r=4, steps=10, lr=1e-2)
    peft_model, state = attach_lora(make(MLP), cfg)
    history = train_lora(peft_model, mlp_calib, cfg)
    assert len(history) == 10
    unmerged = outputs(mlp_calib, peft_model)
    merged = merge_lora(peft_model, state)
    assert type(merged) is torch.nn.Sequential  # adapters folded away
    assert torch.allclose(outputs(mlp_calib, merged), unmerged, atol=1e-5)
    assert not torch.allclose(unmerged, outputs(mlp_calib, make(MLP)), atol=1e-4)  # it trained


def test_lora_recovers_loss_after_pruning(mlp_calib):
    model = get_step("prune-magnitude")(make(MLP), {"sparsity": 0.8})
    loss = [
        float(mlp_calib.task_loss(outputs(mlp_calib, model, x), y)) for x, y in mlp_calib.pairs()
    ]
    model = get_step("lora")(model, {"steps": 40, "lr": 1e-2}, mlp_calib)
    after = [
        float(mlp_calib.task_loss(outputs(mlp_calib, model, x), y)) for x, y in mlp_calib.pairs()
    ]
    assert sum(after) < sum(loss)
    assert sparsity(model) == pytest.approx(0.8, abs=0.01)  # pruned zeros kept after merging


def test_qlora_style_keeps_the_model_quantized(tmp_path, mlp_calib):
    recipe = Recipe.of("int4-weight", ("lora", {"steps": 5}))
    model = run_recipe(make(MLP), recipe, mlp_calib)
    kinds = {type(m.weight).__name__ for m in model.modules() if isinstance(m, torch.nn.Linear)}
    assert kinds == {"IntxUnpackedToInt8Tensor"}
    assert model[0].weight.block_size[-1] == 32
    art = roundtrip(model, MLP, tmp_path / "qlora", recipe=recipe)
    assert torch.equal(outputs(mlp_calib, art.model), outputs(mlp_calib, model))


def test_kd_only_recovery_on_a_transformer(tx_calib):
    teacher = frozen_copy(make(TX))
    tx_calib.targets, tx_calib.teacher = None, teacher
    model = get_step("lora")(
        make(TX), {"steps": 3, "kd_weight": 1.0, "targets": ["*proj"]}, tx_calib
    )
    assert outputs(tx_calib, model).shape == (8, 16, 32)


def test_lora_needs_something_to_learn_from(mlp_calib):
    mlp_calib.targets = None
    with pytest.raises(BadInputError, match="targets"):
        get_step("lora")(make(MLP), {"steps": 2}, mlp_calib)


def test_lora_over_quanto_is_refused(mlp_calib):
    with pytest.raises(BadInputError, match="quanto"):
        run_recipe(make(MLP), Recipe.of("quanto", "lora"), mlp_calib)


def test_lora_merges_onto_the_quantized_models_own_grid(mlp_calib):
    from ratecraft.shrink.lora import onto_grid

    model = run_recipe(make(MLP), Recipe.of(("int4-weight", {"mapping": "asymmetric"})))
    grid = model[0].weight
    same = onto_grid(grid, grid.dequantize())
    assert torch.equal(same.qdata, grid.qdata) and torch.equal(same.scale, grid.scale)
    tuned = run_recipe(model, Recipe.of(("lora", {"steps": 5, "lr": 1e-2})), mlp_calib)
    after = tuned[0].weight
    assert type(after).__name__ == "IntxUnpackedToInt8Tensor"
    assert torch.equal(after.scale, grid.scale) and torch.equal(after.zero_point, grid.zero_point)
    int8 = run_recipe(make(MLP), Recipe.of("int8-weight"))[0].weight
    assert torch.equal(onto_grid(int8, int8.dequantize()).qdata, int8.qdata)
