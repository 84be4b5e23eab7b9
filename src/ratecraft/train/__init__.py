"""Training: one rate–distortion trainer for the learned codecs, safe checkpoints."""

from ratecraft.train.trainer import TrainConfig, Trainer, TrainResult, split_rows

__all__ = ["TrainConfig", "TrainResult", "Trainer", "split_rows"]
