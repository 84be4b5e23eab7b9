"""Readers and writers for recordings and feature tables, one module per format.

Use :func:`open_source` / :func:`open_sink` to stream (chunked sources and sinks, constant
memory), :func:`read_data` / :func:`write_data` for data in memory, both picking the format from
the path, and :func:`describe` for a summary.
"""

from ratecraft.data.io.describe import describe
from ratecraft.data.io.dispatch import (
    READERS,
    WRITERS,
    expand_inputs,
    open_sink,
    open_source,
    read_data,
    write_data,
)

__all__ = [
    "READERS",
    "WRITERS",
    "describe",
    "expand_inputs",
    "open_sink",
    "open_source",
    "read_data",
    "write_data",
]
