"""Seeded synthetic data: probe recordings with spike ground truth, and feature tables.

Both generators are deterministic in their seed and realistic enough to benchmark codecs on; see
:mod:`ratecraft.data.synthetic_recording` and :mod:`ratecraft.data.synthetic_table`.
"""

from ratecraft.data.synthetic_recording import (
    LFP_BANDS_HZ,
    RecordingSimConfig,
    SpikeTruth,
    simulate_recording,
)
from ratecraft.data.synthetic_table import FAMILY_SIZES, TableSimConfig, simulate_table

__all__ = [
    "FAMILY_SIZES",
    "LFP_BANDS_HZ",
    "RecordingSimConfig",
    "SpikeTruth",
    "TableSimConfig",
    "simulate_recording",
    "simulate_table",
]
