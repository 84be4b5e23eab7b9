"""Fuzz every decoder: structure-aware mutations of real containers, checksums recomputed.

Seeds are the golden files of every container format and every codec in ``tests/golden/``
(with the trained models they need), so each mutated input reaches the header parser or the
codec's own payload decoder (see :mod:`ratecraft.bitstream.fuzz`). Each input is decoded under
a time limit and counted as ``decoded``, ``clean`` (a one-line refusal), ``crash`` (any other
exception) or ``hang``. Seeded: the same ``--seed`` gives the same inputs.

Run: ``.venv/bin/python benchmarks/fuzz_decoders.py [--inputs 100000] [--seed 0]``; prints a
markdown table, writes ``benchmarks/results/fuzz_decoders.json`` (with the first crashes and
hangs of each codec, to reproduce them) and exits 1 when anything crashed or hung.
"""

from __future__ import annotations

import sys

from _pinning import pin_threads

CORES, AFFINITY = pin_threads(sys.argv[1:])

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from rich.progress import Progress  # noqa: E402

from ratecraft.bitstream.fuzz import OUTCOMES, classify, mutate  # noqa: E402
from ratecraft.codecs import Codec, decode  # noqa: E402
from ratecraft.jsonsafe import dumps  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "fuzz_decoders.json"
KEEP_EXAMPLES = 5


def seeds(golden: Path = GOLDEN) -> list[dict[str, Any]]:
    """Every golden container with its codec, format and the model it needs (loaded)."""
    out = []
    for folder in sorted(p for p in golden.iterdir() if p.is_dir()):
        manifest = json.loads((folder / "manifest.json").read_text())
        for name, case in sorted(manifest.items()):
            model = Codec.load(folder / case["model"]) if case["model"] else None
            blob = (folder / f"{name}.rcz").read_bytes()
            out.append({"name": f"{folder.name}/{name}", "blob": blob, "model": model})
    return out


_CASES: list[dict[str, Any]] = []


def _init_worker() -> None:
    """Each worker: one thread for torch (small decodes run faster) and the seeds loaded once."""
    import torch

    torch.set_num_threads(1)
    logging.getLogger("ratecraft").setLevel(logging.ERROR)  # decoders warn on odd input
    _CASES[:] = seeds()


def _fuzz_range(span: tuple[int, int, int, float]) -> tuple[dict[str, Counter[str]], dict]:
    """Inputs ``a..b-1``: input ``i`` mutates seed ``i mod seeds`` with its own RNG
    ``(seed, i)``, so the inputs do not depend on how the range is split between workers."""
    a, b, seed, timeout_s = span
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for i in range(a, b):
        case = _CASES[i % len(_CASES)]
        blob = mutate(case["blob"], np.random.default_rng([seed, i]))
        model = case["model"]
        outcome, detail = classify(lambda x, m=model: decode(x, m), blob, timeout_s)
        counts[case["name"]][outcome] += 1
        if outcome in ("crash", "hang") and len(examples[case["name"]]) < KEEP_EXAMPLES:
            examples[case["name"]].append({"input": i, "detail": detail[:300]})
    return dict(counts), dict(examples)


def run(
    n_inputs: int, seed: int, timeout_s: float, workers: int = 2, progress: bool = True
) -> dict[str, Any]:
    """Fuzz ``n_inputs`` mutated containers on ``workers`` processes; counts per seed file."""
    import multiprocessing as mp

    step = 250
    spans = [(a, min(a + step, n_inputs), seed, timeout_s) for a in range(0, n_inputs, step)]
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    start = time.perf_counter()
    ctx = mp.get_context("spawn")
    with (
        ctx.Pool(workers, initializer=_init_worker) as pool,
        Progress(disable=not progress, transient=True) as bar,
    ):
        task = bar.add_task("fuzzing", total=n_inputs)
        for (a, b, _, _), (part, found) in zip(spans, pool.imap(_fuzz_range, spans), strict=True):
            for name, c in part.items():
                counts[name].update(c)
            for name, ex in found.items():
                examples[name] = (examples[name] + ex)[:KEEP_EXAMPLES]
            bar.advance(task, b - a)
    seconds = time.perf_counter() - start
    total = Counter[str]()
    for c in counts.values():
        total.update(c)
    return {
        "inputs": n_inputs,
        "seed": seed,
        "timeout_s": timeout_s,
        "workers": workers,
        "seconds": seconds,
        "inputs_per_s": n_inputs / max(seconds, 1e-9),
        "total": {o: total.get(o, 0) for o in OUTCOMES},
        "per_seed": {k: {o: v.get(o, 0) for o in OUTCOMES} for k, v in sorted(counts.items())},
        "examples": dict(examples),
    }


def markdown(doc: dict[str, Any]) -> str:
    lines = ["| seed file | " + " | ".join(OUTCOMES) + " |", "|---|" + "---:|" * len(OUTCOMES)]
    for name, c in doc["per_seed"].items():
        lines.append(f"| {name} | " + " | ".join(str(c[o]) for o in OUTCOMES) + " |")
    t = doc["total"]
    lines.append("| **all** | " + " | ".join(f"**{t[o]}**" for o in OUTCOMES) + " |")
    lines.append("")
    lines.append(
        f"{doc['inputs']:,} inputs (seed {doc['seed']}) in {doc['seconds']:.0f} s "
        f"({doc['inputs_per_s']:.0f}/s, {doc['workers']} processes on {CORES} cores); "
        f"time limit {doc['timeout_s']:g} s each."
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per input")
    parser.add_argument("--workers", type=int, default=2, help="processes (one thread each)")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--cores", type=int, default=2, help="CPUs to pin to (read at start)")
    args = parser.parse_args(argv)
    doc = run(args.inputs, args.seed, args.timeout, args.workers, progress=sys.stderr.isatty())
    doc.update(
        date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), cores=CORES, affinity=AFFINITY
    )
    sys.stdout.write(markdown(doc))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dumps(doc) + "\n")
    bad = doc["total"]["crash"] + doc["total"]["hang"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
