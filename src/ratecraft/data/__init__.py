"""Data model, readers and writers, and synthetic generators."""

from ratecraft.data.types import Data, FeatureTable, Recording

__all__ = ["Data", "FeatureTable", "Recording"]
