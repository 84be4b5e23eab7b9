"""Codebook health for `vqvae`: k-means initialization on the whole table and dead-code pruning.

vector-quantize-pytorch initializes a codebook by k-means on the *first batch* and replaces a
code whose EMA count per batch falls under ``threshold_ema_dead_code``. On real tables neither
is enough: a batch of 128 rows cannot seed a codebook of 256 codes (duplicates are sampled), a
count threshold of 2 per batch marks every code of a 256-code book as dead when batches hold 128
rows (so codes churn until the last step), and a group of a few discrete columns (binary
indicators, small counts) has fewer distinct vectors than its codebook has codes, so no training
can use them all. Tiny pure helpers:

- :func:`dead_code_threshold` — the library's EMA threshold for a usage *share*: a code is
  replaced when it is chosen at under ``share`` × its fair rate ``batch/K``;
- :func:`kmeans_init_` — k-means on up to ``max_rows`` rows of the training data (all of them on
  a table), through the library's own ``init_embed_``;
- :func:`prune_plan` — the codes to keep: repeatedly drop those whose share of the assignments
  is below ``min_share / K'`` of the remaining ``K'`` (the definition
  :func:`~ratecraft.metrics.codebook.dead_code_fraction` measures), keeping at least one;
- :func:`shrink_` — a quantizer reduced to the kept codes (EMA buffers included), so its
  tokens index only live codes and the entropy coder's tables shrink with it.

Pruning moves the few rows that chose a dropped code to their nearest kept one, level by level
(later levels see the residuals the pruned earlier ones leave), so the model's reconstruction
changes only on those rows; the codec measures and reports codebook health before and after.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["dead_code_threshold", "kmeans_init_", "prune_plan", "shrink_"]


def dead_code_threshold(share: float, batch_size: int, codebook_size: int) -> float:
    """EMA count per batch under which a code is replaced: ``share · batch / K``."""
    return float(share) * max(int(batch_size), 1) / max(int(codebook_size), 1)


@torch.no_grad()
def kmeans_init_(quantizer: nn.Module, x: Tensor, *, max_rows: int = 20_000, seed: int = 0) -> None:
    """Initialize a vector-quantize-pytorch ``VectorQuantize`` by k-means on rows ``x``
    (a seeded subset of ``max_rows`` when there are more); a no-op once initialized."""
    book = quantizer._codebook  # the library's Euclidean codebook
    if bool(book.initted):
        return
    if x.shape[0] > max_rows:
        gen = torch.Generator().manual_seed(seed)
        x = x[torch.randperm(x.shape[0], generator=gen)[:max_rows]]
    book.init_embed_(x[None].to(book.embed.dtype))


def prune_plan(counts: np.ndarray, min_share: float = 0.1) -> np.ndarray:
    """Indices (ascending) of the codes to keep given their assignment ``counts``.

    Drops every code whose share is below ``min_share / K'`` for the current ``K'`` kept codes,
    again until none is (dropping codes raises the bar of the rest), never below one code (the
    most used). ``min_share = 0`` keeps exactly the codes used at least once.
    """
    c = np.asarray(counts, dtype=np.float64).ravel()
    keep = np.arange(c.size)
    if c.size == 0 or c.sum() <= 0:
        return keep[:1]
    while True:
        share = c[keep] / c[keep].sum()
        live = share >= min_share / keep.size if min_share > 0 else c[keep] > 0
        live &= c[keep] > 0
        if live.all():
            return keep
        if not live.any():
            return keep[[int(np.argmax(c[keep]))]]
        keep = keep[live]


@torch.no_grad()
def shrink_(quantizer: nn.Module, kept: np.ndarray, make: Callable[[int], nn.Module]) -> nn.Module:
    """A new quantizer from ``make(len(kept))`` holding only the ``kept`` codes of ``quantizer``
    (codebook, EMA sums and counts); initialized, so k-means never runs on it again."""
    idx = torch.as_tensor(np.asarray(kept, dtype=np.int64))
    new = make(len(idx))
    old_state = quantizer.state_dict()
    state = new.state_dict()
    for name in ("_codebook.embed", "_codebook.embed_avg", "_codebook.cluster_size"):
        state[name] = old_state[name][:, idx].clone()
    state["_codebook.initted"] = torch.tensor(True)
    new.load_state_dict(state)
    return new
