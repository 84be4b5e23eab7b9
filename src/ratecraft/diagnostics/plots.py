"""The plot of :func:`ratecraft.diagnostics.diagnose`'s per-category table, as one PNG.

Three panels side by side, one bar per category: the normalized MSE on a log axis (a category
whose error is orders of magnitude above the others stands out at once), the allocation the
model gave it (latent dims, and bits when there was a bit budget), and for VQ-VAE codebooks the
utilization and dead-code fraction of every level. Drawn with Matplotlib's Agg backend, written
atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ratecraft.errors import BadInputError
from ratecraft.report.plots import PathLike, _figure, _save

__all__ = ["plot_diagnostics"]


def plot_diagnostics(diag: dict[str, Any], path: PathLike) -> Path:
    """Draw the per-category error, allocation and codebook health of ``diag`` into ``path``."""
    rows = diag.get("categories") or []
    if not rows:
        raise BadInputError("diagnostics hold no categories to plot")
    names = [str(r["category"]) for r in rows]
    x = np.arange(len(rows))
    has_codebooks = any(r.get("codebooks") for r in rows)
    panels = 3 if has_codebooks else 2
    fig = _figure(4.2 * panels, 3.6)
    axes = fig.subplots(1, panels)

    err = axes[0]
    mse = np.array([max(float(r["mse_normalized"]), 1e-12) for r in rows])
    err.bar(x, mse, color="tab:red")
    err.set_yscale("log")
    err.set_title(f"normalized MSE (worst/best {diag.get('worst_best_error_ratio', 0):.3g}x)")

    alloc = axes[1]
    dims = [r.get("latent_dims") or 0 for r in rows]
    alloc.bar(x - 0.2, dims, width=0.4, label="latent dims", color="tab:blue")
    alloc.set_ylabel("latent dims")
    bits = [r.get("bits") for r in rows]
    if any(b is not None for b in bits):
        twin = alloc.twinx()
        twin.bar(x + 0.2, [b or 0.0 for b in bits], width=0.4, color="tab:orange")
        twin.set_ylabel("bits per sample", color="tab:orange")
    alloc.set_title("allocation")

    if has_codebooks:
        cb = axes[2]
        levels = max(len(r.get("codebooks") or []) for r in rows)
        width = 0.8 / max(levels, 1)
        for level in range(levels):
            util = [
                (r.get("codebooks") or [])[level]["utilization"]
                if level < len(r.get("codebooks") or [])
                else 0.0
                for r in rows
            ]
            cb.bar(x + (level - (levels - 1) / 2) * width, util, width=width, label=f"L{level}")
        dead = [
            max((h["dead_fraction"] for h in r.get("codebooks") or []), default=0.0) for r in rows
        ]
        cb.plot(x, dead, "kx", label="max dead")
        cb.set_ylim(0, 1.05)
        cb.axhline(0.9, color="grey", lw=0.8, ls="--")
        cb.set_title("codebook utilization")
        cb.legend(fontsize=7)

    for ax in axes:
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    fig.suptitle(
        f"{diag.get('codec', '?')}: {diag.get('ratio', 0):.2f}x, "
        f"{diag.get('bits_per_sample', 0):.1f} bits/sample"
    )
    return _save(fig, path)
