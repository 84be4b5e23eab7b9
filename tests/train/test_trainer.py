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


def test_sample_budget_sets_the_epochs():
    cfg = TrainConfig(epochs=50, sample_budget=1000, batch_size=32)
    assert cfg.epochs_for(20_000) == 1 and cfg.epochs_for(150) == 7 and cfg.epochs_for(10) == 50
    assert TrainConfig(epochs=9).epochs_for(10**6) == 9  # no budget: the epochs
    x = _data(n=200)  # 180 training rows: ceil(1000 / 180) = 6 epochs
    result = Trainer(cfg).fit(_model(), x)
    assert result.planned_epochs == result.epochs_run == 6
    assert result.samples_seen == 6 * 180
    summary = result.summary()
    assert summary["train_samples"] == 1080 and summary["train_samples_per_s"] > 0
    assert all(r["samples_per_s"] > 0 for r in result.history)


class _Plateau(torch.nn.Module):
    """A model whose real rate–distortion stops improving after epoch 2 (its rd_point
    reconstruction freezes), while its training loss keeps falling."""

    def __init__(self, d=8):
        super().__init__()
        self.inner = _model(d=d)
        self.calls = 0

    def train_terms(self, x):
        return self.inner.train_terms(x)

    def rd_point(self, x):
        self.calls += 1
        return torch.zeros_like(x) + 0.5 * (self.calls <= 2), 4.0


def test_rd_stopping_stops_on_the_real_rate_distortion():
    cfg = TrainConfig(epochs=40, batch_size=32, patience=3, rd_stopping=True)
    model = _Plateau()
    result = Trainer(cfg).fit(model, _data(), target_bits=0.5)  # on, even under a rate target
    assert result.stopped_early and result.epochs_run < 40
    assert {"val_rd_score", "val_rd_mse", "val_rd_bits"} <= set(result.history[0])
    assert result.summary()["val_rd"]["val_rd_bits"] == 4.0
    # off (the default): the same model runs every epoch under the rate target
    plain = Trainer(TrainConfig(epochs=6, batch_size=32, patience=1)).fit(
        _Plateau(), _data(), target_bits=0.5
    )
    assert plain.epochs_run == 6 and "val_rd_score" not in plain.history[0]


def test_new_fields_stay_out_of_saved_configs_at_their_neutral_values():
    """Older models' saved configs (and content hashes) do not change (NeutralFields)."""
    old = TrainConfig().model_dump(mode="json")
    assert "sample_budget" not in old and "rd_stopping" not in old
    on = TrainConfig(sample_budget=10, rd_stopping=True).model_dump(mode="json")
    assert on["sample_budget"] == 10 and on["rd_stopping"] is True
    assert TrainConfig.model_validate(on) == TrainConfig(sample_budget=10, rd_stopping=True)
    assert TrainConfig.model_validate(old) == TrainConfig()
