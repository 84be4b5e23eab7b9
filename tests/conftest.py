"""Every test gets its own model registry (``RATECRAFT_HOME``), never the user's."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _registry_home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("RATECRAFT_HOME", str(tmp_path_factory.mktemp("rc-home")))
