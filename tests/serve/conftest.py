"""A registry with one small trained model (conv-ae, one epoch), and a client for the service."""

from __future__ import annotations

from pathlib import Path

import pytest

from ratecraft.codecs import Budget, Codec, get_codec
from ratecraft.data.synthetic import simulate_recording
from ratecraft.registry import Registry, build_card

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from ratecraft.serve import ServeConfig, create_app


@pytest.fixture(scope="session")
def recording():
    rec, _ = simulate_recording(n_channels=4, duration_s=0.5, seed=7)
    return rec


@pytest.fixture(scope="session")
def model_folders(tmp_path_factory) -> tuple[Path, Path]:
    train, _ = simulate_recording(n_channels=4, duration_s=0.5, seed=3)
    root = tmp_path_factory.mktemp("serve-models")
    out = []
    for seed in (0, 1):
        codec = get_codec("conv-ae", {"train": {"epochs": 1}, "max_windows": 40, "seed": seed}).fit(
            train, Budget(ratio=20)
        )
        codec.save(root / f"m{seed}")
        out.append(root / f"m{seed}")
    return out[0], out[1]


@pytest.fixture
def registry(tmp_path, model_folders, recording) -> Registry:
    reg = Registry(tmp_path / "home")
    card = build_card(Codec.load(model_folders[0]), heldout=recording)
    reg.register(model_folders[0], "probe", card=card, aliases=("production",))
    reg.register(model_folders[1], "probe", aliases=("candidate",))
    return reg


@pytest.fixture
def client_for(registry):
    """``client_for(**config)``: a TestClient of a service over ``registry``."""
    clients = []

    def make(**options) -> TestClient:
        app = create_app(ServeConfig(registry=str(registry.home), **options))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)
