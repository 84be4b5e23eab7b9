"""Kill-and-resume: a run killed mid-way loses no finished trial and repeats none."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ratecraft.autopilot.journal import Journal
from ratecraft.autopilot.loop import Autopilot, LoopSettings, execute_episode
from ratecraft.autopilot.proposers import make_proposer
from ratecraft.data.io import write_data

TRIALS = 12
CLI = "from ratecraft.cli import main; main()"


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", CLI, "autopilot", *args]


def _snapshot(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run / "episodes").glob("[0-9]*.json"))}


def test_sigkill_mid_run_then_resume(tiny_recording, tmp_path) -> None:
    data = tmp_path / "rec.npz"
    write_data(tiny_recording, data)
    run = tmp_path / "run"
    args = [
        str(data),
        "-o",
        str(run),
        "--trials",
        str(TRIALS),
        "--proxy-seconds",
        "0.05",
        "--full-seconds",
        "0.2",
        "--no-artifacts",
        "--json",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(_cli(*args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (run / "episodes").is_dir() and len(_snapshot(run)) >= 3:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _snapshot(run)
    assert 3 <= len(before) < TRIALS, "the run must be killed mid-way for this test to mean much"

    done = subprocess.run(
        _cli("--resume", str(run), "--json"), env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    after = _snapshot(run)
    assert len(after) == TRIALS and summary["trials"] == TRIALS
    assert summary["new_trials"] == TRIALS - len(before)
    for name, blob in before.items():  # nothing finished was lost or rewritten
        assert after[name] == blob
    records = [json.loads(b) for b in after.values()]
    assert len({r["trial"] for r in records}) == TRIALS
    assert len({r["session"] for r in records}) == 2
    # the study agrees: every record is a finished trial, at most one unfinished one failed
    import optuna

    study = optuna.load_study(study_name="autopilot", storage=Journal(run).storage())
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    assert states.count("COMPLETE") == TRIALS
    assert states.count("FAIL") <= 1 and states.count("RUNNING") == 0
    assert (run / "front.json").is_file() and (run / "report.md").is_file()
    assert not list((run / "episodes").glob(".*")), "half-written temp files are cleaned up"


def test_recorded_but_untold_trial_is_replayed_not_rerun(codec_problem, tmp_path) -> None:
    reward = codec_problem.default_reward()
    space = codec_problem.default_space().restricted(
        {"methods": ["wavelet"], "shared": {"ratio": {"low": 3, "high": 8}}}
    )
    journal = Journal.create(tmp_path / "run", {"request": {}})
    pilot = Autopilot(
        codec_problem, reward, space, journal, make_proposer("random"), LoopSettings(trials=3)
    )
    trial, strategy, origin = pilot.ask()
    result = execute_episode(codec_problem, reward, strategy, np.zeros((0, 2)), None)
    # what finish() does up to the kill: the record is on disk, Optuna was never told
    record = {
        "trial": trial.number,
        "strategy": strategy,
        "hash": "h",
        "origin": origin,
        "status": "complete",
        "metrics": result["metrics"],
        "fidelity": "full",
        "violations": reward.violations(result["metrics"]),
        "feasible": True,
    }
    journal.write_episode(record)
    del pilot
    resumed = Autopilot(
        codec_problem,
        reward,
        space,
        Journal.open(tmp_path / "run"),
        make_proposer("random"),
        LoopSettings(trials=3),
    )
    t0 = resumed.study.get_trials(deepcopy=False)[0]
    assert t0.state.name == "COMPLETE"
    assert t0.values[0] == result["metrics"]["spike_f1"]
    summary = resumed.run()
    assert summary.new_trials == 2 and len(summary.records) == 3
