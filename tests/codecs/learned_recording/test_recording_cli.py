"""`ratecraft fit` on a recording, then encode/decode with --model; --resume errors."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ratecraft.cli import app
from ratecraft.codecs.base import Codec
from ratecraft.data.io import read_data, write_data
from ratecraft.data.synthetic_recording import simulate_recording

runner = CliRunner()
FAST = "window: 64\nhidden: 8\ntrain:\n  epochs: 2\n  batch_size: 16\n"


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_fit_encode_decode_a_recording(tmp_path):
    rec = simulate_recording(n_channels=3, duration_s=1.0, seed=5)[0]
    data = tmp_path / "r.npz"
    write_data(rec, data)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(FAST)
    model = tmp_path / "model"
    args = ("fit", data, "-o", model, "--codec", "conv-ae", "--ratio", "15", "--config", cfg)
    result = run(*args, "--kind", "recording", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert abs(doc["ratio"] / 15 - 1) <= 0.05 and doc["latent_channels"] >= 1
    assert (model / "weights.safetensors").exists() and (model / "metrics.jsonl").exists()
    assert not (tmp_path / ".model.train").exists()
    meta = json.loads((model / "codec.json").read_text())
    assert meta["state"]["layout"]["sample_rate"] == rec.sample_rate and meta["ratecraft_version"]
    out = tmp_path / "r.rcz"
    assert run("encode", data, "-o", out, "--model", model, "--kind", "recording").exit_code == 0
    back = tmp_path / "back.npz"
    assert run("decode", out, "-o", back, "--model", model).exit_code == 0
    decoded = read_data(back, kind="recording")
    own = Codec.load(model).reconstruct(read_data(data, kind="recording"))
    assert np.array_equal(decoded.samples, own.samples)


def test_resume_without_an_interrupted_fit_is_refused(tmp_path):
    rec = simulate_recording(n_channels=2, duration_s=0.5, seed=5)[0]
    data = tmp_path / "r.npz"
    write_data(rec, data)
    result = run("fit", data, "-o", tmp_path / "m", "--codec", "conv-ae", "--resume")
    assert result.exit_code == 2 and "--resume" in result.stderr
