"""Measurement: sizes, parameters, latency with fixed threads, peak RSS, memory pre-flight."""

from __future__ import annotations

import pytest
import torch
from shrink_helpers import MLP, make, roundtrip

from ratecraft.errors import BadInputError
from ratecraft.shrink import Recipe, get_step, run_recipe
from ratecraft.shrink.measure import (
    artifact_bytes,
    bits_per_weight,
    measure_latency,
    parameter_count,
    peak_memory,
    sparsity,
)
from ratecraft.shrink.preflight import estimate_memory, preflight


def test_sizes_and_bits_per_weight(tmp_path):
    model = make(MLP)
    roundtrip(model, MLP, tmp_path / "fp32")
    n = parameter_count(model)
    assert n == sum(p.numel() for p in model.parameters())
    assert 32.0 <= bits_per_weight(tmp_path / "fp32", model) < 33.0
    assert artifact_bytes(tmp_path / "fp32") > 4 * n
    q = get_step("int8-weight")(make(MLP))
    roundtrip(q, MLP, tmp_path / "int8")
    assert parameter_count(q) == n  # quantized tensors count their logical elements
    assert bits_per_weight(tmp_path / "int8", q) < 10
    assert sparsity(model) == 0.0


def test_latency_runs_on_the_threads_asked_and_restores_them():
    model = make(MLP)
    before = torch.get_num_threads()
    seen: list[int] = []

    def forward(m, batch):
        seen.append(torch.get_num_threads())
        return m(batch)

    wanted = before + 1
    res = measure_latency(
        model, torch.randn(32, 64), forward=forward, warmup=2, repeats=10, threads=wanted
    )
    assert res["threads"] == wanted and res["repeats"] == 10 and len(seen) == 12
    assert set(seen) == {wanted}  # every timed run used the requested threads
    assert 0 < res["latency_p50_ms"] <= res["latency_p95_ms"]
    assert torch.get_num_threads() == before  # and the caller's setting came back
    with pytest.raises(BadInputError):
        measure_latency(model, torch.randn(1, 64), repeats=0)


def test_peak_memory_in_a_subprocess(tmp_path):
    roundtrip(make(MLP), MLP, tmp_path / "a")
    mem = peak_memory(tmp_path / "a", torch.randn(16, 64), repeats=1)
    assert mem["peak_rss_bytes"] >= mem["baseline_rss_bytes"] > 10 * 2**20
    assert mem["model_rss_bytes"] == mem["peak_rss_bytes"] - mem["baseline_rss_bytes"]


def test_preflight_refuses_an_impossible_budget(mlp_calib):
    model, step = make(MLP), get_step("distill")
    cfg = step.parse({"width": 0.5})
    need = estimate_memory(model, step, cfg, mlp_calib)
    assert need > 5 * 4 * parameter_count(model)  # teacher, student and optimizer state
    assert preflight(model, step, cfg, mlp_calib, budget_bytes=10 * need) == need
    with pytest.raises(BadInputError, match="MiB") as err:
        preflight(model, step, cfg, mlp_calib, budget_bytes=1024)
    assert "\n" not in str(err.value)
    with pytest.raises(BadInputError, match="prune-sparsegpt"):
        run_recipe(model, Recipe.of("prune-sparsegpt"), mlp_calib, memory_budget=1024)
    assert not (model[0].weight == 0).any()  # refused before touching the model
