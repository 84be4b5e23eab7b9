"""`ratecraft fit`, `diagnose` and `--model`: train a table codec, use it, inspect it."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ratecraft.cli import app
from ratecraft.data.io import read_data, write_data
from ratecraft.data.synthetic import simulate_table

runner = CliRunner()
FAST = "hidden: 16\ntrain:\n  epochs: 3\n  batch_size: 64\n"


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("fit")
    table = root / "t.npz"
    write_data(simulate_table(n_samples=300, seed=2), table)
    cfg = root / "cfg.yaml"
    cfg.write_text(FAST)
    model = root / "model"
    result = run("fit", table, "-o", model, "--codec", "vqvae", "--config", cfg, "--json")
    assert result.exit_code == 0, result.output
    return table, model


def test_fit_writes_a_model_folder(trained):
    _, model = trained
    names = {p.name for p in model.iterdir()}
    assert {"codec.json", "weights.safetensors"} <= names
    assert names <= {"codec.json", "weights.safetensors", "metrics.jsonl", "tensorboard"}
    if "metrics.jsonl" in names:  # one JSON record per epoch
        assert all(json.loads(line)["epoch"] for line in (model / "metrics.jsonl").open())
    assert json.loads((model / "codec.json").read_text())


def test_encode_decode_with_model(trained, tmp_path):
    table, model = trained
    rcz = tmp_path / "t.rcz"
    assert run("encode", table, "-o", rcz, "--model", model).exit_code == 0
    back = tmp_path / "back.npz"
    assert run("decode", rcz, "-o", back, "--model", model).exit_code == 0
    a, b = read_data(table), read_data(back)
    assert a.values.shape == b.values.shape
    was, now = np.isnan(a.values), np.isnan(b.values)
    assert (now[was]).all()  # every missing cell comes back missing
    differs = (was != now).any(axis=0)
    # ...and only a feature dropped for too many NaN (not coded) comes back NaN throughout
    assert differs.sum() == 1 and now[:, differs].all()


def test_decode_without_model_says_what_is_needed(trained, tmp_path):
    table, model = trained
    rcz = tmp_path / "t.rcz"
    run("encode", table, "-o", rcz, "--model", model)
    result = run("decode", rcz, "-o", tmp_path / "x.npz")
    assert result.exit_code == 2
    assert "--model" in result.stderr
    assert not (tmp_path / "x.npz").exists()


def test_diagnose_prints_categories_and_writes_json(trained, tmp_path):
    table, model = trained
    out, png = tmp_path / "diag.json", tmp_path / "diag.png"
    result = run("diagnose", table, "--model", model, "--json", out, "--plot", png)
    assert result.exit_code == 0, result.output
    for family in ("initial", "summary", "temporal"):
        assert family in result.stdout
    assert json.loads(out.read_text())
    assert png.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--codec", "nope"], "unknown codec"),
    ],
)
def test_fit_bad_options(trained, tmp_path, args, words):
    table, _ = trained
    out = tmp_path / "m"
    result = run("fit", table, "-o", out, *args)
    assert result.exit_code == 2
    assert words in result.stderr
    assert not out.exists()


def test_fit_bad_config_leaves_nothing(trained, tmp_path):
    table, _ = trained
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("allocation_strategy: nonsense\n")
    out = tmp_path / "m"
    result = run("fit", table, "-o", out, "--config", cfg)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_learned_codec_needs_fit_first(trained, tmp_path):
    table, _ = trained
    result = run("encode", table, "-o", tmp_path / "x.rcz", "--codec", "vqvae", "--ratio", "8")
    assert result.exit_code == 2
    assert "ratecraft fit" in result.stderr


def test_bench_runs_a_trained_model_as_trained(trained, tmp_path):
    table, model = trained
    out = tmp_path / "bench.json"
    result = run("bench", table, "--codecs", "zstd", "--model", model, "--json", out)
    assert result.exit_code == 0, result.output
    records = {r["codec"]: r for r in json.loads(out.read_text())}
    learned = records["vqvae"]
    assert learned["status"] == "ok" and learned["fit_seconds"] == 0.0
    assert learned["ratio"] > 1 and learned["nmse_mean"] is not None
    assert learned["setting"] == "as trained" and learned["lost_cells"] > 0  # NaN-heavy column
    assert records["zstd"]["status"] == "ok" and records["zstd"]["bit_exact"]
