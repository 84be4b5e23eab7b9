"""Fixtures of the shrink tests: one thread, seeded RNG, calibration data for tiny models."""

from __future__ import annotations

import pytest
import torch

from ratecraft.shrink import Calibration


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    torch.manual_seed(0)


@pytest.fixture
def mlp_calib() -> Calibration:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(256, 64, generator=g)
    y = torch.randint(0, 10, (256,), generator=g)
    return Calibration.from_tensors(x, y, batch_size=64)


@pytest.fixture
def cnn_calib() -> Calibration:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(64, 1, 8, 8, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    return Calibration.from_tensors(x, y, batch_size=32)


@pytest.fixture
def tx_calib() -> Calibration:
    g = torch.Generator().manual_seed(3)
    tokens = torch.randint(0, 32, (32, 16), generator=g)
    return Calibration.from_tensors(tokens, torch.roll(tokens, -1, 1), batch_size=8)
