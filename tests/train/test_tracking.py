"""Trainer metrics reach TensorBoard when it is installed; explicit trackers need their package."""

import importlib.util

import numpy as np
import pytest
import torch
from torch import nn

from ratecraft.errors import MissingExtraError
from ratecraft.train.tracking import Trackers
from ratecraft.train.trainer import Trainer


class _Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def train_terms(self, x):
        return self.lin(x), x.new_zeros(()), x.new_zeros(())


def test_tensorboard_event_files_hold_every_epoch(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    torch.manual_seed(0)
    data = np.random.default_rng(0).normal(size=(64, 4))
    trainer = Trainer({"epochs": 3, "tracking": "tensorboard"}, metrics_path=tmp_path / "m.jsonl")
    trainer.fit(_Linear(), data)
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    steps = [e.step for e in acc.Scalars("train_distortion")]
    assert steps == [1, 2, 3]
    assert len((tmp_path / "m.jsonl").read_text().splitlines()) == 3


def test_none_and_no_run_dir_track_nothing(tmp_path):
    assert Trackers(tmp_path, "none").active == []
    assert Trackers(None, "tensorboard").active == []


def test_missing_package_names_the_extra(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a)
    )
    with pytest.raises(MissingExtraError, match=r"ratecraft\[track\]"):
        Trackers(tmp_path, "mlflow")
    assert "mlflow" not in Trackers(tmp_path, "auto").active


def test_mlflow_run_holds_every_epoch(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    import mlflow
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    torch.manual_seed(0)
    data = np.random.default_rng(0).normal(size=(64, 4))
    trainer = Trainer({"epochs": 3, "tracking": "mlflow"}, metrics_path=tmp_path / "m.jsonl")
    trainer.fit(_Linear(), data)
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("Default").experiment_id])
    history = client.get_metric_history(run.info.run_id, "train_distortion")
    assert [m.step for m in history] == [1, 2, 3]
    assert client.get_run(run.info.run_id).info.status == "FINISHED"
    assert mlflow.active_run() is None  # no process-wide MLflow state is left behind


def test_mlflow_by_name_without_a_uri_keeps_a_store_in_the_run_folder(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    trackers = Trackers(tmp_path / "run", "mlflow", experiment="exp", params={"lr": 0.1})
    trackers.log({"loss": 1.0, "nan": float("nan")}, step=3)
    trackers.close()
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'run' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("exp").experiment_id])
    assert run.data.metrics == {"loss": 1.0} and run.data.params == {"lr": "0.1"}
