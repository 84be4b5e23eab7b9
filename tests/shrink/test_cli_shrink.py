"""`ratecraft shrink`: artifacts and trained codec folders in, a measured artifact out."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from shrink_helpers import MLP, make, roundtrip
from typer.testing import CliRunner

from ratecraft.cli import app
from ratecraft.codecs import Budget, get_codec
from ratecraft.data.io import write_data
from ratecraft.data.synthetic_table import simulate_table
from ratecraft.shrink import Recipe, load_artifact

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


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


def test_shrink_an_artifact(artifact):
    out = artifact / "small"
    result = run("shrink", artifact / "base", "--recipe", artifact / "r.yaml", "-o", out,
                 "--calib", artifact / "calib.npz", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["parameters"] < doc["parameters_before"]
    assert doc["steps"] == ["prune-structured", "int8-weight"]
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
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (artifact / "out").exists()


def test_shrink_a_codec_encoder(tmp_path):
    table = simulate_table(n_samples=200, seed=4)
    codec = get_codec("adaptive-bottleneck", {"hidden": 16, "train": {"epochs": 2}})
    codec.fit(table, Budget(ratio=8))
    codec.save(tmp_path / "codec")
    write_data(table, tmp_path / "t.npz")
    (tmp_path / "r.yaml").write_text(Recipe.of("int8-weight").to_yaml())
    result = run("shrink", tmp_path / "codec", "--recipe", tmp_path / "r.yaml",
                 "-o", tmp_path / "enc", "--calib", tmp_path / "t.npz", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    art = load_artifact(tmp_path / "enc")
    assert art.spec["builder"] == "codec-encoder"
    z = torch.from_numpy(codec._z_of(table.values)[0].astype(np.float32))
    with torch.no_grad():
        ref = torch.cat(codec.model.encode(z), dim=1)
        out = art.model(z)
    assert out.shape == ref.shape
    assert float((out - ref).abs().max()) < 0.1 * float(ref.abs().max())
