"""torchao and optimum-quanto steps: shapes, quality (SQNR), real size reduction, exact reload."""

from __future__ import annotations

import pytest
import torch
from shrink_helpers import CNN, MLP, make, outputs, roundtrip, sqnr_db

from ratecraft.errors import BadInputError
from ratecraft.shrink import Recipe, get_step, run_recipe
from ratecraft.shrink.measure import artifact_bytes, bits_per_weight

# step, config, minimum SQNR (dB) of the outputs, maximum size relative to fp32
CASES = [
    ("int8-weight", {}, 30.0, 0.33),
    ("int8-dynamic", {}, 25.0, 0.34),
    ("int4-weight", {}, 14.0, 0.24),
    ("int2-weight", {}, 2.0, 0.17),
    ("intx-weight", {"bits": 3, "group_size": 16, "mapping": "asymmetric"}, 8.0, 0.27),
    ("quanto", {}, 30.0, 0.33),
    ("quanto", {"weights": "qint4"}, 14.0, 0.24),
]


@pytest.fixture
def fp32_bytes(tmp_path):
    roundtrip(make(MLP), MLP, tmp_path / "fp32")
    return artifact_bytes(tmp_path / "fp32")


@pytest.mark.parametrize(("step", "config", "min_sqnr", "max_size"), CASES)
def test_quantize_step(tmp_path, mlp_calib, fp32_bytes, step, config, min_sqnr, max_size):
    model = make(MLP)
    ref = outputs(mlp_calib, model)
    model = get_step(step)(model, config, mlp_calib)
    out = outputs(mlp_calib, model)
    assert out.shape == ref.shape
    assert sqnr_db(ref, out) > min_sqnr
    art = roundtrip(model, MLP, tmp_path / "q", recipe=Recipe.of((step, config)))
    assert torch.equal(outputs(mlp_calib, art.model), out)
    size = artifact_bytes(tmp_path / "q")
    assert size < max_size * fp32_bytes
    assert bits_per_weight(tmp_path / "q", art.model) < 32 * max_size


def test_fewer_bits_give_smaller_files(tmp_path):
    sizes = []
    for bits in (8, 4, 2):
        model = get_step("intx-weight")(make(MLP), {"bits": bits})
        roundtrip(model, MLP, tmp_path / f"b{bits}")
        sizes.append(artifact_bytes(tmp_path / f"b{bits}"))
    assert sizes[0] > sizes[1] > sizes[2]


def test_quanto_covers_convolutions(tmp_path, cnn_calib):
    model = make(CNN)
    ref = outputs(cnn_calib, model)
    model = get_step("quanto")(model, {"activations": "qint8"}, cnn_calib)
    assert "QConv2d" in type(model[0]).__name__
    out = outputs(cnn_calib, model)
    assert sqnr_db(ref, out) > 15
    art = roundtrip(model, CNN, tmp_path / "cnn")
    assert torch.equal(outputs(cnn_calib, art.model), out)


def test_skip_and_group_size_keep_layers_float():
    model = get_step("int8-weight")(make(MLP), {"skip": ["4"]})
    assert type(model[4].weight) is torch.nn.Parameter
    model = get_step("intx-weight")(make({"builder": "mlp", "sizes": [48, 64, 10]}), {})
    assert type(model[0].weight) is torch.nn.Parameter  # 48 inputs: not whole groups of 32
    assert type(model[2].weight).__name__ == "IntxUnpackedToInt8Tensor"


def test_nothing_to_quantize_is_bad_input():
    with pytest.raises(BadInputError, match=r"no nn\.Linear"):
        get_step("int8-weight")(make(MLP), {"skip": ["*"]})


def test_quantized_then_pruned_is_refused(mlp_calib):
    with pytest.raises(BadInputError, match="prune before quantizing"):
        run_recipe(make(MLP), Recipe.of("int8-weight", "prune-magnitude"), mlp_calib)


@pytest.mark.parametrize("scope", ["rest", "all"])
def test_round_fp16_halves_what_is_float_and_reloads_exactly(tmp_path, mlp_calib, scope):
    dense = make(MLP)
    roundtrip(dense, MLP, tmp_path / "fp32")
    model = run_recipe(make(MLP), Recipe.of("int8-weight", ("round-fp16", {"scope": scope})))
    scale = model[0].weight.scale
    assert torch.equal(scale, scale.half().float())
    assert torch.equal(model[0].bias, model[0].bias.half().float())
    art = roundtrip(model, MLP, tmp_path / "q")
    assert torch.equal(outputs(mlp_calib, art.model), outputs(mlp_calib, model))
    half = get_step("round-fp16")(make(MLP), {"scope": "all"})
    roundtrip(half, MLP, tmp_path / "half")
    assert artifact_bytes(tmp_path / "half") < 0.55 * artifact_bytes(tmp_path / "fp32")
    assert sqnr_db(outputs(mlp_calib, dense), outputs(mlp_calib, half)) > 50
