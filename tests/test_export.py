"""`ratecraft export`: ONNX / TorchScript encoders match the PyTorch latents; clear errors."""

import json
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ratecraft.cli import app
from ratecraft.codecs import available_codecs, get_codec
from ratecraft.codecs.learned.encoder_view import encoder_for
from ratecraft.data.synthetic import simulate_recording
from ratecraft.data.synthetic_table import simulate_table
from ratecraft.errors import BadInputError, MissingExtraError
from ratecraft.export import export_encoder

FAST = {"train": {"epochs": 2, "batch_size": 64}, "hidden": 16}
TOL = 1e-4


@pytest.fixture(scope="module")
def table_models(tmp_path_factory):
    torch.set_num_threads(1)  # the machine's cores are shared
    torch.manual_seed(0)
    table = simulate_table(n_samples=200, seed=3)
    out = {}
    for name in ("adaptive-bottleneck", "vqvae"):
        folder = tmp_path_factory.mktemp(name)
        codec = get_codec(name, FAST).fit(table)
        codec.save(folder)
        out[name] = (folder, codec, table)
    return out


def test_adapter_matches_the_codecs_own_latents(table_models):
    _, codec, table = table_models["adaptive-bottleneck"]
    module, shape = encoder_for(codec, batch=3)
    assert shape == (3, codec.model.n_features)
    z, _ = codec._z_of(table.values)  # the normalized inputs the codec's encoder sees
    with torch.no_grad():
        y = module(torch.from_numpy(z.astype(np.float32)))
    assert np.array_equal(np.rint(y.numpy()).astype(np.int64), codec.latents(table.values))


@pytest.mark.parametrize("name", ["adaptive-bottleneck", "vqvae"])
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_table_codec_parity(table_models, tmp_path, name, fmt):
    folder, _, _ = table_models[name]
    out = tmp_path / f"enc.{fmt}"
    report = export_encoder(folder, fmt, out, tolerance=TOL)
    assert out.is_file() and report.parity_ok and report.rounded_agree
    assert report.max_abs_diff <= TOL
    doc = json.loads((tmp_path / "export.json").read_text())
    assert doc["format"] == fmt and doc["tolerance"] == TOL
    assert doc["input_shape"][1] == table_models[name][1].model.n_features
    if fmt == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        x = np.random.default_rng(1).standard_normal((7, doc["input_shape"][1]))
        assert sess.run(None, {"x": x.astype(np.float32)})[0].shape[0] == 7  # dynamic batch


@pytest.mark.skipif(
    "conv-ae" not in available_codecs(), reason="conv-ae (learned recording codec) not registered"
)
def test_recording_codec_parity(tmp_path):
    rec = simulate_recording(n_channels=4, duration_s=0.2, sample_rate=20000.0, seed=2)[0]
    cfg = {"window": 32, "hidden": 8, "max_windows": 64, "train": {"epochs": 1}}
    codec = get_codec("conv-ae", cfg).fit(rec)
    codec.save(tmp_path / "m")
    for fmt in ("onnx", "torchscript"):
        report = export_encoder(tmp_path / "m", fmt, tmp_path / f"enc.{fmt}", tolerance=TOL)
        assert report.input_shape == [4, 4, 32]
        assert report.parity_ok and report.max_abs_diff <= TOL


def test_missing_onnx_names_the_extra(table_models, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    with pytest.raises(MissingExtraError, match=r"ratecraft\[export\]"):
        export_encoder(table_models["vqvae"][0], "onnx", tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_bad_requests(table_models, tmp_path):
    folder = table_models["vqvae"][0]
    with pytest.raises(BadInputError, match="format"):
        export_encoder(folder, "tflite", tmp_path / "x")
    with pytest.raises(BadInputError, match="tolerance"):
        export_encoder(folder, "torchscript", tmp_path / "x", tolerance=0)
    with pytest.raises(BadInputError, match="does not exist"):
        export_encoder(folder, "torchscript", tmp_path / "nowhere" / "x")
    classical = tmp_path / "wavelet"
    get_codec("wavelet").save(classical)
    with pytest.raises(BadInputError, match="no neural encoder"):
        export_encoder(classical, "torchscript", tmp_path / "x.pt")
    assert not list(tmp_path.glob(".x.pt*"))  # no temporary file left behind


def test_cli_export(table_models, tmp_path):
    folder = table_models["adaptive-bottleneck"][0]
    out = tmp_path / "enc.pt"
    res = CliRunner().invoke(
        app, ["export", "--model", str(folder), "--format", "torchscript", "-o", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["parity_ok"] is True and out.is_file()
    bad = CliRunner().invoke(app, ["export", "--model", str(folder), "--format", "x", "-o", "y"])
    assert bad.exit_code == 2 and "format" in bad.output
