"""Command-line start-up: wall time of ``ratecraft encode``, ``decode`` and ``info`` on one file.

The input is a 5-second mono 10-bit implant recording (19,531.25 Hz, sparse 16-bit grid) that
the simulator writes as WAV — or ``--input FILE`` (e.g. a real implant WAV of
``../shared/data/implant-dev/``). Each command runs in a fresh process, as a user runs it: the
figure includes Python's start, every import, numba loading its cached kernels, reading,
coding and writing. One warm-up round first (numba compiles and caches its kernels on the
very first run), then the median of ``--repeats`` rounds.

Targets (issue 10): encode + decode ≤ 1.5 s wall in total, ``info`` ≤ 0.5 s.

Run: ``.venv/bin/python benchmarks/cli_latency.py [--repeats 5] [--input FILE]``; writes
``benchmarks/results/cli_latency.json``. Take it on an idle machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ratecraft.jsonsafe import dumps

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "cli_latency.json"
TARGETS = {"encode+decode": 1.5, "info": 0.5}
RATECRAFT = Path(sys.executable).with_name("ratecraft")


def make_input(folder: Path) -> Path:
    """The simulator's 5-s mono implant recording as WAV (exact rate in its sidecar)."""
    from ratecraft.data.io import write_data
    from ratecraft.data.synthetic import simulate_recording

    rec, _ = simulate_recording(
        n_channels=1, duration_s=5.0, sample_rate=19531.25, sparse_grid=True, seed=1
    )
    path = folder / "implant.wav"
    write_data(rec, path)
    return path


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return seconds


def round_once(source: Path, folder: Path) -> dict[str, float]:
    rcz, back = folder / "x.rcz", folder / "back.wav"
    for p in (rcz, back):
        p.unlink(missing_ok=True)
    out = {
        "encode": timed([str(RATECRAFT), "encode", str(source), "-o", str(rcz)]),
        "decode": timed([str(RATECRAFT), "decode", str(rcz), "-o", str(back)]),
        "info": timed([str(RATECRAFT), "info", str(rcz)]),
    }
    out["encode+decode"] = out["encode"] + out["decode"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--input", type=Path, default=None, help="a recording to use instead")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = args.input or make_input(folder)
        round_once(source, folder)  # warm-up: numba's first compile fills its cache
        rounds = [round_once(source, folder) for _ in range(args.repeats)]
    medians = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    rows = [
        "| command | median wall (s) | all rounds (s) | target | met |",
        "|---|---:|---|---:|---|",
    ]
    for key in ("encode", "decode", "encode+decode", "info"):
        target = TARGETS.get(key)
        met = "–" if target is None else ("yes" if medians[key] <= target else "**no**")
        spread = ", ".join(f"{r[key]:.2f}" for r in rounds)
        limit = "–" if target is None else f"≤ {target:g}"
        rows.append(f"| `{key}` | {medians[key]:.3f} | {spread} | {limit} | {met} |")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    sys.stdout.write("\n".join(rows) + "\n\n")
    sys.stdout.write(f"input: {args.input or 'simulated 5-s mono implant WAV'}; load {load}\n")
    doc = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "input": str(args.input) if args.input else "simulate_recording(1 ch, 5 s, sparse grid)",
        "repeats": args.repeats,
        "median_s": medians,
        "rounds_s": rounds,
        "targets_s": TARGETS,
        "met": {k: medians[k] <= v for k, v in TARGETS.items()},
        "load_average_1min": load,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dumps(doc) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
