"""Batch encode of many files or parts: one container per task, a manifest that resumes, on
this machine and on a local Ray; a SIGKILLed run resumed repeats nothing that finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ratecraft import api
from ratecraft.batch import MANIFEST, BatchSettings, run_batch
from ratecraft.cli import app
from ratecraft.data.io import write_data
from ratecraft.data.synthetic import simulate_recording
from ratecraft.errors import BadInputError

runner = CliRunner()
RATECRAFT = Path(sys.executable).with_name("ratecraft")


def recordings(folder: Path, n: int, seconds: float = 0.5, channels: int = 4) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        rec, _ = simulate_recording(n_channels=channels, duration_s=seconds, seed=i)
        out.append(folder / f"rec{i}.npz")
        write_data(rec, out[-1])
    return out


def stamps(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("*.rcz")}


def test_batch_is_lossless_and_a_rerun_skips_what_is_done(tmp_path: Path) -> None:
    inputs = recordings(tmp_path / "in", 3)
    out = tmp_path / "out"
    first = run_batch(inputs, out, BatchSettings(lossless=True))
    assert (first["tasks"], first["encoded"], first["skipped"]) == (3, 3, 0)
    for p in inputs:
        np.testing.assert_array_equal(api.decode(out / f"{p.stem}.rcz").samples,
                                      api.load(p).samples)  # fmt: skip
    before = stamps(out)
    (out / "rec1.rcz").unlink()  # lost: done again; the others are checked and kept
    again = run_batch(inputs, out, BatchSettings(lossless=True))
    assert (again["encoded"], again["skipped"]) == (1, 2)
    after = stamps(out)
    assert {k: v for k, v in after.items() if k != "rec1.rcz"} == {
        k: v for k, v in before.items() if k != "rec1.rcz"
    }


def test_parts_of_a_long_recording_join_to_it(tmp_path: Path) -> None:
    (path,) = recordings(tmp_path / "in", 1, seconds=1.0)
    out = tmp_path / "parts"
    summary = run_batch([path], out, BatchSettings(lossless=True, part_seconds=0.3))
    assert summary["tasks"] == 4
    parts = [api.decode(p).samples for p in sorted(out.glob("*.rcz"))]
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), api.load(path).samples)


def test_changed_settings_a_tampered_container_and_clashing_names(tmp_path: Path) -> None:
    inputs = recordings(tmp_path / "in", 2)
    out = tmp_path / "out"
    run_batch(inputs, out, BatchSettings(lossless=True))
    with pytest.raises(BadInputError, match="other settings"):
        run_batch(inputs, out, BatchSettings(ratio=8))
    blob = bytearray((out / "rec0.rcz").read_bytes())
    blob[len(blob) // 2] ^= 1
    (out / "rec0.rcz").write_bytes(bytes(blob))
    assert run_batch(inputs, out, BatchSettings(lossless=True))["encoded"] == 1
    other = tmp_path / "other"
    other.mkdir()
    clash = other / "rec0.wav"
    write_data(api.load(inputs[0]), clash)
    with pytest.raises(BadInputError, match="would both write"):
        run_batch([inputs[0], clash], tmp_path / "o2", BatchSettings(lossless=True))


def test_cli_batch_of_a_folder(tmp_path: Path) -> None:
    recordings(tmp_path / "in", 2)
    result = runner.invoke(app, ["encode", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["encoded"] == 2
    bad = runner.invoke(app, ["encode", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                              "--ratio", "8"])  # fmt: skip
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1


def _wait_for(path: Path, done: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.is_file():
            try:
                if len(json.loads(path.read_text())["done"]) >= done:
                    return
            except (ValueError, KeyError):
                pass
        if proc.poll() is not None:
            pytest.fail(f"the batch ended before it could be killed: {proc.returncode}")
        time.sleep(0.02)
    pytest.fail(f"no {done} finished containers within {timeout} s")


def test_ray_batch_killed_and_resumed_repeats_nothing(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="the distributed extra (ray) is not installed")
    inputs = recordings(tmp_path / "in", 10, seconds=4.0, channels=16)  # ~0.5 s a task
    out = tmp_path / "out"
    args = [str(RATECRAFT), "encode", str(tmp_path / "in"), "-o", str(out), "--backend", "ray",
            "--json"]  # fmt: skip
    env = {**os.environ, "RAY_DEDUP_LOGS": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.Popen(args, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait_for(out / MANIFEST, 2, proc, timeout=300)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray it started
        proc.wait()
    finished = json.loads((out / MANIFEST).read_text())["done"]
    names = {Path(p).name for p in finished}
    kept = {name: stamp for name, stamp in stamps(out).items() if name in names}
    assert 2 <= len(kept) < len(inputs)
    resumed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout)
    assert summary["skipped"] >= len(kept)
    assert summary["skipped"] + summary["encoded"] == len(inputs)
    now = stamps(out)
    assert all(now[name] == stamp for name, stamp in kept.items())  # none redone
    assert not [p for p in out.iterdir() if ".tmp" in p.name]  # no half-written leftovers
    for p in inputs:
        np.testing.assert_array_equal(api.decode(out / f"{p.stem}.rcz").samples,
                                      api.load(p).samples)  # fmt: skip
