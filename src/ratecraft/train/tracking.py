"""Where a training run's per-epoch metrics go besides ``metrics.jsonl``: TensorBoard, MLflow.

``tracking="auto"`` writes TensorBoard event files (``<run>/tensorboard/``) when the
``tensorboard`` package is installed, and logs to MLflow when ``mlflow`` is installed *and*
``MLFLOW_TRACKING_URI`` is set (so a plain fit never creates an ``mlruns/`` folder by surprise).
Naming a tracker explicitly makes it required: a missing package is a
:class:`~ratecraft.errors.MissingExtraError` naming the ``[track]`` extra. ``"none"`` keeps only
the JSONL file.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any, Literal

from ratecraft.errors import MissingExtraError

__all__ = ["Trackers", "Tracking"]

log = logging.getLogger(__name__)
Tracking = Literal["auto", "none", "tensorboard", "mlflow"]


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class Trackers:
    """The trackers of one run; :meth:`log` sends a record's numbers to each of them."""

    def __init__(self, run_dir: str | Path | None, tracking: Tracking = "auto") -> None:
        self._tb: Any = None
        self._mlflow: Any = None
        if run_dir is None or tracking == "none":
            return
        want_tb = tracking == "tensorboard" or (tracking == "auto" and _installed("tensorboard"))
        mlflow_configured = bool(os.environ.get("MLFLOW_TRACKING_URI"))
        want_mlflow = tracking == "mlflow" or (
            tracking == "auto" and _installed("mlflow") and mlflow_configured
        )
        if want_tb:
            if not _installed("tensorboard"):
                raise MissingExtraError("tensorboard", "track")
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))
        if want_mlflow:
            if not _installed("mlflow"):
                raise MissingExtraError("mlflow", "track")
            import mlflow

            self._mlflow = mlflow
            if mlflow.active_run() is None:
                mlflow.start_run(run_name=Path(run_dir).name)

    @property
    def active(self) -> list[str]:
        return [n for n, t in (("tensorboard", self._tb), ("mlflow", self._mlflow)) if t]

    def log(self, record: dict[str, Any]) -> None:
        """Log every numeric field of ``record`` at step ``record["epoch"]``."""
        step = int(record.get("epoch", 0))
        numbers = {
            k: float(v)
            for k, v in record.items()
            if k != "epoch" and isinstance(v, int | float) and not isinstance(v, bool)
        }
        if self._tb is not None:
            for key, value in numbers.items():
                self._tb.add_scalar(key, value, step)
            self._tb.flush()
        if self._mlflow is not None:
            self._mlflow.log_metrics(numbers, step=step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
