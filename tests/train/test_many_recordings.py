"""Training on several recordings: windows streamed from disk through DataLoader workers, held
out by recording, the CLI's DATA... / --val, and two processes under torchrun training the model
one process trains."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from typer.testing import CliRunner

from ratecraft import api
from ratecraft.cli import app
from ratecraft.codecs import Budget, get_codec
from ratecraft.data.io import write_data
from ratecraft.data.recording_set import RecordingSet, split_by_recording
from ratecraft.data.synthetic import simulate_recording
from ratecraft.errors import BadInputError

runner = CliRunner()
TINY = {"max_windows": 48, "train": {"epochs": 1, "batch_size": 16}}
TINY_SET = ["--set", "max_windows=48", "--set", "train.epochs=1", "--set", "train.batch_size=16"]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three 4-channel recordings of different lengths, as .npz files."""
    folder = tmp_path_factory.mktemp("recs")
    paths = []
    for i, seconds in enumerate((0.5, 0.7, 0.6)):
        rec, _ = simulate_recording(n_channels=4, duration_s=seconds, seed=10 + i)
        paths.append(folder / f"r{i}.npz")
        write_data(rec, paths[-1])
    return paths


def weights(codec: object) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in codec.model.parameters()])  # type: ignore[attr-defined]


def test_workers_read_the_same_batches_as_one_process(recordings: list[Path]) -> None:
    fitted = []
    for workers in (0, 2):
        config = {**TINY, "train": {**TINY["train"], "workers": workers}}
        with RecordingSet([api.open(p) for p in recordings[:2]], [api.open(recordings[2])]) as s:
            fitted.append(get_codec("conv-ae", config).fit(s, Budget(ratio=16)))
    assert torch.equal(weights(fitted[0]), weights(fitted[1]))
    assert fitted[0].fit_report["ratio"] == pytest.approx(16, rel=0.05)


def test_a_set_is_held_out_by_whole_recordings_seeded(recordings: list[Path]) -> None:
    sources = [api.open(p) for p in recordings]
    a = split_by_recording(sources, 0.3, seed=0)
    b = split_by_recording(sources, 0.3, seed=0)
    assert len(a.val) == 1 and len(a.train) == 2
    assert [s.path for s in a.val] == [s.path for s in b.val]
    assert {s.path for s in a.train} | {s.path for s in a.val} == set(recordings)
    assert split_by_recording(sources[:1], 0.3, seed=0).val == []
    a.close()


def test_recordings_that_disagree_are_refused(recordings: list[Path], tmp_path: Path) -> None:
    rec, _ = simulate_recording(n_channels=6, duration_s=0.5, seed=1)
    wide = tmp_path / "wide.npz"
    write_data(rec, wide)
    with pytest.raises(BadInputError, match="6 channels"):
        RecordingSet([api.open(recordings[0]), api.open(wide)])
    result = runner.invoke(app, ["fit", str(recordings[0]), str(wide), "-o", str(tmp_path / "m")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1


def test_cli_fit_takes_a_glob_and_val(recordings: list[Path], tmp_path: Path) -> None:
    folder = recordings[0].parent
    out = tmp_path / "model"
    result = runner.invoke(
        app,
        ["fit", str(folder / "r[01].npz"), "--val", str(recordings[2]), "-o", str(out), "--json",
         "--ratio", "16", *TINY_SET],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["codec"] == "conv-ae" and doc["measured_on"] == "held-out recording"
    assert doc["ratio"] == pytest.approx(16, rel=0.05)
    enc = runner.invoke(app, ["encode", str(recordings[2]), "-o", str(tmp_path / "x.rcz"),
                              "--model", str(out)])  # fmt: skip
    assert enc.exit_code == 0, enc.output


def test_codecs_that_fit_one_recording_say_so(recordings: list[Path], tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["fit", *map(str, recordings), "--codec", "spike-lfp", "-o", str(tmp_path / "m")]
    )
    assert result.exit_code == 2
    assert "spike-lfp fits one recording" in result.output.replace("\n", " ")


def test_tables_are_joined_and_must_share_features(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    a.write_text("x,y\n" + "\n".join(f"{u},{v}" for u, v in rng.normal(size=(30, 2))))
    b.write_text("x,y\n" + "\n".join(f"{u},{v}" for u, v in rng.normal(size=(20, 2))))
    c.write_text("x,z\n1,2\n3,4\n")
    data, codec = api.open_training([a, b])
    assert data.values.shape == (50, 2) and codec == "vqvae"  # type: ignore[union-attr]
    with pytest.raises(BadInputError, match="features differ"):
        api.open_training([a, c])
    with pytest.raises(BadInputError, match="no file matches"):
        api.open_training([tmp_path / "*.nothing"])


def test_torchrun_two_processes_train_the_single_process_model(
    recordings: list[Path], tmp_path: Path
) -> None:
    """Each process takes half of every global batch; gradients are averaged by DDP, so the two
    train one model. Not bit-identical to one process: the spike-window term divides by the
    spike count of the batch it sees, and the quantization noise is drawn per share. Measured
    ~1% relative weight difference after two epochs; the bound here is 5%."""
    args = ["fit", *map(str, recordings[:2]), "--val", str(recordings[2]), *TINY_SET,
            "--set", "train.epochs=2"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = Path(sys.executable).with_name("torchrun")
    two = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "-m", "ratecraft", *args, "-o",
         str(tmp_path / "two"), "--json"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert two.returncode == 0, two.stderr[-2000:]
    assert two.stdout.count('"codec"') == 1  # rank 0 alone reports
    one = runner.invoke(app, [*args, "-o", str(tmp_path / "one"), "--json"])
    assert one.exit_code == 0, one.output
    a = load_file(str(tmp_path / "one" / "weights.safetensors"))
    b = load_file(str(tmp_path / "two" / "weights.safetensors"))
    diff = sum(float(((a[k].astype(float) - b[k].astype(float)) ** 2).sum()) for k in a)
    norm = sum(float((a[k].astype(float) ** 2).sum()) for k in a)
    assert (diff / norm) ** 0.5 < 0.05
    val_one = json.loads(one.stdout)["val_loss"]
    val_two = json.loads(two.stdout)["val_loss"]
    assert val_two == pytest.approx(val_one, rel=0.05)
