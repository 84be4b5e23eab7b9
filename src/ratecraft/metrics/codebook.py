"""Codebook health: how many codes a vector quantizer really uses.

A VQ codebook of size K promises up to log2(K) bits per token; codes that are never chosen
waste that promise (the system this replaces had 20–33% of its codes used and 69% dead). These
pure functions take the token indices (or their histogram) of one codebook level:

- :func:`code_counts` — assignments per code, ``0..K-1``;
- :func:`utilization` — the fraction of codes used at least once;
- :func:`dead_code_fraction` — the fraction of codes used less than ``min_share`` × the uniform
  share ``1/K`` (default 0.1: a code chosen at under a tenth of its fair rate is as good as dead,
  even if it was hit once);
- :func:`perplexity` — ``2^H`` of the empirical code distribution: K when all codes are equally
  used, 1 when one code takes everything.
"""

from __future__ import annotations

import math

import numpy as np

from ratecraft.errors import BadInputError

__all__ = ["code_counts", "codebook_health", "dead_code_fraction", "perplexity", "utilization"]


def code_counts(indices: np.ndarray, codebook_size: int) -> np.ndarray:
    """Histogram of token ``indices`` over ``0..codebook_size-1`` (int64)."""
    if not (isinstance(codebook_size, int | np.integer) and codebook_size >= 1):
        raise BadInputError(f"codebook_size must be an integer ≥ 1, got {codebook_size!r}")
    idx = np.asarray(indices).ravel()
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise BadInputError(f"code indices must be integers, got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= codebook_size):
        raise BadInputError(f"code indices must lie in 0..{codebook_size - 1}")
    return np.bincount(idx.astype(np.int64), minlength=int(codebook_size))


def _counts(counts: np.ndarray) -> np.ndarray:
    c = np.asarray(counts, dtype=np.float64).ravel()
    if c.size == 0 or not np.isfinite(c).all() or (c < 0).any():
        raise BadInputError("code counts must be a non-empty array of finite values ≥ 0")
    return c


def utilization(counts: np.ndarray) -> float:
    """Fraction of codes with at least one assignment."""
    c = _counts(counts)
    return float((c > 0).mean())


def dead_code_fraction(counts: np.ndarray, min_share: float = 0.1) -> float:
    """Fraction of codes whose share of assignments is below ``min_share / K``.

    With no assignments at all every code is dead (1.0).
    """
    if not (math.isfinite(min_share) and 0.0 <= min_share <= 1.0):
        raise BadInputError(f"min_share must be in [0, 1], got {min_share}")
    c = _counts(counts)
    total = c.sum()
    if total == 0:
        return 1.0
    share = c / total
    dead = share < min_share / c.size if min_share > 0 else c == 0
    return float(dead.mean())


def perplexity(counts: np.ndarray) -> float:
    """``2^H`` of the empirical code distribution (1.0 for no or one used code)."""
    c = _counts(counts)
    total = c.sum()
    if total == 0:
        return 1.0
    p = c[c > 0] / total
    return float(2.0 ** (-(p * np.log2(p)).sum()))


def codebook_health(indices: np.ndarray, codebook_size: int, min_share: float = 0.1) -> dict:
    """All three measures for one codebook level, plus its size and the token count."""
    c = code_counts(indices, codebook_size)
    return {
        "codebook_size": int(codebook_size),
        "tokens": int(c.sum()),
        "utilization": utilization(c),
        "dead_fraction": dead_code_fraction(c, min_share),
        "dead_codes": round(dead_code_fraction(c, min_share) * codebook_size),
        "perplexity": perplexity(c),
    }
