"""Tiny seeded inputs (and a tiny trained model) for the entry-point tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import ratecraft

from ratecraft.data.io import write_data
from ratecraft.data.synthetic import simulate_recording, simulate_table


@pytest.fixture(scope="session")
def files(tmp_path_factory) -> dict[str, Path]:
    """A 4-channel recording (.npz) and a 300-row feature table (.csv)."""
    root = tmp_path_factory.mktemp("cli-data")
    rec, _ = simulate_recording(n_channels=4, duration_s=0.5, seed=3)
    write_data(rec, root / "rec.npz")
    write_data(simulate_table(n_samples=300, seed=4), root / "table.csv")
    return {"root": root, "recording": root / "rec.npz", "table": root / "table.csv"}


@pytest.fixture(scope="session")
def table_model(files) -> Path:
    """A small adaptive-bottleneck trained for 2 epochs through the CLI."""
    out = files["root"] / "ab-model"
    run = ratecraft(
        "fit", files["table"], "-o", out, "--codec", "adaptive-bottleneck",
        "--set", "train.epochs=2", "--set", "hidden=16",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    return out
