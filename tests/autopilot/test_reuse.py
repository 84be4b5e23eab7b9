"""Autopilot results a user can reuse: whole-input artifacts that replay with one command,
lossless codecs in the space, strict options, no leftovers from a failed run, preset picks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ratecraft.autopilot.objectives import Objective, Reward
from ratecraft.autopilot.problems import CodecProblem
from ratecraft.autopilot.report import best_per_preset
from ratecraft.cli import app
from ratecraft.data.io import write_data

runner = CliRunner()
PROXY = ["--proxy-seconds", "0.05", "--full-seconds", "0.2"]


@pytest.fixture
def rec_file(tiny_recording, tmp_path):
    path = tmp_path / "rec.npz"
    write_data(tiny_recording, path)
    return path


def _artifact_folder(folder: Path) -> Path:
    """The folder a preset's artifact is in (presets that picked the same trial share one)."""
    if (folder / "same_as.json").is_file():
        return Path(json.loads((folder / "same_as.json").read_text())["preset_folder"])
    return folder


def _run(rec_file, run, *extra: str):
    return runner.invoke(
        app, ["autopilot", str(rec_file), "-o", str(run), *PROXY, "--json", *extra]
    )


def test_front_artifact_is_the_whole_input_and_replays_byte_for_byte(
    rec_file, tiny_recording, tmp_path
) -> None:
    run = tmp_path / "run"
    space = tmp_path / "space.yaml"
    space.write_text("methods: [quant]\nshared: {ratio: {low: 3, high: 6}}\n")
    result = _run(rec_file, run, "--trials", "3", "--proposer", "random", "--space", str(space))
    assert result.exit_code == 0, result.output
    folder = _artifact_folder(run / "best" / "balanced")
    strategy = json.loads((folder / "strategy.json").read_text())
    assert strategy["kind"] == "ratecraft-strategy" and strategy["codec"] == "quant"
    # the artifact holds the whole recording, not the 0.2-s evaluation window
    info = runner.invoke(app, ["info", str(folder / "stream.rcz"), "--json"])
    assert info.exit_code == 0, info.output
    assert json.loads(info.stdout)["shape"] == list(tiny_recording.samples.shape)
    replay = tmp_path / "replay.rcz"
    out = runner.invoke(
        app,
        ["encode", str(rec_file), "--config", str(folder / "strategy.json"), "-o", str(replay)],
    )
    assert out.exit_code == 0, out.output
    assert replay.read_bytes() == (folder / "stream.rcz").read_bytes()
    report = (run / "report.md").read_text()
    assert "whole input" in report
    # a strategy file names its codec and budget: a second budget is refused in one line
    clash = runner.invoke(
        app,
        [
            "encode",
            str(rec_file),
            "--config",
            str(folder / "strategy.json"),
            "--ratio",
            "9",
            "-o",
            str(tmp_path / "x.rcz"),
        ],
    )
    assert clash.exit_code == 2 and "strategy file" in clash.stderr


def test_lossless_codecs_are_in_the_space_and_score_as_exact(tiny_recording) -> None:
    problem = CodecProblem(tiny_recording, proxy_seconds=0.05, full_seconds=0.2)
    space = problem.default_space()
    assert "predictive" in space.methods and "ratio" not in space.methods["predictive"]
    assert all("ratio" in space.methods[m] for m in ("quant", "wavelet"))
    strategy = {"method": "predictive", "params": {"level": "fast", "neighbours": True}}
    metrics = problem.evaluate(space.validate(strategy), "proxy")
    assert metrics["max_abs_error"] == 0 and metrics["ratio"] > 1
    assert set(metrics) <= problem.metric_names()
    reward = problem.default_reward()
    assert reward.feasible(metrics)
    quality = reward.objectives[0]
    assert quality.normalized(metrics[quality.name]) == 0.0  # exact: the best there is
    assert Objective("sndr_db", "max", 40, 0).normalized(math.inf) == 0.0


def test_unknown_objective_or_constraint_is_refused_in_one_line(rec_file, tmp_path) -> None:
    for args in (["--objective", "foo:max"], ["--constraint", "spike_f2>=0.9"]):
        run = tmp_path / "run"
        result = _run(rec_file, run, *args)
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "not a metric of the codec problem" in lines[0]
        assert not run.exists()


def test_resume_refuses_changed_options_and_accepts_the_same(rec_file, tmp_path) -> None:
    run = tmp_path / "run"
    space = tmp_path / "space.yaml"
    space.write_text("methods: [quant]\n")
    first = _run(rec_file, run, "--trials", "2", "--space", str(space), "--no-artifacts")
    assert first.exit_code == 0, first.output
    resume = ["autopilot", "--resume", str(run), "--json"]
    changed = runner.invoke(app, [*resume, "--trials", "3", "--proposer", "random"])
    assert changed.exit_code == 2
    assert "--proposer 'random' differs from the run's 'tpe'" in changed.stderr
    assert len(json.loads((run / "front.json").read_text())["front"]) >= 0
    same = runner.invoke(app, [*resume, "--trials", "3", "--proposer", "tpe"])
    assert same.exit_code == 0, same.output
    assert json.loads(same.stdout)["new_trials"] == 1


def test_a_run_that_fails_before_its_first_trial_leaves_nothing(
    rec_file, tmp_path, monkeypatch
) -> None:
    from ratecraft.autopilot import ray_backend
    from ratecraft.errors import RatecraftError

    def no_ray(*args, **kwargs):
        raise RatecraftError("cannot start Ray here")

    monkeypatch.setattr(ray_backend.RayBackend, "__init__", no_ray)
    run = tmp_path / "run"
    failed = _run(rec_file, run, "--trials", "2", "--backend", "ray")
    assert failed.exit_code != 0 and "cannot start Ray" in failed.stderr
    assert not run.exists()
    monkeypatch.undo()
    again = _run(rec_file, run, "--trials", "1", "--no-artifacts")  # the rerun is not refused
    assert again.exit_code == 0, again.output


_OBJECTIVES = [
    Objective("accuracy", "max", 1.0, 0.5, False, "quality"),
    Objective("size_bytes", "min", 1e3, 1e6, True, "size"),
    Objective("latency_ms", "min", 0.1, 100.0, True, "latency"),
]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.5, 1.0), st.floats(1e3, 1e6), st.floats(0.1, 100.0)),
        min_size=1,
        max_size=8,
    )
)
def test_each_preset_picks_the_front_member_best_for_it(points) -> None:
    reward = Reward(list(_OBJECTIVES))
    front = [
        {"trial": i, "metrics": {"accuracy": a, "size_bytes": s, "latency_ms": t}}
        for i, (a, s, t) in enumerate(points)
    ]
    picks = best_per_preset(reward, front)
    sizes = [r["metrics"]["size_bytes"] for r in front]
    assert np.isclose(picks["size"]["metrics"]["size_bytes"], min(sizes), rtol=1e-9)
    accs = [r["metrics"]["accuracy"] for r in front]
    assert np.isclose(picks["accuracy"]["metrics"]["accuracy"], max(accs), rtol=1e-9)
    lats = [r["metrics"]["latency_ms"] for r in front]
    assert np.isclose(picks["latency"]["metrics"]["latency_ms"], min(lats), rtol=1e-9)
    best = max(reward.score(r["metrics"], "balanced") for r in front)
    assert reward.score(picks["balanced"]["metrics"], "balanced") == best


def test_shrink_strategy_replays_with_one_command(tmp_path) -> None:
    run = tmp_path / "run"
    space = tmp_path / "space.yaml"
    space.write_text("methods: [quantize]\nshared: {quant: {choices: [int8-weight]}}\n")
    result = runner.invoke(
        app,
        ["autopilot", "digits-cnn", "-o", str(run), "--trials", "1", "--space", str(space),
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = _artifact_folder(run / "best" / "size")
    out = tmp_path / "replayed"
    best = run / "best"
    replay = runner.invoke(
        app,
        ["shrink", str(best / "base-model"), "--recipe", str(folder / "recipe.json"), "--calib",
         str(best / "calibration.npz"), "--seed", "0", "-o", str(out), "--json"],
    )  # fmt: skip
    assert replay.exit_code == 0, replay.output
    weights = "model.safetensors"  # the same tensors; shrink.json records the replay's source
    assert (out / weights).read_bytes() == (folder / "model" / weights).read_bytes()


def test_lossless_joins_the_front_from_the_command_line(rec_file, tmp_path) -> None:
    run = tmp_path / "run"
    space = tmp_path / "space.yaml"
    space.write_text("methods: [predictive]\n")
    result = _run(rec_file, run, "--trials", "2", "--space", str(space), "--proposer", "random")
    assert result.exit_code == 0, result.output
    front = json.loads((run / "front.json").read_text())["front"]
    assert front and all(m["strategy"]["method"] == "predictive" for m in front)
    assert all(m["metrics"]["max_abs_error"] == 0 for m in front)
    folder = _artifact_folder(run / "best" / "balanced")
    plan = json.loads((folder / "strategy.json").read_text())
    assert plan["budget"] == {"lossless": True}
