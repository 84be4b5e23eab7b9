"""Distillation: KD loss properties, derived students, and a tiny run whose loss decreases."""

from __future__ import annotations

import pytest
import torch
from shrink_helpers import MLP, TX, make, outputs, roundtrip

from ratecraft.errors import BadInputError
from ratecraft.shrink import get_step
from ratecraft.shrink.distill import DistillConfig, derive_student, distill_train, kd_loss
from ratecraft.shrink.measure import parameter_count
from ratecraft.shrink.steps import frozen_copy


def test_kd_loss_is_zero_for_equal_logits_and_positive_otherwise():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(16, 10, generator=g), torch.randn(16, 10, generator=g)
    assert float(kd_loss(a, a, 4.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(kd_loss(a, b, 4.0)) > 0
    assert float(kd_loss(a, b, 1.0, kind="features")) == pytest.approx(float((a - b).pow(2).mean()))
    seq = torch.randn(2, 5, 10, generator=g)
    assert kd_loss(seq, seq + 1.0, 2.0).shape == ()  # a constant shift changes no probability


def test_kd_loss_decreases_in_a_tiny_run(mlp_calib):
    teacher = frozen_copy(make(MLP))
    cfg = DistillConfig(width=0.5, epochs=8, lr=3e-3, alpha=1.0)  # pure KD
    student = derive_student(teacher, cfg, mlp_calib)
    history = distill_train(student, teacher, mlp_calib, cfg)
    assert len(history) == 8
    assert history[-1] < 0.8 * history[0]


def test_student_has_fewer_layers(tmp_path, tx_calib):
    teacher = make(TX)
    cfg = DistillConfig(drop_layers=[1], epochs=1)
    student = derive_student(teacher, cfg, tx_calib)
    assert len(student.layers) == 2 and len(teacher.layers) == 3
    model = get_step("distill")(teacher, {"drop_layers": [0, 2], "epochs": 1}, tx_calib)
    assert len(model.layers) == 1
    assert parameter_count(model) < parameter_count(teacher)
    art = roundtrip(model, TX, tmp_path / "student")
    assert len(art.model.layers) == 1
    assert torch.equal(outputs(tx_calib, art.model), outputs(tx_calib, model))


def test_progressive_stages_reach_the_target_width(mlp_calib):
    model = get_step("distill")(
        make(MLP), {"width": 0.5, "stages": 2, "epochs": 1, "teacher_assistant": True}, mlp_calib
    )
    assert model[0].out_features == 48
    assert outputs(mlp_calib, model).shape == (64, 10)


def test_bad_layer_drops_are_refused(tx_calib):
    with pytest.raises(BadInputError, match="drop_layers"):
        get_step("distill")(make(TX), {"drop_layers": [0, 1, 2]}, tx_calib)
    with pytest.raises(BadInputError, match="drop_layers"):
        get_step("distill")(make(TX), {"drop_layers": [7]}, tx_calib)
