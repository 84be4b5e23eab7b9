"""``ratecraft codecs`` and setting codec options with --config / --set on encode and fit."""

from __future__ import annotations

import json

import pytest
from cli_helpers import ratecraft, ratecraft_tty

from ratecraft.codecs import available_codecs
from ratecraft.codecs.base import codec_class
from ratecraft.options import options


def one_line_error(run, *words: str) -> str:
    assert run.code == 2, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_listing_has_every_codec_and_what_its_class_declares():
    run = ratecraft("codecs", "--json")
    assert run.code == 0, run.stderr
    rows = {r["name"]: r for r in json.loads(run.stdout)}
    assert sorted(rows) == available_codecs()
    for name, row in rows.items():
        cls = codec_class(name)
        assert tuple(row["kinds"]) == cls.kinds and tuple(row["budgets"]) == cls.budgets
        assert row["lossy"] == cls.supports_lossy and row["learned"] == cls.learned
    assert rows["sz3"]["extra"] == "baselines" and rows["quant"]["extra"] is None


@pytest.mark.parametrize("tty", [False, True])
def test_listing_table_names_kinds_modes_budgets_and_extras(tty):
    run = (ratecraft_tty if tty else ratecraft)("codecs")
    assert run.code == 0
    text = run.stdout
    for word in ("codec", "data", "budgets", "learned", "extra", "max_error", "baselines"):
        assert word in text, word
    for name in available_codecs():
        assert name in text, name


def test_one_codec_lists_every_option_with_type_default_bounds_and_help():
    run = ratecraft("codecs", "conv-ae", "--json")
    assert run.code == 0, run.stderr
    doc = json.loads(run.stdout)
    by_name = {o["name"]: o for o in doc["options"]}
    expected = {o.name for o in options(codec_class("conv-ae").config_cls)}
    assert set(by_name) == expected
    epochs = by_name["train.epochs"]  # the codec's own training default, not TrainConfig's
    assert epochs["default"] == 30 and epochs["type"] == "int" and epochs["bounds"] == "[1, 100000]"
    assert by_name["entropy"]["type"] == "factorized | hyperprior" and by_name["entropy"]["help"]
    table = ratecraft("codecs", "quant").stdout
    for words in ("max_order", "[1, 32]", "highest linear", "step"):
        assert words in table


def test_unknown_codec_is_one_line():
    one_line_error(ratecraft("codecs", "nope"), "unknown codec 'nope'", "quant")


def test_set_reaches_the_codec_and_config_file_merges_under_it(files, tmp_path):
    cfg = tmp_path / "q.yaml"
    cfg.write_text("max_order: 3\nneighbours: false\n")
    out = tmp_path / "x.rcz"
    run = ratecraft(
        "encode", files["recording"], "-o", out, "--codec", "quant", "--max-error", "2",
        "--config", cfg, "--set", "max_order=2",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    header = json.loads(ratecraft("info", out, "--json").stdout)
    params = header["codec_params"]["config"]
    assert params["max_order"] == 2 and params["neighbours"] is False  # --set wins, file kept


def test_set_a_knob_rate_control_owns_warns(files, tmp_path):
    run = ratecraft(
        "encode", files["recording"], "-o", tmp_path / "x.rcz", "--codec", "quant",
        "--ratio", "6", "--set", "step=1",
    )  # fmt: skip
    assert run.code == 0
    assert "warning: quant: step=1 was replaced by" in run.stderr


@pytest.mark.parametrize(
    ("sets", "words"),
    [
        (["train.epochz=2"], ("unknown option 'train.epochz'", "train.epochs", "codecs vqvae")),
        (["train.epochs=0"], ("train.epochs", "greater than or equal to 1")),
        (["train.epochs=many"], ("train.epochs", "integer")),
        (["hidden"], ("KEY=VALUE",)),
        (["quantizer=pq"], ("quantizer", "'vq' or 'fsq'")),
    ],
)
def test_bad_settings_on_fit_are_one_line_and_leave_nothing(files, tmp_path, sets, words):
    out = tmp_path / "m"
    args = [a for s in sets for a in ("--set", s)]
    one_line_error(ratecraft("fit", files["table"], "-o", out, "--codec", "vqvae", *args), *words)
    assert not out.exists() and not (tmp_path / ".m.train").exists()


def test_bad_settings_on_encode_and_a_bad_config_file(files, tmp_path):
    out = tmp_path / "x.rcz"
    one_line_error(
        ratecraft("encode", files["recording"], "-o", out, "--set", "max_ordr=2"),
        "unknown option 'max_ordr'",
        "max_order",
    )
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  epochs: 2\n  lr_decay: 3\n")
    one_line_error(
        ratecraft("fit", files["table"], "-o", tmp_path / "m", "--config", cfg),
        "unknown option 'train.lr_decay'",
    )
    assert not out.exists()


def test_model_and_settings_exclude_each_other(table_model, files, tmp_path):
    run = ratecraft(
        "encode", files["table"], "-o", tmp_path / "x.rcz", "--model", table_model,
        "--set", "hidden=8",
    )  # fmt: skip
    one_line_error(run, "--model carries its options")


def test_fit_picks_its_codec_from_the_data_kind(files, tmp_path):
    run = ratecraft("fit", files["recording"], "-o", tmp_path / "m", "--ratio", "20", "--json")
    assert run.code == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["codec"] == "spike-lfp"
    assert doc["ratio"] >= 20 * 0.95 and doc["target_ratio"] == 20
