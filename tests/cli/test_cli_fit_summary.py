"""What ``ratecraft fit`` reports: the real ratio on the training data, every figure in full,
and the validation loss the metrics hold."""

from __future__ import annotations

import json

from cli_helpers import ratecraft


def test_fit_reports_the_validation_loss_of_the_kept_weights(files, tmp_path):
    out = tmp_path / "m"
    run = ratecraft(
        "fit", files["table"], "-o", out, "--codec", "adaptive-bottleneck", "--ratio", "20",
        "--set", "train.epochs=3", "--set", "hidden=16", "--json",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    doc = json.loads(run.stdout)
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").open()]
    # a rate target turns early stopping off: the last epoch's weights are kept
    assert doc["val_loss"] is not None and doc["val_loss"] == metrics[-1]["val_loss"]
    assert "best_val_loss" not in doc
    # the reported ratio is the real one `encode --model` gets on the same data
    enc = ratecraft("encode", files["table"], "-o", tmp_path / "t.rcz", "--model", out, "--json")
    assert enc.code == 0, enc.stderr
    assert doc["ratio"] == json.loads(enc.stdout)["ratio"] and doc["target_ratio"] == 20


def test_spike_lfp_summary_is_whole_and_has_the_real_ratio(files, tmp_path):
    run = ratecraft("fit", files["recording"], "-o", tmp_path / "m", "--codec", "spike-lfp",
                    "--ratio", "30")  # fmt: skip
    assert run.code == 0, run.stderr
    text = run.stdout
    assert "…" not in text and "..." not in text
    row = next(line for line in text.splitlines() if line.startswith("ratio on the training data"))
    assert "(target 30)" in row and float(row.split()[5]) >= 30 * 0.95, row
    assert "bits/sample (per stored value)" in text and " real, " in text and "estimated" in text
    assert "chosen" in text and "codebook_size" in text
