"""Per-category diagnostics of a trained learned table codec, as a dict and as markdown.

:func:`diagnose` codes the table through the real bitstream and reports, per category
(feature group): its features, allocated latent dims / bits / codebook sizes, MSE in
normalized units and in original units (and the mean per-feature NMSE in original units),
the error relative to the best category, and for the VQ-VAE codebook utilization, dead codes
and perplexity per level. With a ``target`` it adds the semantic preservation check
(:mod:`ratecraft.diagnostics.semantic`) on a seeded split of the rows. The summary carries the
worst/best category error ratio, the real bits per sample and ratio, and the estimate.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ratecraft.data.clean import apply_cleaning
from ratecraft.data.types import FeatureTable
from ratecraft.errors import BadInputError
from ratecraft.metrics.codebook import codebook_health
from ratecraft.metrics.table import per_feature_nmse

__all__ = ["diagnose", "markdown"]


def _category_rows(codec: Any, table: FeatureTable, rec: FeatureTable) -> list[dict[str, Any]]:
    report, normalizer = codec._fitted()
    kept, missing = apply_cleaning(table, report)
    rec_kept = np.asarray(rec.values, np.float64)[:, report.kept]
    valid = ~missing.mask() & np.isfinite(rec_kept)
    z = normalizer.transform(kept)
    with np.errstate(over="ignore", invalid="ignore"):
        z_hat = normalizer.transform(np.where(valid, rec_kept, kept))
    nmse = per_feature_nmse(np.where(valid, kept, np.nan), np.where(valid, rec_kept, 0.0))
    alloc = {g.name: g for g in codec.allocation.groups} if codec.allocation else {}
    tokens = codec.tokens(table.values) if hasattr(codec, "tokens") else {}
    sizes = codec.codebook_sizes() if hasattr(codec, "codebook_sizes") else {}
    names = report.kept_names
    rows = []
    for gname in codec.layout.names:
        cols = codec.layout.indices(gname)
        v = valid[:, cols]
        g = alloc.get(gname)
        row: dict[str, Any] = {
            "category": gname,
            "features": len(cols),
            "feature_names": [names[i] for i in cols],
            "latent_dims": g.latent_dims if g else None,
            "bits": g.bits if g else None,
            "codebook_sizes": sizes.get(gname, []),
            "mse_normalized": float(((z - z_hat)[:, cols][v] ** 2).mean()),
            "mse_original": float(((kept - rec_kept)[:, cols][v] ** 2).mean()),
            "nmse_original": float(np.nanmean(nmse[cols])),
        }
        if gname in tokens:
            row["codebooks"] = [
                codebook_health(tokens[gname][:, level], k) for level, k in enumerate(sizes[gname])
            ]
        rows.append(row)
    best = min(r["mse_normalized"] for r in rows)
    for r in rows:
        r["relative_to_best"] = r["mse_normalized"] / best if best > 0 else math.inf
    return rows


def diagnose(
    codec: Any,
    table: FeatureTable,
    *,
    target: np.ndarray | None = None,
    test_fraction: float = 0.3,
    seed: int = 0,
) -> dict[str, Any]:
    """Diagnostics of ``codec`` (fitted or loaded) on ``table``; see the module docstring."""
    if not isinstance(table, FeatureTable):
        raise BadInputError("diagnose needs a FeatureTable")
    if getattr(codec, "layout", None) is None:
        raise BadInputError("diagnose needs a fitted or loaded learned table codec")
    blob, stats = codec.encode_with_stats(table)
    rec = codec.decode(blob)
    rows = _category_rows(codec, table, rec)
    errors = [r["mse_normalized"] for r in rows]
    levels = [h for r in rows for h in r.get("codebooks", [])]
    out: dict[str, Any] = {
        "codec": codec.name,
        "samples": table.n_samples,
        "parameters": codec.parameter_count(),
        "container_bytes": stats.container_bytes,
        "ratio": stats.ratio,
        "bits_per_sample": stats.bits_per_sample,  # per stored value, as everywhere
        "estimated_bits_per_sample": stats.estimated_bits_per_sample or 0.0,
        "worst_best_error_ratio": max(errors) / min(errors) if min(errors) > 0 else math.inf,
        "min_codebook_utilization": min((h["utilization"] for h in levels), default=None),
        "max_dead_fraction": max((h["dead_fraction"] for h in levels), default=None),
        "dropped_features": codec.report.reasons(),
        "categories": rows,
    }
    if target is not None:
        from ratecraft.diagnostics.semantic import semantic_preservation

        y = np.asarray(target)
        if y.shape[0] != table.n_samples:
            raise BadInputError(f"target has {y.shape[0]} values for {table.n_samples} samples")
        perm = np.random.default_rng(seed).permutation(table.n_samples)
        n_test = max(1, round(test_fraction * table.n_samples))
        test, train = np.sort(perm[:n_test]), np.sort(perm[n_test:])

        def rows_of(idx: np.ndarray) -> FeatureTable:
            return FeatureTable(table.values[idx], list(table.feature_names or []), table.families)

        out["semantic"] = semantic_preservation(
            codec, rows_of(train), y[train], rows_of(test), y[test], seed=seed
        )
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "/".join(_fmt(x) for x in v) or "—"
    return str(v)


def markdown(diag: dict[str, Any]) -> str:
    """The per-category table (and semantic check) of :func:`diagnose` as markdown."""
    head = (
        "| category | features | dims | bits | codebooks | MSE (norm.) | MSE (orig.) "
        "| NMSE (orig.) | × best | utilization | dead | perplexity |"
    )
    lines = [
        f"**{diag['codec']}**: {diag['samples']} samples, ratio {diag['ratio']:.2f}, "
        f"{diag['bits_per_sample']:.3f} bits/sample real, "
        f"{diag['estimated_bits_per_sample']:.3f} estimated (per stored value), "
        f"{diag['parameters']} parameters, "
        f"worst/best category error {diag['worst_best_error_ratio']:.3g}",
        "",
        head,
        "|" + "---|" * 12,
    ]
    for r in diag["categories"]:
        books = r.get("codebooks", [])
        lines.append(
            "| "
            + " | ".join(
                [
                    r["category"],
                    str(r["features"]),
                    _fmt(r["latent_dims"]),
                    _fmt(r["bits"]),
                    _fmt(r["codebook_sizes"]),
                    _fmt(r["mse_normalized"]),
                    _fmt(r["mse_original"]),
                    _fmt(r["nmse_original"]),
                    _fmt(r["relative_to_best"]),
                    _fmt([h["utilization"] for h in books]),
                    _fmt([h["dead_codes"] for h in books]),
                    _fmt([h["perplexity"] for h in books]),
                ]
            )
            + " |"
        )
    sem = diag.get("semantic")
    if sem:
        lines += [
            "",
            f"Semantic preservation ({sem['task']}, {sem['metric']}): original "
            f"{sem['score_original']:.4f}, reconstructed {sem['score_reconstructed']:.4f}",
            "",
            "| category | importance | score with only this category reconstructed |",
            "|---|---|---|",
        ]
        for gname, g in sem["groups"].items():
            lines.append(
                f"| {gname} | {g['importance']:.4f} | {g['score_group_reconstructed']:.4f} |"
            )
    return "\n".join(lines) + "\n"
