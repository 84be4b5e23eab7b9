"""Online adaptation: River's detectors fire on a change and stay quiet on a steady stream;
a drifted stream is detected, adapted to behind the gate, and a bad update is rolled back; every
step is a registry event and the registry stays consistent."""

from __future__ import annotations

import json
import tempfile

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("river")

from ratecraft.cli import app
from ratecraft.codecs import get_codec
from ratecraft.data.io import write_data
from ratecraft.data.synthetic import simulate_recording
from ratecraft.data.types import Recording
from ratecraft.online import (
    AdaptPolicy,
    DriftMonitor,
    FinetuneConfig,
    OnlineAdapter,
    finetune,
    mean_sndr,
)
from ratecraft.registry import Registry, build_card

CHUNK = 1500  # 50 ms at 30 kHz


def _chunks(rec):
    return [rec.slice_time(s, s + CHUNK) for s in range(0, rec.n_samples - CHUNK + 1, CHUNK)]


def test_detectors_fire_on_a_step_and_not_on_a_steady_stream():
    rng = np.random.default_rng(0)
    steady = DriftMonitor(("x",), warmup=20)
    assert not any(steady.update(i, {"x": float(v)}) for i, v in enumerate(rng.normal(0, 1, 300)))
    moving = DriftMonitor(("x",), warmup=20)
    values = np.concatenate([rng.normal(0, 1, 100), rng.normal(6, 1, 100)])
    fired = [i for i, v in enumerate(values) if moving.update(i, {"x": float(v)})]
    assert fired and 100 <= fired[0] <= 110
    assert {s.detector for s in moving.update(300, {"x": 50.0})} <= {"adwin", "page-hinkley"}


@pytest.fixture(scope="module")
def stream():
    base = {"n_channels": 4, "sample_rate": 30000.0}
    before, _ = simulate_recording(duration_s=3.0, seed=1, **base)
    after, _ = simulate_recording(
        duration_s=1.5, seed=2, noise_uv=14.0, spike_amplitude_uv=(30.0, 180.0), **base
    )
    train = before.slice_time(0, 30000)
    codec = get_codec("conv-ae", {"train": {"epochs": 2}, "max_windows": 200}).fit(train)
    return codec, train, before.slice_time(30000, before.n_samples), after


def _registry(tmp_path, codec, heldout):
    reg = Registry(tmp_path / "home")
    with tempfile.TemporaryDirectory() as tmp:
        codec.save(tmp)
        reg.register(tmp, "probe", card=build_card(codec, heldout=heldout), aliases=("production",))
    return reg


def test_drift_is_detected_adapted_and_a_bad_update_rolled_back(tmp_path, stream):
    codec, _, before, after = stream
    reg = _registry(tmp_path, codec, before.slice_time(0, 6000))
    policy = AdaptPolicy(
        warmup=10,
        recent_chunks=12,
        heldout_every=4,
        min_gain_db=-100.0,  # this test checks the mechanics; the benchmark measures the gain
        max_forgetting_db=100.0,
        finetune=FinetuneConfig(steps=10, ewc_lambda=10.0),
    )
    adapter = OnlineAdapter(reg, "probe", policy, who="test")
    pre, post = _chunks(before), _chunks(after)
    for c in pre + post:
        adapter.step(c)
    actions = [(r["chunk"], a) for r in adapter.history for a in r["actions"]]
    drifts = [c for c, a in actions if a == "drift"]
    assert drifts and drifts[0] >= len(pre)  # no false alarm before the change
    assert "promote" in [a for _, a in actions]
    assert reg.get("probe@production").version == 2
    kinds = [e.kind for e in reg.events("probe")]
    assert kinds[:2] == ["register", "promote"] and "drift" in kinds
    adapted = next(e for e in reg.events("probe") if e.kind == "register" and e.version == 2)
    assert adapted.who == "test" and "old_sndr_after_db" in adapted.metrics

    bad = finetune(
        adapter.codec,
        [Recording(samples=np.zeros_like(post[0].samples), sample_rate=30000.0)],
        (),
        FinetuneConfig(steps=30, lr=0.3, replay_share=0.0),
    )
    assert mean_sndr(bad, post[:2]) < mean_sndr(adapter.codec, post[:2]) - 3
    adapter.force_update(bad, why="forced bad update")
    assert reg.get("probe@production").version == 3
    rolled = [a for c in post[:10] for a in adapter.step(c)["actions"]]
    assert "rollback" in rolled and reg.get("probe@production").version == 2
    assert reg.events("probe")[-1].kind == "rollback"
    assert reg.check()["ok"]


def test_adapt_cli_streams_a_file(tmp_path, stream):
    codec, _, before, after = stream
    reg = _registry(tmp_path, codec, before.slice_time(0, 6000))
    rec = Recording(
        samples=np.concatenate([before.samples[:, :45000], after.samples[:, :22500]], axis=1),
        sample_rate=30000.0,
        uv_per_step=before.uv_per_step,
    )
    path = tmp_path / "stream.npz"
    write_data(rec, path)
    res = CliRunner().invoke(
        app,
        [
            "adapt",
            str(path),
            "-n",
            "probe",
            "--chunk",
            "0.05",
            "--recent",
            "8",
            "--registry",
            str(reg.home),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["chunks"] == 45 and any(a["action"] == "drift" for a in doc["actions"])
