"""The MLflow backend (``--registry mlflow:URI``) on a local file store: what it adds to the
promises every backend keeps (tests/registry/test_store.py runs those on it too) — MLflow's own
objects are the registry's, files are checked on checkout, a killed writer's run is found and
collected, other teams' models are left alone — and the CLI end to end through it."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from ratecraft.cli import app
from ratecraft.data.io import read_data, write_data
from ratecraft.errors import BadInputError, MissingExtraError
from ratecraft.registry import open_registry
from ratecraft.registry.mlflow_store import MODELS_EXPERIMENT, MlflowRegistry, _PinnedClient

runner = CliRunner()


def run(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False, env=env)


@pytest.fixture
def uri(tmp_path):
    return f"file://{tmp_path / 'mlruns'}"


@pytest.fixture(autouse=True)
def _nothing_written_where_the_process_runs(tmp_path, monkeypatch):
    """MLflow's defaults put stores in the current folder (./mlflow.db, ./mlruns): the registry
    must never touch it."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    yield
    assert list(cwd.iterdir()) == []


def client_of(uri):
    """A test's own MlflowClient on the file store, pinned as the registry pins its own
    (MLflow's file-store registry reads versions through a default client)."""
    return _PinnedClient(MlflowClient(tracking_uri=uri, registry_uri=uri), uri)


def test_versions_are_mlflow_model_versions_with_card_and_hash(uri, trained):
    reg = open_registry(f"mlflow:{uri}")
    assert isinstance(reg, MlflowRegistry) and reg.location == f"mlflow:{uri}"
    card = {"description": "probe model", "codec": "conv-ae"}
    v = reg.register(trained[0], "probe", card=card, aliases=("staging",))
    client = client_of(uri)
    mv = client.get_model_version_by_alias("probe", "staging")
    assert int(mv.version) == v.version == 1
    assert mv.tags["ratecraft.model_sha256"] == v.model_sha256
    assert json.loads(mv.tags["ratecraft.card"]) == card
    assert "probe model" in mv.description  # MLflow's UI shows the card
    assert {"codec.json", "weights.safetensors"} <= set(v.files)
    assert reg.find_model(v.model_sha256) == [reg.get("probe@1")]
    assert reg.find_model("0" * 64) == [] and reg.find_model("'; drop") == []


def test_a_sqlite_store_keeps_its_files_beside_the_database(tmp_path, trained):
    (tmp_path / "store").mkdir()  # MLflow's own default would put the files in ./mlruns
    reg = open_registry(f"mlflow:sqlite:///{tmp_path / 'store' / 'mlflow.db'}")
    reg.register(trained[0], "probe")
    assert any((tmp_path / "store" / "mlflow-artifacts").rglob("weights.safetensors"))
    assert reg.load("probe").model_sha256() == reg.get("probe").model_sha256


def test_checkout_refuses_changed_files_and_check_reports_them(uri, trained, tmp_path):
    reg = open_registry(f"mlflow:{uri}")
    v = reg.register(trained[0], "probe")
    assert reg.check()["ok"]
    client = client_of(uri)
    source = client.get_model_version("probe", "1").source.removeprefix("file://")
    weights = tmp_path / "mlruns" / source.split("mlruns/", 1)[1] / "weights.safetensors"
    weights.write_bytes(b"not the weights")
    with pytest.raises(BadInputError, match="does not match its SHA-256"):
        reg.load("probe")
    report = reg.check()
    assert not report["ok"] and len(report["corrupt_blobs"]) == 1
    weights.unlink()
    report = reg.check()
    assert report["missing_blobs"] and not report["corrupt_blobs"]
    assert v.ref in report["missing_blobs"][0]


def test_a_killed_writers_run_is_reported_then_collected(uri, trained):
    reg = open_registry(f"mlflow:{uri}")
    client = client_of(uri)
    exp = client.get_experiment_by_name(MODELS_EXPERIMENT).experiment_id
    # what a writer killed between logging the files and creating the version leaves
    dead = client.create_run(exp, tags={"ratecraft.kind": "model", "ratecraft.name": "probe"})
    report = reg.check()
    assert not report["ok"] and report["orphan_runs"] == [dead.info.run_id]
    reg.register(trained[0], "probe")  # a young orphan may be a live writer's: kept
    assert reg.check()["orphan_runs"] == [dead.info.run_id]
    reg.stale_after_s = 0.0
    reg.register(trained[1], "probe")
    assert reg.check()["ok"]
    assert client.get_run(dead.info.run_id).info.lifecycle_stage == "deleted"


def test_remove_deletes_versions_runs_and_the_model(uri, trained):
    reg = open_registry(f"mlflow:{uri}")
    reg.register(trained[0], "probe", aliases=("production",))
    reg.register(trained[1], "probe")
    with pytest.raises(BadInputError, match="--force"):
        reg.remove("probe@1")
    reg.remove("probe@2")
    assert [v.version for v in reg.versions("probe")] == [1] and reg.check()["ok"]
    reg.remove("probe", force=True)
    assert reg.names() == [] and reg.check()["ok"]
    assert reg.events("probe")[-1].kind == "remove"
    with pytest.raises(BadInputError, match="no model named"):
        reg.get("probe")


def test_models_ratecraft_did_not_file_are_left_alone(uri, trained):
    client = client_of(uri)
    client.create_registered_model("sklearn-model")
    reg = open_registry(f"mlflow:{uri}")
    assert reg.names() == []
    with pytest.raises(BadInputError, match="did not file"):
        reg.register(trained[0], "sklearn-model")
    with pytest.raises(BadInputError, match="no model named"):
        reg.get("sklearn-model")


def test_without_mlflow_the_error_names_the_extra(monkeypatch, uri):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(MissingExtraError, match=r"ratecraft\[track\]"):
        open_registry(f"mlflow:{uri}")
    with pytest.raises(BadInputError, match="needs a tracking URI"):
        open_registry("mlflow:")


def test_cli_end_to_end_through_mlflow(tmp_path, uri, trained, recordings):
    _, heldout, _ = recordings
    held = tmp_path / "held.npz"
    write_data(heldout, held)
    spec = f"mlflow:{uri}"
    res = run("models", "register", trained[0], "-n", "probe", "--registry", spec, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["ref"] == "probe@1"
    assert run("models", "register", trained[1], "-n", "probe", "--registry", spec).exit_code == 0
    for ref in ("probe@1", "probe@2"):
        res = run("models", "promote", ref, "--alias", "production", "--registry", spec)
        assert res.exit_code == 0, res.output
    res = run("models", "rollback", "probe", "--alias", "production", "--registry", spec)
    assert res.exit_code == 0 and "version 1" in res.output
    listed = json.loads(run("models", "list", "--registry", spec, "--json").output)
    assert [(m["name"], m["versions"], m["aliases"]) for m in listed] == [
        ("probe", [1, 2], {"production": 1})
    ]
    shown = run("models", "show", "probe@production", "--events", "--registry", spec)
    assert shown.exit_code == 0 and "rollback" in shown.output
    assert run("models", "check", "--registry", spec).exit_code == 0

    # encode / decode find the registry through $RATECRAFT_REGISTRY
    env = {"RATECRAFT_REGISTRY": spec}
    rcz = tmp_path / "x.rcz"
    res = run("encode", held, "-o", rcz, "--model", "probe@production", env=env)
    assert res.exit_code == 0, res.output
    out = tmp_path / "back.npz"
    res = run("decode", rcz, "-o", out, env=env)
    assert res.exit_code == 0, res.output
    direct = open_registry(spec).load("probe@1").decode(rcz.read_bytes())
    np.testing.assert_array_equal(read_data(out).samples, direct.samples)
