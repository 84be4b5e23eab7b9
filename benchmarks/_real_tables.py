"""Real tables, lossless and error-bounded: `columnar` against the general and table peers
(``benchmarks/tables.py --real``; issue 16).

Tables: scikit-learn's bundled digits, wine, breast_cancer, diabetes and iris (features plus
the target as a last column), every statsmodels dataset with at least 100 rows except
``randhie`` (the issue's held-out table: ``--held-out`` adds it, reported apart), and the
synthetic family table (``simulate_table(seed=0)``: NaN-heavy, constant and duplicate columns).
statsmodels frames go through a CSV file and :func:`ratecraft.data.io.read_csv`, as a user's
table would: text columns become categories (their labels ride in the container's metadata).

Raw bytes: the table's float64 values (samples × features; text as category indices), 8 bytes
a cell. The general peers (lzma -9e, zstd -19, bzip2 -9) get those bytes both row-major and
column-major and are credited with the smaller; Parquet (pyarrow, zstd level 19, dictionary
encoding on) gets the float64 columns. Ours is the whole `.rcz` container, headers included.

Error-bounded: at relative bounds 1e-2 / 1e-3 / 1e-4 of each column's value range (max − min
over its present values), `columnar` with ``bound="relative"``; every decoded value is checked
against its bound (a miss fails the run). SZ3 (abs mode, verified) gets each column as its own
1-D stream with that column's bound, or the whole table as one 2-D field with the smallest bound
— credited with the smaller, bytes of SZ3's own streams only (no container). `quant` gets the
smallest bound (one bound for the table) and `pca` the ratio `columnar` reached (it takes only
ratio budgets; its worst relative error is reported). Tables with missing values: the peers that
refuse NaN get the table with each missing value replaced by its column's mean, and pay nothing
for the missing mask.
"""

from __future__ import annotations

import bz2
import importlib
import io
import lzma
import math
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import zstandard

from ratecraft.codecs import decode, get_codec
from ratecraft.codecs.budget import Budget
from ratecraft.data.columns import column_types, types_summary
from ratecraft.data.io import read_data
from ratecraft.data.synthetic_table import simulate_table
from ratecraft.data.types import FeatureTable
from ratecraft.errors import BadInputError

SKLEARN = ("digits", "wine", "breast_cancer", "diabetes", "iris")
STATSMODELS = (
    "anes96", "cancer", "co2", "engel", "fair", "fertility", "grunfeld", "interest_inflation",
    "macrodata", "modechoice", "nile", "star98", "sunspots",
)  # fmt: skip
HELD_OUT = ("randhie",)
MIN_ROWS = 100
BOUNDS = (1e-2, 1e-3, 1e-4)


@dataclass
class Table:
    name: str
    source: str
    table: FeatureTable


def _sklearn(name: str) -> Table:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    x = np.column_stack([np.asarray(bunch.data, np.float64), np.asarray(bunch.target, np.float64)])
    names = [str(n).replace(" ", "_") for n in bunch.feature_names] + ["target"]
    return Table(name, "sklearn", FeatureTable(values=x, feature_names=names))


def _statsmodels(name: str) -> Table:
    frame = importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"{name}.csv")
        frame.to_csv(path, index=False)
        table = read_data(path)
    assert isinstance(table, FeatureTable)
    return Table(name, "statsmodels", table)


def load_tables(held_out: bool) -> list[Table]:
    out = [_sklearn(n) for n in SKLEARN]
    out += [_statsmodels(n) for n in STATSMODELS + (HELD_OUT if held_out else ())]
    out.append(Table("synthetic", "ratecraft", simulate_table(seed=0)))
    short = [t.name for t in out if t.table.n_samples < MIN_ROWS]
    assert not short, f"tables under {MIN_ROWS} rows: {short}"
    return out


# ---- peers ----------------------------------------------------------------------------------


def _general(x: np.ndarray) -> dict[str, int]:
    layouts = (np.ascontiguousarray(x).tobytes(), np.ascontiguousarray(x.T).tobytes())
    coders = {
        "lzma -9e": lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME),
        "zstd -19": lambda b: zstandard.ZstdCompressor(level=19).compress(b),
        "bzip2 -9": lambda b: bz2.compress(b, 9),
    }
    return {k: min(len(f(b)) for b in layouts) for k, f in coders.items()}


def _parquet(table: FeatureTable) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [f"{i}_{n}" for i, n in enumerate(table.feature_names or [])]
    arrow = pa.table({n: table.values[:, i] for i, n in enumerate(names)})
    buf = io.BytesIO()
    pq.write_table(arrow, buf, compression="zstd", compression_level=19)
    return len(buf.getvalue())


def _filled(x: np.ndarray) -> np.ndarray:
    out = x.copy()
    for j in range(x.shape[1]):
        col = out[:, j]
        bad = ~np.isfinite(col)
        if bad.any():
            col[bad] = float(np.mean(col[~bad])) if (~bad).any() else 0.0
    return out


def _sz3_bytes(x: np.ndarray, bounds: np.ndarray) -> tuple[int, float]:
    """SZ3's smaller size (per-column streams or one 2-D field) and its worst error / bound."""
    from numcodecs_wasm_sz3 import Sz3

    def code(a: np.ndarray, eb: float) -> tuple[int, np.ndarray]:
        if eb <= 0:
            return a.nbytes, a
        c = Sz3(eb_mode="abs", eb_abs=float(eb))
        blob = np.asarray(c.encode(np.ascontiguousarray(a))).tobytes()
        back = np.asarray(c.decode(np.frombuffer(blob, dtype=np.uint8))).reshape(a.shape)
        return len(blob), back

    per_col, back_cols = 0, np.empty_like(x)
    for j in range(x.shape[1]):
        n, back_cols[:, j] = code(x[:, j], bounds[j])
        per_col += n
    two_d, back_2d = code(x, float(bounds.min()))
    size, back = (per_col, back_cols) if per_col <= two_d else (two_d, back_2d)
    safe = np.where(bounds > 0, bounds, np.inf)
    return size, float((np.abs(back - x) / safe).max())


def _container(
    name: str, table: FeatureTable, budget: Budget, **config: Any
) -> tuple[int, FeatureTable, float, float]:
    """Container bytes, the decoded table, and encode (fit included) and decode seconds."""
    start = time.perf_counter()
    codec = get_codec(name, config or None).fit(table, budget)
    blob = codec.encode(table)
    mid = time.perf_counter()
    back = decode(blob)
    assert isinstance(back, FeatureTable)
    return len(blob), back, mid - start, time.perf_counter() - mid


def _ranges(x: np.ndarray) -> np.ndarray:
    out = []
    for col in x.T:
        ok = col[np.isfinite(col)]
        out.append(float(ok.max() - ok.min()) if ok.size else 0.0)
    return np.asarray(out)


# ---- runs -----------------------------------------------------------------------------------


def lossless_row(t: Table) -> dict[str, Any]:
    x = np.asarray(t.table.values, np.float64)
    raw = x.nbytes
    ours, back, enc_s, dec_s = _container("columnar", t.table, Budget(lossless=True))
    exact = np.array_equal(back.values.view(np.uint64), x.view(np.uint64))
    assert exact, f"{t.name}: columnar lossless is not bit-exact"
    peers = {**_general(x), "parquet-zstd": _parquet(t.table)}
    best_name = min(("lzma -9e", "zstd -19", "parquet-zstd"), key=lambda k: peers[k])
    return {
        "table": t.name,
        "source": t.source,
        "shape": list(x.shape),
        "column_types": types_summary(column_types(t.table)),
        "raw_bytes": raw,
        "columnar_bytes": ours,
        "peer_bytes": peers,
        "ratios": {"columnar": raw / ours, **{k: raw / v for k, v in peers.items()}},
        "best_peer": best_name,
        "gain_vs_best": peers[best_name] / ours,
        "bit_exact": exact,
        "encode_s": enc_s,
        "decode_s": dec_s,
        "cells_per_s_encode": x.size / max(enc_s, 1e-9),
    }


def bounded_rows(t: Table) -> list[dict[str, Any]]:
    x = np.asarray(t.table.values, np.float64)
    raw = x.nbytes
    ranges = _ranges(x)
    filled = _filled(x)
    out = []
    for rel in BOUNDS:
        bounds = rel * ranges
        ours, back, _, _ = _container("columnar", t.table, Budget(max_error=rel), bound="relative")
        y = back.values
        same_missing = np.array_equal(np.isnan(y), np.isnan(x))
        ok = np.isfinite(x)
        err = np.abs(y - x)
        within = bool(same_missing and (err[ok] <= np.broadcast_to(bounds, x.shape)[ok]).all())
        assert within, f"{t.name} @ {rel:g}: a value outside its bound"
        sz3, sz3_excess = _sz3_bytes(filled, bounds)
        row: dict[str, Any] = {
            "table": t.name,
            "relative_bound": rel,
            "raw_bytes": raw,
            "columnar_bytes": ours,
            "all_within_bound": within,
            "sz3_bytes": sz3,
            "sz3_worst_error_over_bound": sz3_excess,
            "ratios": {"columnar": raw / ours, "sz3": raw / sz3},
            "gain_vs_sz3": sz3 / ours,
        }
        positive = bounds[bounds > 0]
        qt = FeatureTable(values=filled, feature_names=t.table.feature_names)
        try:  # quant takes one bound for the table: the smallest column's
            qb, _, _, _ = _container("quant", qt, Budget(max_error=float(positive.min())))
            row["ratios"]["quant"] = raw / qb
        except (BadInputError, ValueError) as exc:
            row["quant_error"] = " ".join(str(exc).split())[:120]
        try:
            pt = FeatureTable(values=filled, feature_names=t.table.feature_names)
            pb, pback, _, _ = _container("pca", pt, Budget(ratio=raw / ours))
            safe = np.where(ranges > 0, ranges, np.inf)
            row["ratios"]["pca"] = raw / pb
            row["pca_worst_relative_error"] = float((np.abs(pback.values - filled) / safe).max())
        except BadInputError as exc:  # pca cannot reach every ratio: say so in the row
            row["pca_error"] = " ".join(str(exc).split())[:120]
        out.append(row)
    return out


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else math.nan


# ---- the run --------------------------------------------------------------------------------


def _r(v: float) -> str:
    return f"{v:.3g}"


def print_lossless(rows: list[dict[str, Any]]) -> None:
    peers = ("lzma -9e", "zstd -19", "bzip2 -9", "parquet-zstd")
    print("\n### lossless (real ratio: raw float64 bytes / compressed bytes)\n")
    print(
        "| table | rows × cols | columnar | "
        + " | ".join(peers)
        + " | gain vs best of lzma/zstd/parquet |"
    )
    print("|---|---|---|" + "---|" * len(peers) + "---|")
    for r in rows:
        cells = " | ".join(_r(r["ratios"][p]) for p in peers)
        shape = f"{r['shape'][0]} × {r['shape'][1]}"
        print(
            f"| {r['table']} | {shape} | {_r(r['ratios']['columnar'])} | {cells} | "
            f"{r['gain_vs_best']:.3f} |"
        )


def print_bounded(rows: list[dict[str, Any]]) -> None:
    print("\n### error-bounded (relative to each column's range; real ratio)\n")
    print("| table | bound | columnar | SZ3 | quant | pca (its worst rel. error) | gain vs SZ3 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ratios = r["ratios"]
        pca = (
            f"{_r(ratios['pca'])} ({_r(r['pca_worst_relative_error'])})" if "pca" in ratios else "-"
        )
        quant = _r(ratios["quant"]) if "quant" in ratios else "-"
        print(
            f"| {r['table']} | {r['relative_bound']:g} | {_r(ratios['columnar'])} | "
            f"{_r(ratios['sz3'])} | {quant} | {pca} | {r['gain_vs_sz3']:.3f} |"
        )


def verdicts(lossless: list[dict[str, Any]], bounded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in lossless:
        out.append({
            "check": f"{r['table']}: lossless columnar >= best of lzma/zstd/parquet",
            "pass": r["gain_vs_best"] >= 1.0,
            "detail": f"{r['gain_vs_best']:.3f}x of {r['best_peer']}",
        })  # fmt: skip
    for r in bounded:
        out.append({
            "check": f"{r['table']} @ {r['relative_bound']:g}: all within bound, ratio > SZ3",
            "pass": bool(r["all_within_bound"] and r["gain_vs_sz3"] > 1.0),
            "detail": f"{r['gain_vs_sz3']:.3f}x of SZ3",
        })  # fmt: skip
    return out


def run(held_out: bool) -> dict[str, Any]:
    """Every table, both modes; prints the markdown tables and returns the JSON document."""
    tables = load_tables(held_out)
    lossless = [lossless_row(t) for t in tables]
    bounded = [row for t in tables for row in bounded_rows(t)]
    print_lossless(lossless)
    print_bounded(bounded)
    checks = verdicts(lossless, bounded)
    gain = geomean([r["gain_vs_best"] for r in lossless if r["table"] not in HELD_OUT])
    sz3_gain = {
        f"{b:g}": geomean([r["gain_vs_sz3"] for r in bounded if r["relative_bound"] == b])
        for b in BOUNDS
    }
    print(f"\ngeometric-mean lossless gain vs the best of lzma/zstd/parquet: {gain:.3f}x")
    print("geometric-mean gain vs SZ3: " + ", ".join(f"{k}: {v:.3f}x" for k, v in sz3_gain.items()))
    print()
    for v in checks:
        print(f"{'PASS' if v['pass'] else 'FAIL'}: {v['check']} — {v['detail']}")
    return {
        "raw": "float64 values as the table holds them (samples × features, text as indices)",
        "tables": [
            {"name": t.name, "source": t.source, "shape": list(t.table.values.shape)}
            for t in tables
        ],
        "lossless": lossless,
        "bounded": bounded,
        "geomean_lossless_gain_vs_best_peer": gain,
        "geomean_gain_vs_sz3": sz3_gain,
        "verdicts": checks,
    }
