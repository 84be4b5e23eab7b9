"""`ratecraft shrink` through the real entry point: artifacts, every learned codec, refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from shrink_helpers import MLP, make, roundtrip
from typer.testing import CliRunner

from ratecraft.cli import app
from ratecraft.codecs import Budget, get_codec
from ratecraft.codecs.base import Codec
from ratecraft.data.io import read_data, write_data
from ratecraft.data.synthetic_recording import simulate_recording
from ratecraft.data.synthetic_table import simulate_table
from ratecraft.shrink import Recipe, load_artifact
from ratecraft.shrink.codec import codec_quality_db

runner = CliRunner()
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "v1"
TABLE_CODECS = ("adaptive-bottleneck", "grouped-vae", "vqvae")


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture
def artifact(tmp_path):
    roundtrip(make(MLP), MLP, tmp_path / "base", recipe=Recipe.of())
    g = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", x=g.standard_normal((64, 64)).astype(np.float32),
             y=g.integers(0, 10, 64))  # fmt: skip
    (tmp_path / "r.yaml").write_text(
        Recipe.of(("prune-structured", {"ratio": 0.5}), "int8-weight").to_yaml()
    )
    return tmp_path


def test_shrink_an_artifact_reports_quality(artifact):
    out = artifact / "small"
    result = run("shrink", artifact / "base", "--recipe", artifact / "r.yaml", "-o", out,
                 "--calib", artifact / "calib.npz", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["parameters"] < doc["parameters_before"]
    assert doc["steps"] == ["prune-structured", "int8-weight"]
    assert 0.0 <= doc["accuracy"] <= 1.0 and "accuracy_before" in doc
    art = load_artifact(out)
    assert art.recipe_hash == doc["recipe_hash"]
    assert art.model(torch.randn(2, 64)).shape == (2, 10)


@pytest.mark.parametrize(
    ("change", "message"),
    [({"recipe": "missing.yaml"}, "cannot read"), ({"model": "calib.npz"}, "not a shrink"),
     ({"budget": "0.001"}, "MiB"), ({"calib": None}, "needs calibration")],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line(artifact, change, message):
    args = ["shrink", change.get("model", "base"), "--recipe", change.get("recipe", "r.yaml"),
            "-o", "out"]  # fmt: skip
    args = [str(artifact / a) if i in (1, 3, 5) else a for i, a in enumerate(args)]
    if change.get("calib", "calib.npz"):
        args += ["--calib", str(artifact / change.get("calib", "calib.npz"))]
    if "budget" in change:
        args += ["--memory-budget-mb", change["budget"]]
    assert message in one_line_error(runner.invoke(app, args))
    assert not (artifact / "out").exists()


@pytest.mark.parametrize(
    ("steps", "message"),
    [(["int4-weight", "int8-weight"], "already quantized"),
     (["int8-weight", "prune-magnitude"], "prune before quantizing"),
     ([("onnxrt", {"quantize": "dynamic"}), "int8-weight"], "must be last")],
)  # fmt: skip
def test_steps_that_cannot_stack_refuse_with_one_line(artifact, steps, message):
    (artifact / "bad.yaml").write_text(Recipe.of(*steps).to_yaml())
    result = runner.invoke(app, ["shrink", str(artifact / "base"), "--recipe",
                                 str(artifact / "bad.yaml"), "-o", str(artifact / "out"),
                                 "--calib", str(artifact / "calib.npz")])  # fmt: skip
    assert message in one_line_error(result)
    assert not (artifact / "out").exists()


def test_a_recipe_extends_a_saved_artifact_and_stacking_is_checked_on_it(artifact):
    (artifact / "int4.yaml").write_text(Recipe.of("int4-weight").to_yaml())
    (artifact / "int8.yaml").write_text(Recipe.of("int8-weight").to_yaml())
    first = run("shrink", artifact / "base", "--recipe", artifact / "int4.yaml",
                "-o", artifact / "q4")  # fmt: skip
    assert first.exit_code == 0, first.output
    args = ["shrink", artifact / "q4", "--recipe", artifact / "int8.yaml", "-o", artifact / "q48"]
    again = runner.invoke(app, [str(a) for a in args])
    assert "already quantized" in one_line_error(again)


# ---- every learned codec: shrink, then encode and decode with the shrunk folder ----------------

GOLDEN_RECIPES = {
    "adaptive-bottleneck": ["int8-weight"],
    "grouped-vae": ["int8-weight"],
    "vqvae": ["int8-weight"],
    "conv-ae": [("onnxrt", {"quantize": "static"})],  # Conv1d only: ONNX Runtime int8
    "vae": [("onnxrt", {"quantize": "static"})],
    "lstm-ae": ["int8-weight"],  # LSTM + Linear
    "transformer": ["int8-weight"],  # attention
    "spatial": [("prune-magnitude", {"conv": True})],
}


@pytest.fixture(scope="module")
def golden_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("golden-data")
    rec = simulate_recording(n_channels=4, duration_s=0.2, sample_rate=30000, seed=3)[0]
    write_data(rec, folder / "rec.npz")
    write_data(simulate_table(n_samples=128, seed=3), folder / "table.npz")
    return folder


@pytest.mark.parametrize("name", sorted(GOLDEN_RECIPES))
def test_every_learned_codec_shrinks_into_a_folder_that_encodes_and_decodes(
    tmp_path, golden_data, name
):
    model = tmp_path / "model"
    shutil.copytree(GOLDEN / f"{name}.model", model)
    kind = "table" if name in TABLE_CODECS else "recording"
    data = golden_data / ("table.npz" if kind == "table" else "rec.npz")
    (tmp_path / "r.yaml").write_text(Recipe.of(*GOLDEN_RECIPES[name]).to_yaml())
    out = tmp_path / "shrunk"
    result = run("shrink", model, "--recipe", tmp_path / "r.yaml", "-o", out, "--calib", data,
                 "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["codec"] == name and doc["weights_folded"] > 0
    assert doc["quality_change_db"] == pytest.approx(
        doc["quality_after_db"] - doc["quality_before_db"]
    )
    card = json.loads((out / "codec.json").read_text())["fit_report"]["shrink"]
    assert card["recipe_hash"] == doc["recipe_hash"] == Recipe.of(*GOLDEN_RECIPES[name]).hash()
    assert (out / "encoder" / "shrink.json").is_file()
    rcz = tmp_path / "x.rcz"
    enc = run("encode", data, "-o", rcz, "--model", out, "--kind", kind)
    assert enc.exit_code == 0, enc.output
    back = tmp_path / "back.npz"
    dec = run("decode", rcz, "-o", back, "--model", out)
    assert dec.exit_code == 0, dec.output
    decoded = read_data(back, kind=kind)
    own = Codec.load(out).reconstruct(read_data(data, kind=kind))
    field = "values" if kind == "table" else "samples"
    assert np.array_equal(getattr(decoded, field), getattr(own, field), equal_nan=True)


def test_shrunk_codec_measures_its_quality_change_on_held_out_data(tmp_path):
    table, held = simulate_table(n_samples=300, seed=4), simulate_table(n_samples=200, seed=5)
    # no refinement layer: its residual coding would hold the quality and spend bytes instead
    codec = get_codec(
        "adaptive-bottleneck", {"hidden": 16, "train": {"epochs": 3}, "residual": False}
    )
    codec.fit(table, Budget(ratio=8))
    codec.save(tmp_path / "codec")
    write_data(table, tmp_path / "t.npz")
    write_data(held, tmp_path / "h.npz")
    (tmp_path / "r.yaml").write_text(Recipe.of(("prune-magnitude", {"sparsity": 0.7})).to_yaml())
    result = run("shrink", tmp_path / "codec", "--recipe", tmp_path / "r.yaml",
                 "-o", tmp_path / "out", "--calib", tmp_path / "t.npz", "--eval",
                 tmp_path / "h.npz", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["measured_on"] == "evaluation data"
    # 70% of the encoder's weights gone moves its latents; the card measures what that does to
    # the codec (a 3-epoch model's quality may move either way, so only the figures are checked)
    assert doc["encoder_latent_snr_db"] < 30
    change = doc["quality_after_db"] - doc["quality_before_db"]
    assert doc["quality_change_db"] == pytest.approx(change)
    assert doc["quality_after_db"] == pytest.approx(
        codec_quality_db(Codec.load(tmp_path / "out"), held)
    )
    assert doc["bits_per_value"] > 0 and doc["bits_per_value_before"] > 0
    shrunk = Codec.load(tmp_path / "out")
    enc = shrunk.model.encoders[0]
    first = next(m for m in enc.modules() if isinstance(m, torch.nn.Linear))
    assert float((first.weight == 0).float().mean()) == pytest.approx(0.7, abs=0.02)
    assert shrunk.model_sha256() != codec.model_sha256()


def test_shape_changing_steps_cannot_go_into_a_codec_folder(tmp_path, golden_data):
    shutil.copytree(GOLDEN / "adaptive-bottleneck.model", tmp_path / "m")
    (tmp_path / "r.yaml").write_text(Recipe.of(("prune-structured", {"ratio": 0.5})).to_yaml())
    result = runner.invoke(app, ["shrink", str(tmp_path / "m"), "--recipe",
                                 str(tmp_path / "r.yaml"), "-o", str(tmp_path / "out"),
                                 "--calib", str(golden_data / "table.npz")])  # fmt: skip
    assert "cannot go into it" in one_line_error(result)
    assert not (tmp_path / "out").exists()
