"""Diagnostics of trained learned table codecs: per-category errors, codebooks, semantics."""

from ratecraft.diagnostics.report import diagnose, markdown
from ratecraft.diagnostics.semantic import semantic_preservation

__all__ = ["diagnose", "markdown", "semantic_preservation"]
