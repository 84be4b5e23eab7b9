"""Spec inference on a recording, a table and a tiny transformer, and the defaults derived."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ratecraft.autopilot.spec import (
    derive_defaults,
    infer_data_spec,
    infer_file_spec,
    infer_model_spec,
)
from ratecraft.data.io import write_data
from ratecraft.data.synthetic_recording import simulate_recording
from ratecraft.data.synthetic_table import simulate_table
from ratecraft.data.types import Recording
from ratecraft.errors import BadInputError


def test_recording_spec_from_a_file(tmp_path) -> None:
    rec, _ = simulate_recording(n_channels=6, duration_s=0.2, seed=2, sparse_grid=True)
    path = tmp_path / "rec.npz"
    write_data(rec, path)
    spec, data = infer_file_spec(path)
    assert isinstance(data, Recording)
    assert spec.kind == "recording" and spec.channels == 6 and spec.sample_rate == 30000.0
    assert spec.duration_s == pytest.approx(0.2)
    # a 10-bit implant on a sparse 16-bit grid: values span many bits, the alphabet needs ≤ 10
    assert spec.alphabet_size <= 1024 and spec.alphabet_bits <= 10
    assert spec.bit_depth > spec.alphabet_bits
    defaults = derive_defaults(spec)
    assert defaults["problem"] == "codec"
    assert defaults["objectives"] == ["spike_f1:max", "ratio:max"]
    assert "spike_f1>=0.9" in defaults["constraints"]


def test_low_rate_recording_scores_sndr() -> None:
    rec = Recording(samples=np.arange(2000, dtype=np.int16).reshape(2, 1000), sample_rate=1000.0)
    spec = infer_data_spec(rec)
    assert spec.alphabet_size == 2000 and spec.bit_depth == 11 and spec.grid_step == 1.0
    assert spec.alphabet_bits == 11
    doubled = infer_data_spec(Recording(samples=rec.samples * 4, sample_rate=1000.0))
    assert doubled.grid_step == 4.0 and doubled.bit_depth == 11 and doubled.alphabet_bits == 11
    assert derive_defaults(spec)["objectives"][0] == "sndr_db:max"


def test_table_spec(tmp_path) -> None:
    table = simulate_table(seed=0)
    path = tmp_path / "table.csv"
    write_data(table, path)
    spec, _ = infer_file_spec(path)
    assert spec.kind == "table" and spec.features == table.n_features
    assert spec.groups is not None and sum(spec.groups.values()) == table.n_features
    assert len(spec.groups) == len(set(table.families))
    assert spec.nan_count > 0  # the simulator plants NaN columns
    defaults = derive_defaults(spec)
    assert defaults["problem"] == "table" and "nmse:min" in defaults["objectives"]


def test_tiny_transformer_spec() -> None:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=True)
    model = nn.Sequential(
        nn.Embedding(100, 32), nn.TransformerEncoder(layer, num_layers=2), nn.Linear(32, 100)
    )
    spec = infer_model_spec(model)
    assert spec.family == "transformer"
    assert spec.parameters == sum(p.numel() for p in model.parameters())
    assert spec.memory_bytes == 4 * spec.parameters and spec.dtype == "float32"
    assert spec.layer_types["MultiheadAttention"] == 2 and spec.layer_types["Embedding"] == 1
    assert spec.layer_types["LayerNorm"] == 4
    half = infer_model_spec(model.to(torch.float16))
    assert half.dtype == "float16" and half.memory_bytes == spec.memory_bytes // 2
    defaults = derive_defaults(spec)
    assert defaults["problem"] == "shrink" and "accuracy:max" in defaults["objectives"]


def test_cnn_and_bad_inputs() -> None:
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    assert infer_model_spec(cnn).family == "cnn"
    assert infer_model_spec(nn.LSTM(4, 8)).family == "rnn"
    with pytest.raises(BadInputError):
        infer_model_spec("not a model")
    with pytest.raises(BadInputError):
        infer_data_spec(np.zeros((3, 3)))
