"""Where a training run's per-epoch metrics go besides ``metrics.jsonl``: TensorBoard, MLflow.

``tracking="auto"`` writes TensorBoard event files (``<run>/tensorboard/``) when the
``tensorboard`` package is installed, and logs to MLflow when ``mlflow`` is installed *and*
``MLFLOW_TRACKING_URI`` is set (so a plain fit never creates an MLflow store by surprise).
Naming a tracker explicitly makes it required: a missing package is a
:class:`~ratecraft.errors.MissingExtraError` naming the ``[track]`` extra. ``"none"`` keeps only
the JSONL file.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Literal

from ratecraft.errors import MissingExtraError

__all__ = ["Trackers", "Tracking"]

log = logging.getLogger(__name__)
Tracking = Literal["auto", "none", "tensorboard", "mlflow"]


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class Trackers:
    """The trackers of one run; :meth:`log` sends a record's numbers to each of them.

    MLflow is driven through an explicit client (never MLflow's process-wide "current run" or
    tracking URI), so one run's tracking never leaks into the next fit in the same process. Its
    store is ``mlflow_uri``, else ``$MLFLOW_TRACKING_URI``, else (when MLflow is asked for by
    name) ``mlflow.db`` in the run folder; a run already active in the caller (a notebook's
    ``mlflow.start_run()``) receives the metrics instead when no URI is given.
    """

    def __init__(
        self,
        run_dir: str | Path | None,
        tracking: Tracking = "auto",
        *,
        mlflow_uri: str | None = None,
        experiment: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self._tb: Any = None
        self._mlflow: Any = None  # an MlflowClient
        self._run_id: str | None = None
        self._own_run = False  # a run this tracker started (and so ends)
        if run_dir is None or tracking == "none":
            return
        uri = mlflow_uri or os.environ.get("MLFLOW_TRACKING_URI") or None
        want_tb = tracking == "tensorboard" or (tracking == "auto" and _installed("tensorboard"))
        want_mlflow = tracking == "mlflow" or (
            tracking == "auto" and _installed("mlflow") and uri is not None
        )
        if want_tb:
            if not _installed("tensorboard"):
                raise MissingExtraError("tensorboard", "track")
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))
        if want_mlflow:
            if not _installed("mlflow"):
                raise MissingExtraError("mlflow", "track")
            self._start_mlflow(Path(run_dir), uri, experiment, params or {})

    def _start_mlflow(
        self, run_dir: Path, uri: str | None, experiment: str | None, params: dict[str, Any]
    ) -> None:
        import mlflow
        from mlflow import MlflowClient

        active = mlflow.active_run() if uri is None else None
        if active is not None:
            self._mlflow = MlflowClient(tracking_uri=mlflow.get_tracking_uri())
            self._run_id = active.info.run_id
        else:
            if uri is None:
                run_dir.mkdir(parents=True, exist_ok=True)
                uri = f"sqlite:///{(run_dir / 'mlflow.db').resolve()}"
            client = MlflowClient(tracking_uri=uri)
            name = experiment or "Default"
            exp = client.get_experiment_by_name(name)
            exp_id = exp.experiment_id if exp is not None else client.create_experiment(name)
            self._run_id = client.create_run(exp_id, run_name=run_dir.name).info.run_id
            self._mlflow = client
            self._own_run = True
        for key, value in params.items():
            self._mlflow.log_param(self._run_id, key, str(value)[:250])

    @property
    def active(self) -> list[str]:
        return [n for n, t in (("tensorboard", self._tb), ("mlflow", self._mlflow)) if t]

    def log(self, record: dict[str, Any], step: int | None = None) -> None:
        """Log every finite numeric field of ``record`` at ``step`` (default
        ``record["epoch"]``)."""
        step = int(record.get("epoch", 0)) if step is None else int(step)
        numbers = {
            k: float(v)
            for k, v in record.items()
            if k != "epoch"
            and isinstance(v, int | float)
            and not isinstance(v, bool)
            and math.isfinite(v)
        }
        if self._tb is not None:
            for key, value in numbers.items():
                self._tb.add_scalar(key, value, step)
            self._tb.flush()
        if self._mlflow is not None and numbers:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            self._mlflow.log_batch(
                self._run_id, metrics=[Metric(k, v, now, step) for k, v in numbers.items()]
            )

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._mlflow is not None and self._own_run:
            self._mlflow.set_terminated(self._run_id)
        self._mlflow = None
        self._own_run = False
