"""``ratecraft autopilot``: a short run end to end and one-line errors for bad input."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from ratecraft.cli import app
from ratecraft.data.io import write_data

runner = CliRunner()


@pytest.fixture
def rec_file(tiny_recording, tmp_path):
    path = tmp_path / "rec.npz"
    write_data(tiny_recording, path)
    return path


def test_short_run_writes_front_report_plot_and_artifacts(rec_file, tmp_path) -> None:
    run = tmp_path / "run"
    space = tmp_path / "space.yaml"
    space.write_text("methods: [wavelet]\nshared: {ratio: {low: 3, high: 10}}\n")
    result = runner.invoke(
        app,
        [
            "autopilot",
            str(rec_file),
            "-o",
            str(run),
            "--trials",
            "4",
            "--proxy-seconds",
            "0.05",
            "--full-seconds",
            "0.2",
            "--objective",
            "spike_f1:max",
            "--objective",
            "ratio:max",
            "--constraint",
            "spike_f1>=0.8",
            "--space",
            str(space),
            "--proposer",
            "random",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["trials"] == 4 and doc["stop_reason"] == "trial budget"
    front = json.loads((run / "front.json").read_text())
    assert front["constraints"] == ["spike_f1>=0.8"]
    assert all(m["metrics"]["spike_f1"] >= 0.8 for m in front["front"])
    assert all(m["strategy"]["method"] == "wavelet" for m in front["front"])
    assert (run / "pareto.png").stat().st_size > 1000
    assert "## Pareto front" in (run / "report.md").read_text()
    if front["front"]:
        assert (run / "best" / "balanced").is_dir()
    stored = json.loads((run / "run.json").read_text())
    assert stored["request"]["proposer"] == "random" and stored["spec"]["channels"] == 4
    # every episode is in the run's own MLflow store, and no MLflow setting leaks out of it
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{run / 'mlflow.db'}")
    (tracked,) = client.search_runs(
        [client.get_experiment_by_name("ratecraft-autopilot").experiment_id]
    )
    assert len(client.get_metric_history(tracked.info.run_id, "hypervolume")) == 4
    assert tracked.data.params["proposer"] == "random"
    assert "MLFLOW_TRACKING_URI" not in os.environ
    # resuming a finished run with a larger budget runs only the new trials
    more = runner.invoke(app, ["autopilot", "--resume", str(run), "--trials", "5", "--json"])
    assert more.exit_code == 0, more.output
    assert json.loads(more.stdout)["new_trials"] == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["autopilot"], "give TARGET"),
        (["autopilot", "nope.npz", "-o", "RUN"], "no such file"),
        (["autopilot", "REC", "-o", "RUN", "--proposer", "magic"], "unknown proposer"),
        (["autopilot", "REC", "-o", "RUN", "--objective", "spike_f1:up"], "direction"),
        (["autopilot", "REC", "-o", "RUN", "--constraint", "f1=>2"], "constraint"),
        (["autopilot", "REC", "-o", "RUN", "--backend", "slurm"], "unknown backend"),
        (["autopilot", "--resume", "RUN"], "not an autopilot run folder"),
        (["autopilot", "REC", "-o", "RUN", "--trials", "0"], "--trials"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(rec_file, tmp_path, args, message) -> None:
    run = tmp_path / "RUN"
    if args[-1] == "RUN" and "--resume" in args:
        run.mkdir()
    argv = [str(rec_file) if a == "REC" else str(run) if a == "RUN" else a for a in args]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    if "--resume" not in args:
        assert not run.exists(), "a failed command leaves no run folder behind"
