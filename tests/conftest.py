"""Every test gets its own model registry (``RATECRAFT_HOME``), never the user's; and two
small trained codec folders (conv-ae, one epoch) with seeded recordings, for the registry,
the service and online adaptation."""

from __future__ import annotations

from pathlib import Path

import pytest

from ratecraft.codecs import Budget, get_codec
from ratecraft.data.synthetic import simulate_recording


@pytest.fixture(autouse=True)
def _registry_home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("RATECRAFT_HOME", str(tmp_path_factory.mktemp("rc-home")))
    monkeypatch.delenv("RATECRAFT_REGISTRY", raising=False)


@pytest.fixture(scope="session")
def recordings():
    train, _ = simulate_recording(n_channels=4, duration_s=0.5, seed=3)
    heldout, truth = simulate_recording(n_channels=4, duration_s=0.5, seed=4)
    return train, heldout, truth


@pytest.fixture(scope="session")
def trained(recordings, tmp_path_factory) -> tuple[Path, Path]:
    """Two conv-ae folders (different seeds, so different content hashes)."""
    train, _, _ = recordings
    root = tmp_path_factory.mktemp("models")
    out = []
    for seed in (0, 1):
        codec = get_codec("conv-ae", {"train": {"epochs": 1}, "max_windows": 40, "seed": seed}).fit(
            train, Budget(ratio=20)
        )
        codec.save(root / f"m{seed}")
        out.append(root / f"m{seed}")
    return out[0], out[1]
