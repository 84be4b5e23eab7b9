"""Online adaptation (``ratecraft adapt``; extra ``[online]`` for River's drift detectors):
per-chunk features, drift detection (ADWIN, Page-Hinkley), fine-tuning with replay and EWC,
promotion behind a gate and rollback on live quality, each step a registry event.
"""

from ratecraft.online.adapter import AdaptPolicy, OnlineAdapter, mean_sndr
from ratecraft.online.drift import DriftMonitor, DriftSignal
from ratecraft.online.features import FEATURES, chunk_features
from ratecraft.online.finetune import FinetuneConfig, can_finetune, finetune

__all__ = [
    "FEATURES",
    "AdaptPolicy",
    "DriftMonitor",
    "DriftSignal",
    "FinetuneConfig",
    "OnlineAdapter",
    "can_finetune",
    "chunk_features",
    "finetune",
    "mean_sndr",
]
