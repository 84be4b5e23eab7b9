"""The onnxrt step: export, ONNX Runtime int8, artifacts, weights back out, MAC counts."""

from __future__ import annotations

import pytest
import torch
from shrink_helpers import CNN, MLP, make, outputs, roundtrip, sqnr_db

pytest.importorskip("onnxruntime", reason="ONNX Runtime comes with the export extra")

from ratecraft.errors import BadInputError
from ratecraft.shrink import Recipe, run_recipe
from ratecraft.shrink.measure import count_macs, parameter_count
from ratecraft.shrink.onnxrt import OrtModule


@pytest.mark.parametrize("quantize", ["none", "dynamic", "static"])
def test_onnxrt_variants_compute_what_the_model_does(cnn_calib, quantize, tmp_path):
    model = make(CNN)
    shrunk = run_recipe(make(CNN), Recipe.of(("onnxrt", {"quantize": quantize})), cnn_calib)
    assert isinstance(shrunk, OrtModule)
    ref, out = outputs(cnn_calib, model), outputs(cnn_calib, shrunk)
    assert out.shape == ref.shape
    assert sqnr_db(ref, out) > (60 if quantize == "none" else 20)
    assert shrunk(torch.randn(5, 1, 8, 8)).shape == (5, 10)  # the batch stays dynamic
    art = roundtrip(shrunk, CNN, tmp_path / "a")  # one self-contained file, fp32 included
    assert torch.equal(outputs(cnn_calib, art.model), out)


def test_int8_artifact_reloads_and_its_weights_come_back_as_floats(cnn_calib, tmp_path):
    model = make(CNN)
    shrunk = run_recipe(make(CNN), Recipe.of("onnxrt"), cnn_calib)
    art = roundtrip(shrunk, CNN, tmp_path / "a", recipe=Recipe.of("onnxrt"))
    assert isinstance(art.model, OrtModule) and (tmp_path / "a" / "model.onnx").is_file()
    assert torch.equal(outputs(cnn_calib, art.model), outputs(cnn_calib, shrunk))
    weights = art.model.float_weights()
    for name, p in model.named_parameters():
        if name.endswith("weight") and p.dim() > 1:
            back = torch.from_numpy(weights[name])
            assert back.shape == p.shape
            assert sqnr_db(p.detach(), back) > 30  # int8 per channel
    norms = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)
                for p in m.parameters())  # fmt: skip
    # the exporter turns eval-mode BatchNorm into constants: every other weight is counted
    assert parameter_count(art.model) == parameter_count(model) - norms


def test_onnxrt_needs_float_weights_and_a_batch(mlp_calib):
    q = run_recipe(make(MLP), Recipe.of("int8-weight"))
    with pytest.raises(BadInputError, match=r"already quantized|float weights"):
        run_recipe(q, Recipe.of("onnxrt"), mlp_calib)
    with pytest.raises(BadInputError, match="needs calibration"):
        run_recipe(make(MLP), Recipe.of("onnxrt"))


def test_mac_counts_follow_the_layer_shapes():
    model = torch.nn.Sequential(
        torch.nn.Conv1d(1, 4, 5, padding=2), torch.nn.Flatten(), torch.nn.Linear(64, 3)
    )
    macs = count_macs(model, torch.randn(2, 1, 16))
    assert macs["macs"] == 2 * (4 * 16 * 5) + 2 * 64 * 3
    with torch.no_grad():
        model[2].weight[:, :32] = 0
    assert count_macs(model, torch.randn(2, 1, 16))["nonzero_macs"] == 2 * 4 * 16 * 5 + 2 * 32 * 3
    lstm = torch.nn.LSTM(8, 16, batch_first=True)
    assert count_macs(lstm, torch.randn(3, 10, 8))["macs"] == 4 * (8 + 16) * 16 * 30
