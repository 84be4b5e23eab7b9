"""Readers and writers for recordings and feature tables, one module per format.

Use :func:`read_data` / :func:`write_data`, which pick the format from the path, and
:func:`describe` for a summary.
"""

from ratecraft.data.io.describe import describe
from ratecraft.data.io.dispatch import READERS, WRITERS, read_data, write_data

__all__ = ["READERS", "WRITERS", "describe", "read_data", "write_data"]
