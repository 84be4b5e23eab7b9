"""`ratecraft models …` end to end, and `encode/decode --model NAME@ALIAS` through the registry
(``RATECRAFT_HOME`` is the test's own, see tests/conftest.py)."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from ratecraft.cli import app
from ratecraft.data.io import read_data, write_data
from ratecraft.registry import Registry

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_register_show_promote_rollback_encode_decode(tmp_path, trained, recordings):
    _, heldout, _ = recordings
    held = tmp_path / "held.npz"
    write_data(heldout, held)
    res = run("models", "register", trained[0], "--name", "probe", "--eval", held, "--json")
    assert res.exit_code == 0, res.output
    v1 = json.loads(res.output)
    assert v1["ref"] == "probe@1" and v1["card"]["heldout"]["status"] == "ok"
    assert run("models", "register", trained[1], "-n", "probe").exit_code == 0
    assert run("models", "promote", "probe@1", "--alias", "production").exit_code == 0
    assert run("models", "promote", "probe@2", "--alias", "production").exit_code == 0
    res = run("models", "rollback", "probe", "--alias", "production", "--why", "quality fell")
    assert res.exit_code == 0 and "version 1" in res.output
    listed = json.loads(run("models", "list", "--json").output)
    assert listed == [
        {
            "name": "probe",
            "versions": [1, 2],
            "aliases": {"production": 1},
            "latest": "probe@2",
            "codec": "conv-ae",
        }
    ]
    shown = run("models", "show", "probe@production", "--events")
    assert shown.exit_code == 0
    assert "Held-out evaluation" in shown.output and "quality fell" in shown.output

    # encode through the alias; decode finds the model by the hash the container names
    rcz = tmp_path / "x.rcz"
    assert run("encode", held, "-o", rcz, "--model", "probe@production").exit_code == 0
    out = tmp_path / "back.npz"
    res = run("decode", rcz, "-o", out)
    assert res.exit_code == 0, res.output
    direct = Registry().load("probe@1").decode(rcz.read_bytes())
    np.testing.assert_array_equal(read_data(out).samples, direct.samples)
    assert run("models", "check").exit_code == 0


def test_bad_references_exit_2_in_one_line(tmp_path, trained):
    for args in (
        ("models", "show", "../etc"),
        ("models", "show", "nothing@production"),
        ("models", "register", trained[0], "--name", "a/b"),
        ("models", "promote", "x@1", "--alias", "7"),
    ):
        res = run(*args)
        assert res.exit_code == 2, (args, res.output)
        assert len(res.output.strip().splitlines()) == 1, res.output
