"""Feature-table benchmark: the learned table codecs against classical codecs (issue 4).

Datasets: (a) ``simulate_table(seed=0)`` (families initial / summary / temporal, with constant,
NaN-heavy and duplicate columns) and (b) scikit-learn's bundled digits (one family per image
row), wine and diabetes (families from ``cluster_groups``, correlation clustering) and
breast_cancer (families ``mean`` / ``error`` / ``worst`` from the feature names).

NaN handling: the classical codecs refuse NaN, so every table is first cleaned with
``ratecraft.data.clean.clean_table`` (default config) and *all* codecs, learned and classical,
code the same cleaned table. The issue's checks on the synthetic table (category error ratio,
codebook health, compression levels) use the raw table and the codecs' default cleaning, as
the issue states them "at the default config".

For each table and target ratio R every codec is fitted with ``Budget(ratio=R)``; we report the
*real* ratio (raw bytes / container bytes, headers included), bits per sample (container bits /
stored values, i.e. per cell), per-family NMSE (mean over families, and worst / best family
ratio). Learned codecs run with ``allocation_strategy`` ``uniform`` and ``rd``. Every row runs
through ``ratecraft.bench.run_one`` and is a :class:`ratecraft.bench.RunRecord`; its
``strategy``, ``parameters`` and ``downstream`` figures are in its ``extra``. On the labelled
sets a LogisticRegression (max_iter=2000; Ridge for diabetes) is trained on the original train
rows of a fixed 70/30 split and scored on the original and on the reconstructed test rows.

Run: ``.venv/bin/python benchmarks/tables.py [--quick] [--cores N]``; writes
``benchmarks/results/tables.json``.

``--real`` runs the real-table benchmark instead (:mod:`_real_tables`: the `columnar` codec,
lossless and error-bounded, against lzma / zstd / bzip2 / Parquet-zstd and SZ3 / quant / pca on
scikit-learn's and statsmodels' bundled tables; ``--held-out`` adds randhie), then the
ratio-target section (:mod:`_ratio_tables`: `vqvae` and `grouped-vae` against `quant` and `pca`
at equal real ratio, per-family NMSE and downstream accuracy; ``--no-ratio`` skips it), and
writes ``benchmarks/results/tables_real.json``.
"""

from __future__ import annotations

import sys

from _pinning import pin_threads

CORES, AFFINITY = pin_threads(sys.argv[1:])

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import itertools  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import ratecraft  # noqa: E402
from ratecraft.allocation import predicted_distortion  # noqa: E402
from ratecraft.bench import Column, RunRecord, markdown_table, run_one, write_json  # noqa: E402
from ratecraft.bench.output import cell_of, num  # noqa: E402
from ratecraft.codecs import get_codec  # noqa: E402
from ratecraft.codecs.budget import Budget  # noqa: E402
from ratecraft.data.clean import clean_table  # noqa: E402
from ratecraft.data.grouping import cluster_groups  # noqa: E402
from ratecraft.data.synthetic_table import simulate_table  # noqa: E402
from ratecraft.data.types import FeatureTable  # noqa: E402
from ratecraft.diagnostics import diagnose  # noqa: E402

log = logging.getLogger("benchmarks.tables")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "tables.json"
LEARNED = ("vqvae", "adaptive-bottleneck", "grouped-vae")
STRATEGIES = ("uniform", "rd")
CLASSICAL = ("quant", "pca", "sz3")
LEVELS = (0.5, 1.0, 2.0, 5.0)
SPLIT_SEED = 0
TEST_FRACTION = 0.3


@dataclass
class Dataset:
    name: str
    table: FeatureTable  # raw (may hold NaN)
    target: np.ndarray | None = None
    classification: bool = True


# ---- datasets -----------------------------------------------------------------------------


def _sk_table(name: str) -> Dataset:
    from sklearn import datasets

    loader = {
        "digits": datasets.load_digits,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": datasets.load_diabetes,
    }[name]
    bunch = loader()
    x = np.asarray(bunch.data, dtype=np.float64)
    names = [str(n).replace(" ", "_") for n in bunch.feature_names]
    if name == "digits":
        families = [f"row{j // 8}" for j in range(x.shape[1])]
    elif name == "breast_cancer":
        families = [
            n.split("_")[0] if n.split("_")[0] in ("mean", "worst") else "error" for n in names
        ]
    else:
        families = cluster_groups(x, feature_names=names, seed=0).labels()
    table = FeatureTable(values=x, feature_names=names, families=list(families))
    return Dataset(name, table, np.asarray(bunch.target), name != "diabetes")


def load_datasets(quick: bool) -> list[Dataset]:
    out = [Dataset("synthetic", simulate_table(seed=0), None)]
    names = ("wine", "breast_cancer") if quick else ("digits", "wine", "breast_cancer", "diabetes")
    return out + [_sk_table(n) for n in names]


# ---- measurements -------------------------------------------------------------------------


def _split(n: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_test = round(TEST_FRACTION * n)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def _downstream(ds: Dataset, x: np.ndarray, x_hat: np.ndarray) -> dict[str, float] | None:
    if ds.target is None:
        return None
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train, test = _split(x.shape[0])
    y = ds.target
    est = LogisticRegression(max_iter=2000) if ds.classification else Ridge()
    model = make_pipeline(StandardScaler(), est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x[train], y[train])
        orig = float(model.score(x[test], y[test]))
        rec = float(model.score(np.nan_to_num(x_hat[test]), y[test]))
    return {
        "metric": "accuracy" if ds.classification else "r2",
        "original": orig,
        "reconstructed": rec,
    }


def learned_config(strategy: str, epochs: int, **extra: Any) -> dict[str, Any]:
    return {"allocation_strategy": strategy, "train": {"epochs": epochs}, **extra}


def run_codec(
    ds: Dataset, table: FeatureTable, name: str, strategy: str | None, ratio: float, epochs: int
) -> RunRecord:
    """Fit ``name`` at ``ratio`` on ``table``, code it, decode it and score it (with the
    downstream model); learned codecs (``strategy`` given) with that allocation strategy."""

    def figures(original: Any, recon: Any, codec: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if strategy:
            out["parameters"] = codec.parameter_count()
        x = np.asarray(original.values, np.float64)
        out["downstream"] = _downstream(ds, x, np.asarray(recon.values, np.float64))
        return out

    record, _ = run_one(
        ds.name,
        table,
        name,
        Budget(ratio=ratio),
        config=learned_config(strategy, epochs) if strategy else None,
        extra=figures,
    )
    record.extra = {"strategy": strategy or "-", **record.extra}
    return record


# ---- synthetic-table checks ---------------------------------------------------------------


def _total_distortion(diag: dict[str, Any]) -> float:
    """Feature-weighted mean normalized MSE over the categories (measured)."""
    rows = diag["categories"]
    n = sum(r["features"] for r in rows)
    return sum(r["mse_normalized"] * r["features"] for r in rows) / n


def synthetic_checks(
    table: FeatureTable, epochs: int, ratio: float, codecs: tuple[str, ...]
) -> dict[str, Any]:
    out: dict[str, Any] = {"ratio": ratio, "by_codec": {}}
    for name in codecs:
        per: dict[str, Any] = {}
        for strategy in ("uniform", "rd"):
            codec = get_codec(name, learned_config(strategy, epochs)).fit(
                table, Budget(ratio=ratio)
            )
            diag = diagnose(codec, table)
            try:  # the Gaussian model needs one stats entry per allocated group
                pred = predicted_distortion(codec.stats, codec.allocation, relative=False)
            except Exception:  # e.g. adaptive-bottleneck allocates one group "all"
                pred = {"?": math.nan}
            per[strategy] = {
                "ratio": diag["ratio"],
                "bits_per_sample": diag["bits_per_sample"],
                "worst_best_error_ratio": diag["worst_best_error_ratio"],
                "min_codebook_utilization": diag["min_codebook_utilization"],
                "max_dead_fraction": diag["max_dead_fraction"],
                "total_distortion": _total_distortion(diag),
                "predicted_distortion": float(sum(pred.values())),
                "categories": [
                    {
                        k: r[k]
                        for k in ("category", "features", "latent_dims", "bits", "mse_normalized")
                    }
                    for r in diag["categories"]
                ],
            }
        u, r = per["uniform"], per["rd"]
        per["rd_reduction_pct"] = 100.0 * (1.0 - r["total_distortion"] / u["total_distortion"])
        per["rd_predicted_reduction_pct"] = 100.0 * (
            1.0 - r["predicted_distortion"] / u["predicted_distortion"]
            if u["predicted_distortion"] > 0
            else math.nan
        )
        levels = []
        for level in LEVELS:
            codec = get_codec(name, learned_config("auto", epochs, compression_level=level)).fit(
                table
            )
            _, stats = codec.encode_with_stats(table)
            levels.append(
                {
                    "level": level,
                    "parameters": codec.parameter_count(),
                    "container_bytes": stats.container_bytes,
                }
            )
        per["levels"] = levels
        out["by_codec"][name] = per
    return out


# ---- reporting ----------------------------------------------------------------------------


def _f(v: Any, nd: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.{nd}g}" if abs(v) < 1e4 else f"{v:.3e}"
    return str(v)


def _downstream_text(r: RunRecord) -> str:
    d = r.get("downstream")
    return f"{d['metric']} {d['original']:.3f} → {d['reconstructed']:.3f}" if d else "-"


COLUMNS = (
    Column("codec", lambda r: r.codec),
    Column("alloc", lambda r: r.get("strategy")),
    Column("target", cell_of("target_ratio", "g")),
    Column("real ratio", cell_of("ratio", ".3g")),
    Column("bits/sample", cell_of("bits_per_sample", ".3g")),
    Column("mean fam NMSE", cell_of("nmse_mean", ".3g")),
    Column("worst/best", cell_of("family_worst_best", ".3g")),
    Column("downstream (orig → rec)", _downstream_text),
)


def print_results(rows: list[RunRecord]) -> None:
    for ds in dict.fromkeys(r.input for r in rows):
        print(f"\n### {ds}\n")
        print(markdown_table([r for r in rows if r.input == ds], COLUMNS, keys=3), end="")


def verdicts(rows: list[RunRecord], checks: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(name: str, ok: bool, detail: str) -> None:
        out.append({"check": name, "pass": bool(ok), "detail": detail})

    for codec, per in checks["by_codec"].items():
        for strategy in ("uniform", "rd"):
            s = per[strategy]
            w = s["worst_best_error_ratio"]
            add(f"{codec}/{strategy}: worst/best category error ratio <= 10", w <= 10, f"{_f(w)}x")
            if s["min_codebook_utilization"] is not None:
                util, dead = s["min_codebook_utilization"], s["max_dead_fraction"]
                add(
                    f"{codec}/{strategy}: every codebook level >= 90% used",
                    util >= 0.9,
                    f"min {util:.1%}",
                )
                add(f"{codec}/{strategy}: <= 5% dead codes", dead <= 0.05, f"max {dead:.1%}")
        red = per["rd_reduction_pct"]
        u, r = per["uniform"], per["rd"]
        add(
            f"{codec}: rd >= 20% lower total distortion than uniform",
            red >= 20,
            f"{red:.1f}% (measured {_f(u['total_distortion'])} → {_f(r['total_distortion'])} at "
            f"{_f(u['bits_per_sample'])} / {_f(r['bits_per_sample'])} bits/sample; "
            f"predicted {per['rd_predicted_reduction_pct']:.1f}%)",
        )
        lv = per["levels"]
        params = [x["parameters"] for x in lv]
        sizes = [x["container_bytes"] for x in lv]
        add(
            f"{codec}: parameters strictly decreasing over levels {LEVELS}",
            all(a > b for a, b in itertools.pairwise(params)),
            str(params),
        )
        add(
            f"{codec}: container bytes strictly decreasing over levels {LEVELS}",
            all(a > b for a, b in itertools.pairwise(sizes)),
            str(sizes),
        )
    for r in rows:
        d = r.get("downstream")
        if r.status != "ok" or not d or d["metric"] != "accuracy" or r.target_ratio != 8:
            continue
        if r.get("strategy") == "-":
            continue
        drop = 100.0 * (d["original"] - d["reconstructed"])
        add(
            f"{r.input} {r.codec}/{r.get('strategy')} @8x: accuracy within 2 points",
            drop <= 2.0,
            f"{d['original']:.3f} → {d['reconstructed']:.3f} "
            f"({drop:+.1f} pts drop, real ratio {num(r.ratio, '.2f')})",
        )
    return out


def run_real(args: argparse.Namespace) -> int:
    """``--real``: see :mod:`_real_tables`."""
    import os

    import _real_tables

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        doc = _real_tables.run(args.held_out)
        lossless_s = time.perf_counter() - t0
        if not args.no_ratio:
            import _ratio_tables
            import torch

            _quiet_vq()
            # one thread: these networks are tiny, and on a busy machine a second OpenMP thread
            # spins at every op's barrier (breast_cancer's vqvae fit: 78 s on 2 threads at load
            # 3.5, 4.6 s on 1)
            torch.set_num_threads(1)

            def downstream(x: np.ndarray, y: np.ndarray, x_hat: np.ndarray) -> Any:
                return _downstream(Dataset("", FeatureTable(values=x), y), x, x_hat)

            tables = _real_tables.load_tables(args.held_out)
            doc["ratio_targets"] = _ratio_tables.run(tables, downstream)
            doc["ratio_targets"]["elapsed_s"] = time.perf_counter() - t0 - lossless_s
    elapsed = time.perf_counter() - t0
    load = os.getloadavg()
    print(f"\nelapsed {elapsed:.1f} s on {CORES} core(s), load average {load[0]:.2f}")
    doc = {
        **_header("tables_real"),
        "load_average": list(load),
        **doc,
        "elapsed_s": elapsed,
    }
    out = (
        Path(args.out)
        if args.out != str(DEFAULT_OUT)
        else DEFAULT_OUT.with_name("tables_real.json")
    )
    write_json(out, doc)
    print(f"wrote {out}")
    return 0


def _header(name: str) -> dict[str, Any]:
    """What every results file of this benchmark starts with: name, date, versions, cores."""
    return {
        "benchmark": name,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "ratecraft": getattr(ratecraft, "__version__", None),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cores": CORES,
        "affinity": AFFINITY,
    }


def _quiet_vq() -> None:
    try:
        from loguru import logger

        logger.disable("vector_quantize_pytorch")
    except ImportError:  # pragma: no cover
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--quick", action="store_true", help="fewer epochs, ratios and datasets")
    parser.add_argument("--cores", type=int, default=2, help="CPUs to pin to (read at start)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--real", action="store_true", help="the real-table benchmark instead")
    parser.add_argument("--held-out", action="store_true", help="--real: add the held-out table")
    parser.add_argument(
        "--no-ratio", action="store_true", help="--real: skip the ratio-target section"
    )
    parser.add_argument(
        "--check-ratio", type=float, default=8.0, help="target ratio of the synthetic-table checks"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.real:
        return run_real(args)
    _quiet_vq()
    import torch

    torch.set_num_threads(CORES)
    epochs = args.epochs or (6 if args.quick else 12)
    ratios = (8.0,) if args.quick else (8.0, 16.0)
    t0 = time.perf_counter()

    rows: list[RunRecord] = []
    cleaning: dict[str, Any] = {}
    for ds in load_datasets(args.quick):
        table, report = clean_table(ds.table)
        cleaning[ds.name] = {"shape_in": list(ds.table.values.shape), "dropped": report.reasons()}
        cds = Dataset(ds.name, table, ds.target, ds.classification)
        for ratio in ratios:
            for name in LEARNED:
                for strategy in STRATEGIES:
                    rows.append(run_codec(cds, table, name, strategy, ratio, epochs))
            for name in CLASSICAL:
                rows.append(run_codec(cds, table, name, None, ratio, epochs))
    print_results(rows)

    check_codecs = ("vqvae",) if args.quick else LEARNED
    checks = synthetic_checks(simulate_table(seed=0), epochs, args.check_ratio, check_codecs)
    print(
        f"\n### synthetic table checks (raw table, default cleaning, target ratio "
        f"{args.check_ratio:g})\n"
    )
    print(
        "| codec | alloc | real ratio | bits/sample | worst/best cat. | min util | max dead "
        "| total distortion |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for codec, per in checks["by_codec"].items():
        for strategy in ("uniform", "rd"):
            s = per[strategy]
            print(
                f"| {codec} | {strategy} | {_f(s['ratio'])} | {_f(s['bits_per_sample'])} | "
                f"{_f(s['worst_best_error_ratio'])} | {_f(s['min_codebook_utilization'])} | "
                f"{_f(s['max_dead_fraction'])} | {_f(s['total_distortion'])} |"
            )
    print("\n| codec | level | parameters | container bytes |\n|---|---|---|---|")
    for codec, per in checks["by_codec"].items():
        for x in per["levels"]:
            print(f"| {codec} | {x['level']:g} | {x['parameters']} | {x['container_bytes']} |")

    results = verdicts(rows, checks)
    print()
    for v in results:
        print(f"{'PASS' if v['pass'] else 'FAIL'}: {v['check']} — {v['detail']}")
    elapsed = time.perf_counter() - t0
    print(f"\nelapsed {elapsed:.1f} s on {CORES} core(s)")

    doc = {
        **_header("tables"),
        "quick": args.quick,
        "epochs": epochs,
        "ratios": list(ratios),
        "nan_handling": "clean_table (default config) applied to every table, for all codecs alike",
        "cleaning": cleaning,
        "rows": rows,
        "synthetic_checks": checks,
        "verdicts": results,
        "elapsed_s": elapsed,
    }
    out = Path(args.out)
    write_json(out, doc)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
