"""Tiny seeded inputs shared by the autopilot tests."""

from __future__ import annotations

import pytest
import torch

from ratecraft.autopilot.problems import CodecProblem
from ratecraft.data.synthetic_recording import simulate_recording

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_recording():
    rec, _ = simulate_recording(n_channels=4, duration_s=0.4, seed=0)
    return rec


@pytest.fixture
def codec_problem(tiny_recording) -> CodecProblem:
    problem = CodecProblem(tiny_recording, proxy_seconds=0.05, full_seconds=0.2)
    return problem
