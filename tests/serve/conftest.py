"""A registry with two small trained versions (tests/conftest.py), and a client for the service."""

from __future__ import annotations

import pytest

from ratecraft.codecs import Codec
from ratecraft.data.synthetic import simulate_recording
from ratecraft.registry import ModelRegistry, build_card, open_registry

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from ratecraft.serve import ServeConfig, create_app


@pytest.fixture(scope="session")
def recording():
    rec, _ = simulate_recording(n_channels=4, duration_s=0.5, seed=7)
    return rec


@pytest.fixture
def registry(request, tmp_path, trained, recording) -> ModelRegistry:
    """The embedded registry; ``parametrize("registry", ["mlflow"], indirect=True)`` for
    MLflow's on a file store."""
    kind = getattr(request, "param", "embedded")
    spec = f"mlflow:file://{tmp_path / 'mlruns'}" if kind == "mlflow" else str(tmp_path / "home")
    reg = open_registry(spec)
    card = build_card(Codec.load(trained[0]), heldout=recording)
    reg.register(trained[0], "probe", card=card, aliases=("production",))
    reg.register(trained[1], "probe", aliases=("candidate",))
    return reg


@pytest.fixture
def client_for(registry):
    """``client_for(**config)``: a TestClient of a service over ``registry``."""
    clients = []

    def make(**options) -> TestClient:
        app = create_app(ServeConfig(registry=registry.location, **options))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)
