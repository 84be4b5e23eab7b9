"""Recordings at their real size: encode and decode files larger than memory, in constant memory.

For each geometry a long synthetic recording is written straight to a raw binary file (int16,
interleaved, with its JSON sidecar) in 10-second blocks — 64 ch × 30 kHz × 45 min (10.4 GB) and
the 384-channel Neuropixels geometry for a shorter one — and a 1-minute file of the same
geometry as the reference. The blocks cycle through a few seeded simulations (every 10-s block
is a full simulation of its own; the codecs code each container chunk on its own, so repeated
content gains them nothing). Then, each in a fresh process, as a user runs them:

- ``ratecraft encode`` with ``predictive`` (lossless) and ``quant --ratio 10`` (fitted on an
  excerpt, then held chunk by chunk by the running rate control), and ``ratecraft decode`` of
  each back to raw binary: wall time, samples/s, and the peak resident memory of the process
  (``ru_maxrss`` of the child);
- the lossless round trip compared with the input byte for byte (streamed SHA-256 of both);
- the time to decode 1 s from the middle (the library call on a container that is already on
  disk, median of 5, and the whole ``ratecraft decode --start --stop`` command for reference).

Targets (issue 11): peak RSS ≤ 1 GB whatever the length; throughput within 20% of the 1-minute
file's; the 1-s range decode under 200 ms. Needs ~3× the long file's size of free disk (input,
container, decoded copy); the files are removed at the end unless ``--keep``.

Run: ``.venv/bin/python benchmarks/scale.py [--minutes 45] [--np-minutes 8] [--quick]``; writes
``benchmarks/results/scale.json``. Take it on an idle machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ratecraft.bench.output import write_json
from ratecraft.data.io.raw import sidecar_doc, sidecar_path
from ratecraft.data.sources import Facts
from ratecraft.data.synthetic import simulate_recording

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "scale.json"
RATECRAFT = Path(sys.executable).with_name("ratecraft")
BLOCK_S = 10.0
SEEDS = 6
RSS_TARGET = 1 << 30
THROUGHPUT_TOLERANCE = 0.20
RANGE_TARGET_S = 0.200


def write_long(path: Path, channels: int, fs: float, minutes: float) -> dict[str, Any]:
    """A raw int16 recording of ``minutes``, written block by block (constant memory)."""
    blocks = []
    for seed in range(SEEDS):
        rec, _ = simulate_recording(
            n_channels=channels, duration_s=BLOCK_S, sample_rate=fs, seed=seed
        )
        blocks.append(np.ascontiguousarray(rec.samples.T).astype("<i2").tobytes())
        gain = rec.uv_per_step
    n_blocks = max(1, round(minutes * 60 / BLOCK_S))
    with open(path, "wb") as fh:
        for i in range(n_blocks):
            fh.write(blocks[i % SEEDS])
    facts = Facts("recording", sample_rate=fs, uv_per_step=gain)
    sidecar_path(path).write_text(json.dumps(sidecar_doc(facts, channels, np.dtype("int16"))))
    frames = n_blocks * int(BLOCK_S * fs)
    return {"frames": frames, "bytes": path.stat().st_size, "samples": frames * channels}


# The command runs under a small launcher process: Linux carries the peak RSS of the memory a
# process had before ``exec`` into its ``ru_maxrss``, so a child forked straight from this
# (large) benchmark process would report this process's peak, not its own.
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024)\n"
)


def run(args: list[str]) -> dict[str, float]:
    """Wall time and peak RSS of one command in a fresh process."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *args], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    code, rss = (int(v) for v in proc.stdout.split())
    if code != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed: {proc.stderr.strip()}")
    return {"seconds": seconds, "peak_rss_bytes": rss}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 24):
            h.update(chunk)
    return h.hexdigest()


def range_decode(rcz: Path, fs: float, frames: int, repeats: int = 5) -> float:
    """Median seconds of the library decoding 1 s from the middle of ``rcz``."""
    from ratecraft import api

    middle = frames // 2
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        part = api.decode(rcz, start=middle, stop=middle + int(fs))
        times.append(time.perf_counter() - t0)
        assert part.samples.shape[1] == int(fs)
    return statistics.median(times)


def case(folder: Path, name: str, channels: int, fs: float, minutes: float) -> dict[str, Any]:
    raw = folder / f"{name}.bin"
    t0 = time.perf_counter()
    info = write_long(raw, channels, fs, minutes)
    info["write_seconds"] = time.perf_counter() - t0
    out: dict[str, Any] = {"name": name, "channels": channels, "fs": fs, "minutes": minutes, **info}
    for label, options in (("predictive", []), ("quant-10x", ["--ratio", "10"])):
        rcz = folder / f"{name}.{label}.rcz"
        back = folder / f"{name}.{label}.back.bin"
        enc = run([str(RATECRAFT), "encode", str(raw), "-o", str(rcz), *options])
        dec = run([str(RATECRAFT), "decode", str(rcz), "-o", str(back)])
        row = {
            "encode_seconds": enc["seconds"],
            "decode_seconds": dec["seconds"],
            "encode_samples_per_s": info["samples"] / enc["seconds"],
            "decode_samples_per_s": info["samples"] / dec["seconds"],
            "encode_peak_rss_bytes": enc["peak_rss_bytes"],
            "decode_peak_rss_bytes": dec["peak_rss_bytes"],
            "container_bytes": rcz.stat().st_size,
            "ratio": info["bytes"] / rcz.stat().st_size,
        }
        if label == "predictive":
            row["bit_exact"] = sha256_file(back) == sha256_file(raw)
        row["range_1s_library_seconds"] = range_decode(rcz, fs, info["frames"])
        mid = info["frames"] // 2
        part = folder / f"{name}.part.npy"
        cmd = [str(RATECRAFT), "decode", str(rcz), "-o", str(part)]
        row["range_1s_cli_seconds"] = run(
            [*cmd, "--start", str(mid), "--stop", str(mid + int(fs))]
        )["seconds"]
        for p in (back, sidecar_path(back), part):
            p.unlink(missing_ok=True)
        rcz.unlink()
        out[label] = row
    raw.unlink()
    sidecar_path(raw).unlink()
    return out


def verdicts(long: dict[str, Any], short: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for label in ("predictive", "quant-10x"):
        a, b = long[label], short[label]
        rss = max(a["encode_peak_rss_bytes"], a["decode_peak_rss_bytes"])
        out.append(
            {
                "case": long["name"],
                "codec": label,
                "check": "peak RSS ≤ 1 GB",
                "value": rss / 2**30,
                "met": rss <= RSS_TARGET,
            }
        )
        for key in ("encode_samples_per_s", "decode_samples_per_s"):
            rel = a[key] / b[key]
            out.append(
                {
                    "case": long["name"],
                    "codec": label,
                    "check": f"{key.split('_')[0]} throughput within 20% of the 1-minute file",
                    "value": rel,
                    "met": rel >= 1 - THROUGHPUT_TOLERANCE,
                }
            )
        out.append(
            {
                "case": long["name"],
                "codec": label,
                "check": "1-s range decode < 200 ms",
                "value": a["range_1s_library_seconds"],
                "met": a["range_1s_library_seconds"] < RANGE_TARGET_S,
            }
        )
        if "bit_exact" in a:
            out.append(
                {
                    "case": long["name"],
                    "codec": label,
                    "check": "bit-exact",
                    "value": a["bit_exact"],
                    "met": a["bit_exact"],
                }
            )
    return out


def markdown(cases: list[dict[str, Any]], checks: list[dict[str, Any]]) -> str:
    head = (
        "| recording | size | codec | ratio | encode MS/s | decode MS/s | peak RSS enc / dec |"
        " 1-s range decode (library / CLI) |"
    )
    lines = [head, "|---|---:|---|---:|---:|---:|---:|---:|"]
    for c in cases:
        size = f"{c['bytes'] / 1e9:.2f} GB"
        for label in ("predictive", "quant-10x"):
            r = c[label]
            lines.append(
                f"| {c['name']} ({c['channels']} ch, {c['minutes']:g} min) | {size} | {label} | "
                f"{r['ratio']:.3f} | {r['encode_samples_per_s'] / 1e6:.2f} | "
                f"{r['decode_samples_per_s'] / 1e6:.2f} | "
                f"{r['encode_peak_rss_bytes'] / 2**20:.0f} / "
                f"{r['decode_peak_rss_bytes'] / 2**20:.0f} MiB | "
                f"{1e3 * r['range_1s_library_seconds']:.0f} / "
                f"{1e3 * r['range_1s_cli_seconds']:.0f} ms |"
            )
    lines += ["", "| case | codec | check | value | met |", "|---|---|---|---:|---|"]
    for v in checks:
        value = v["value"] if isinstance(v["value"], bool) else f"{v['value']:.3g}"
        lines.append(
            f"| {v['case']} | {v['codec']} | {v['check']} | {value} | "
            f"{'PASS' if v['met'] else 'FAIL'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=45.0, help="64-ch recording length")
    parser.add_argument("--np-minutes", type=float, default=8.0, help="384-ch length")
    parser.add_argument("--quick", action="store_true", help="2 and 1 minutes: a smoke run")
    parser.add_argument("--folder", type=Path, default=None, help="where the files go")
    parser.add_argument("--keep", action="store_true", help="keep the folder")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    if args.quick:
        args.minutes, args.np_minutes = 2.0, 1.0
    folder = args.folder or Path(os.environ.get("TMPDIR", "/tmp")) / "ratecraft-scale"
    folder.mkdir(parents=True, exist_ok=True)
    need = 3.2 * 64 * 30000 * 60 * args.minutes * 2
    free = shutil.disk_usage(folder).free
    if free < need:
        raise SystemExit(f"{folder}: {free / 1e9:.1f} GB free, the run needs {need / 1e9:.1f} GB")
    cases, checks = [], []
    try:
        for name, channels, minutes in (
            ("probe-64ch", 64, args.minutes),
            ("neuropixels-384ch", 384, args.np_minutes),
        ):
            short = case(folder, f"{name}-1min", channels, 30000.0, 1.0)
            long = case(folder, name, channels, 30000.0, minutes)
            cases += [long, short]
            checks += verdicts(long, short)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    sys.stdout.write(markdown(cases, checks))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    doc = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cases": cases,
        "checks": checks,
        "load_average_1min_at_end": load,
        "cpus": os.cpu_count(),
    }
    write_json(args.out, doc)
    return 0 if all(v["met"] for v in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
