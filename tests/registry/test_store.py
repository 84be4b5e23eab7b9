"""The registry: versions, aliases with history, events, cards, lookup by content hash,
removal that leaves no orphan blobs, and the consistency check."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from ratecraft.codecs import Codec, decode
from ratecraft.errors import BadInputError
from ratecraft.registry import (
    Registry,
    build_card,
    card_markdown,
    model_for_container,
    open_registry,
)

# every backend keeps the same promises: the embedded registry, MLflow's on its file store
# (what a laptop has) and on SQLite (what MLflow now recommends)
BACKENDS = ("embedded", "mlflow-file", "mlflow-sqlite")


def open_backend(kind, tmp_path):
    if kind == "embedded":
        return open_registry(str(tmp_path / "home"))
    if kind == "mlflow-file":
        return open_registry(f"mlflow:file://{tmp_path / 'mlruns'}")
    return open_registry(f"mlflow:sqlite:///{tmp_path / 'mlflow.db'}")


@pytest.mark.parametrize("kind", BACKENDS)
def test_register_versions_aliases_and_rollback(tmp_path, trained, kind):
    a, b = trained
    reg = open_backend(kind, tmp_path)
    v1 = reg.register(a, "probe", aliases=("staging",))
    v2 = reg.register(b, "probe")
    assert (v1.version, v2.version) == (1, 2)
    assert reg.register(a, "probe").version == 1  # the same model is not filed twice
    assert reg.get("probe").version == 2  # bare name: latest
    assert reg.get("probe@staging").version == 1
    reg.promote("probe@1", "production")
    reg.promote("probe@2", "production", why="better on recent data")
    assert reg.get("probe@production").version == 2
    assert reg.rollback("probe", "production").version == 1
    assert reg.aliases("probe") == {"production": 1, "staging": 1}
    with pytest.raises(BadInputError, match="nothing to roll back"):
        reg.rollback("probe", "staging")
    kinds = [e.kind for e in reg.events("probe")]
    assert kinds == ["register", "promote", "register", "promote", "promote", "rollback"]
    assert reg.events("probe")[4].why == "better on recent data"
    assert reg.check()["ok"]


@pytest.mark.parametrize("kind", BACKENDS[:2])
def test_the_registry_loads_the_very_model_it_filed(tmp_path, trained, recordings, kind):
    a, _ = trained
    _, heldout, _ = recordings
    reg = open_backend(kind, tmp_path)
    v = reg.register(a, "probe")
    original = Codec.load(a)
    assert v.model_sha256 == original.model_sha256()
    loaded = reg.load("probe@1")
    blob = loaded.encode(heldout)
    assert blob == original.encode(heldout)
    # a container names its model: the registry finds it by that hash
    path = tmp_path / "x.rcz"
    path.write_bytes(blob)
    found = model_for_container(path, reg)
    assert found is not None and found.model_sha256() == v.model_sha256
    np.testing.assert_array_equal(decode(path, found).samples, decode(blob, original).samples)


def test_remove_drops_blobs_no_version_shares(tmp_path, trained):
    a, b = trained
    reg = Registry(tmp_path / "home")
    reg.register(a, "probe", aliases=("production",))
    reg.register(b, "probe")
    reg.register(a, "copy")  # shares every blob with probe@1
    n_blobs = reg.check()["blobs"]
    with pytest.raises(BadInputError, match="--force"):
        reg.remove("probe@1")
    reg.remove("probe@2")
    assert reg.check()["ok"] and reg.check()["blobs"] < n_blobs
    reg.remove("probe", force=True)
    assert reg.names() == ["copy"]
    report = reg.check()
    assert report["ok"] and report["blobs"] > 0  # copy's blobs stay
    reg.remove("copy")
    assert reg.check()["blobs"] == 0
    assert reg.events("probe")[-1].kind == "remove"


def test_check_finds_corrupt_missing_and_orphan_blobs(tmp_path, trained):
    a, _ = trained
    reg = Registry(tmp_path / "home")
    v = reg.register(a, "probe")
    weights = reg.blobs.path(v.files["weights.safetensors"])
    weights.chmod(0o644)
    weights.write_bytes(b"not the weights")
    report = reg.check()
    assert not report["ok"] and report["corrupt_blobs"] == [v.files["weights.safetensors"]]
    with pytest.raises(BadInputError, match="corrupt"):
        reg.load("probe")
    weights.unlink()
    assert reg.check()["missing_blobs"] == [v.files["weights.safetensors"]]
    orphan = reg.blobs.path("ab" * 32)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"x")
    assert reg.check()["orphan_blobs"] == ["ab" * 32]


def test_an_alias_can_only_point_at_a_filed_version(tmp_path, trained):
    reg = Registry(tmp_path / "home")
    reg.register(trained[0], "probe")
    db = sqlite3.connect(tmp_path / "home" / "registry.db")
    db.execute("PRAGMA foreign_keys=ON")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO aliases VALUES ('probe', 'production', 7, 0)")
    db.close()
    with pytest.raises(BadInputError, match="no version 7"):
        reg.promote("probe@7", "production")
    with pytest.raises(BadInputError, match="no model named"):
        reg.get("other@production")


@pytest.mark.parametrize("kind", BACKENDS[:2])
def test_register_refuses_what_is_not_a_valid_model(tmp_path, trained, kind):
    reg = open_backend(kind, tmp_path)
    with pytest.raises(BadInputError, match="not a codec folder"):
        reg.register(tmp_path, "probe")
    with pytest.raises(BadInputError, match="invalid model name"):
        reg.register(trained[0], "../escape")
    assert reg.names() == [] and reg.check()["ok"]


def test_card_measures_held_out_quality(trained, recordings):
    train, heldout, truth = recordings
    codec = Codec.load(trained[0])
    card = build_card(codec, trained_on=train, heldout=heldout, truth=truth)
    held = card["heldout"]
    assert held["status"] == "ok"
    assert held["ratio"] == pytest.approx(
        len(heldout.samples.tobytes()) / len(codec.encode(heldout))
    )
    for key in ("sndr_db", "spike_f1", "spike_window_sndr_db", "lfp_sndr_db", "encode_seconds"):
        assert key in held
    assert card["trained_on"]["fingerprint"] != held["data"]["fingerprint"]
    assert card["trained_on"]["channels"] == 4 and card["parameters"] > 0
    text = card_markdown(card, "probe@1")
    assert "Held-out evaluation" in text and "LFP SNDR" in text
    assert "Not evaluated" in card_markdown(build_card(codec), "x")
