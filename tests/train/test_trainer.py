"""Trainer: loss falls, resume equals an uninterrupted run, metrics are logged, bad input fails."""

import json

import numpy as np
import pytest
import torch

from ratecraft.codecs.learned.bottleneck import BranchedBottleneck
from ratecraft.errors import BadInputError
from ratecraft.train import TrainConfig, Trainer


def _data(n=200, d=8, seed=0):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 2))
    return latent @ rng.normal(size=(2, d)) + 0.05 * rng.normal(size=(n, d))


def _model(seed=0, d=8):
    torch.manual_seed(seed)
    return BranchedBottleneck(d, [("all", list(range(d)), 3, False)], hidden=16)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("schedule", ["cosine", "plateau"])
def test_resume_equals_uninterrupted(tmp_path, schedule):
    cfg = TrainConfig(epochs=6, batch_size=32, schedule=schedule, patience=100)
    x = _data()
    full = _model()
    Trainer(cfg, checkpoint_dir=tmp_path / "a").fit(full, x)
    part = _model()
    first = Trainer(cfg, checkpoint_dir=tmp_path / "b").fit(part, x, stop_after=2)
    assert first.epochs_run == 2
    torch.manual_seed(1234)  # the global RNG must come from the checkpoint, not from here
    resumed = _model(seed=99)
    result = Trainer(cfg, checkpoint_dir=tmp_path / "b").fit(resumed, x, resume=True)
    assert result.epochs_run == 6
    a, b = _state(full), _state(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_training_lowers_validation_loss_and_logs(tmp_path):
    metrics = tmp_path / "m.jsonl"
    result = Trainer(TrainConfig(epochs=8, batch_size=32), metrics_path=metrics).fit(
        _model(), _data()
    )
    lines = [json.loads(s) for s in metrics.read_text().splitlines()]
    assert len(lines) == result.epochs_run == 8
    assert lines[-1]["val_loss"] < lines[0]["val_loss"]
    assert {"lr", "train_rate_bits", "val_distortion", "lmbda"} <= set(lines[0])


def test_rate_control_moves_lambda():
    x = _data()
    result = Trainer(TrainConfig(epochs=4, batch_size=32)).fit(_model(), x, target_bits=0.5)
    assert result.lmbda < TrainConfig().lmbda  # the rate was above target: λ shrank


def test_bad_inputs():
    with pytest.raises(BadInputError, match="schedule"):
        TrainConfig(schedule="linear")
    with pytest.raises(BadInputError, match="finite"):
        Trainer().fit(_model(), np.full((10, 8), np.nan))
    with pytest.raises(BadInputError, match="feature_weights"):
        Trainer().fit(_model(), _data(), feature_weights=np.zeros(8))
    with pytest.raises(BadInputError, match="checkpoint"):
        Trainer().fit(_model(), _data(), resume=True)
