"""The shipped zoo: small, complete, its cards true to its models, and found by content hash."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from ratecraft.cli import app
from ratecraft.codecs import decode
from ratecraft.data.synthetic import simulate_recording
from ratecraft.registry import load_zoo, model_for_container, zoo_card, zoo_models
from ratecraft.registry.zoo import ZOO_DIR


def test_the_zoo_is_small_and_each_card_matches_its_model():
    names = zoo_models()
    assert {"implant-10bit-19k5", "probe-32ch-30k", "neuropixels-384ch-30k", "ecog-64ch-1k"} <= set(
        names
    )
    size = sum(f.stat().st_size for f in ZOO_DIR.rglob("*") if f.is_file())
    assert size < 4 << 20, f"zoo package data is {size:,} bytes"
    for name in names:
        card = zoo_card(name)
        codec = load_zoo(name)  # the store checks every hash
        assert card["model_sha256"] == codec.model_sha256()
        held = card["heldout"]
        assert held["status"] == "ok"
        assert card["trained_on"]["fingerprint"] != held["data"]["fingerprint"]
        assert card["trained_on"]["channels"] == held["data"]["channels"]


def test_a_zoo_container_decodes_without_naming_its_model(tmp_path):
    codec = load_zoo("implant-10bit-19k5")
    card = zoo_card("implant-10bit-19k5")
    rec, _ = simulate_recording(
        n_channels=1, sample_rate=19531.0, sparse_grid=True, n_units=3, duration_s=2.0, seed=9
    )
    path = tmp_path / "implant.rcz"
    path.write_bytes(codec.encode(rec))
    ratio = rec.samples.nbytes / path.stat().st_size
    assert 0.5 * card["heldout"]["ratio"] < ratio < 2 * card["heldout"]["ratio"]
    found = model_for_container(path)
    assert found is not None and found.model_sha256() == codec.model_sha256()
    np.testing.assert_array_equal(decode(path, found).samples, decode(path, codec).samples)


def test_models_list_zoo_and_show():
    res = CliRunner().invoke(app, ["models", "list", "--zoo", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert {r["name"] for r in rows} == {f"zoo:{n}" for n in zoo_models()}
    shown = CliRunner().invoke(app, ["models", "show", "zoo:probe-32ch-30k"])
    assert shown.exit_code == 0 and "Held-out evaluation" in shown.output


def test_the_demo_runs_the_zoo_on_its_implant_recording():
    from ratecraft.demo import demo_inputs, zoo_runs

    records = zoo_runs(demo_inputs(quick=True))
    assert [(r.setting, r.status) for r in records] == [("zoo:implant-10bit-19k5", "ok")]
    assert records[0].ratio > 20 and records[0].spike_f1 > 0.9


def test_the_field_potential_model_codes_an_lfp_grid_without_spikes():
    """zoo:ecog-64ch-1k on another simulated 1 kHz grid: its ratio and SNDR near its card."""
    from ratecraft.metrics import recording_quality

    codec = load_zoo("ecog-64ch-1k")
    card = zoo_card("ecog-64ch-1k")["heldout"]
    rec, _ = simulate_recording(
        n_channels=64, sample_rate=1000.0, n_units=0, lfp_uv=150.0, duration_s=4.0, seed=9
    )
    blob = codec.encode(rec)
    ratio = rec.samples.nbytes / len(blob)
    back = decode(blob, codec)
    sndr = recording_quality(rec.samples, back.samples, 1000.0)["sndr_db"]
    assert 0.5 * card["ratio"] < ratio < 2 * card["ratio"]
    assert sndr > card["sndr_db"] - 3.0
