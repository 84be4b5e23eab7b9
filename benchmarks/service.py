"""Load test of ``ratecraft serve`` on 127.0.0.1 (issue 12), bounded in count and time.

Starts the service as its own process, then ``--clients`` asyncio/httpx clients run for
``--seconds`` each of ``--runs`` consecutive runs, mixing: compress a 1-s 64-channel 30 kHz
int16 chunk (``.npy``, lossless), decompress a container of one, and compress a feature table of
``--rows`` rows (CSV, quant at 4x). Reports errors (any status but 200), p50/p99 latency per
kind, throughput in stored values per second, and the server's RSS after each run (flat RSS
across runs: no leak). Every figure is written with the load average, since this machine is
shared.

Run: ``.venv/bin/python benchmarks/service.py [--clients 32 --seconds 60 --runs 3]``; writes
``benchmarks/results/service.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from ratecraft.bench.output import write_json
from ratecraft.data.synthetic import simulate_recording, simulate_table

RESULTS = Path(__file__).with_name("results") / "service.json"
EXE = Path(sys.executable).with_name("ratecraft")


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _client(
    http: httpx.AsyncClient,
    bodies: dict[str, Any],
    until: float,
    out: list[tuple[str, float, int, int]],
) -> None:
    kinds = ("compress", "decompress", "table")
    i = 0
    while time.monotonic() < until:
        kind = kinds[i % 3]
        i += 1
        url, body, ctype, samples = bodies[kind]
        t0 = time.perf_counter()
        try:
            res = await http.post(url, content=body, headers={"content-type": ctype})
            status = res.status_code
        except httpx.HTTPError:
            status = -1
        out.append((kind, time.perf_counter() - t0, status, samples))


async def _run(base: str, bodies: dict[str, Any], clients: int, seconds: float) -> dict[str, Any]:
    out: list[tuple[str, float, int, int]] = []
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:
        until = time.monotonic() + seconds
        t0 = time.perf_counter()
        await asyncio.gather(*(_client(http, bodies, until, out) for _ in range(clients)))
        wall = time.perf_counter() - t0
    stats: dict[str, Any] = {"requests": len(out), "wall_s": wall}
    stats["errors"] = sum(1 for _, _, s, _ in out if s != 200)
    stats["statuses"] = sorted({s for _, _, s, _ in out})
    stats["samples_per_s"] = sum(n for _, _, s, n in out if s == 200) / wall
    for kind in ("compress", "decompress", "table"):
        lat = np.array([t for k, t, s, _ in out if k == kind and s == 200])
        stats[kind] = {
            "n": int(lat.size),
            "p50_ms": float(np.percentile(lat, 50) * 1e3) if lat.size else None,
            "p99_ms": float(np.percentile(lat, 99) * 1e3) if lat.size else None,
        }
    return stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--rows", type=int, default=500)
    args = p.parse_args(argv)

    rec, _ = simulate_recording(n_channels=args.channels, duration_s=1.0, seed=0)
    table = simulate_table(n_samples=args.rows, seed=0)
    values = np.nan_to_num(table.values)
    csv = ",".join(table.feature_names) + "\n"
    csv += "\n".join(",".join(f"{v:.6g}" for v in row) for row in values)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tempfile.mkdtemp(prefix="rc-service-bench-")
    env = {**os.environ, "RATECRAFT_HOME": home, "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen(
        [str(EXE), "serve", "--port", str(port), "--concurrency", str(args.clients)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        q = "/v1/compress?sample_rate=30000"
        blob = httpx.post(
            f"{base}{q}", content=_npy(rec.samples), headers={"content-type": "application/x-npy"}
        ).content
        n = rec.samples.size
        bodies = {
            "compress": (q, _npy(rec.samples), "application/x-npy", n),
            "decompress": ("/v1/decompress", blob, "application/x-ratecraft", n),
            "table": ("/v1/compress?codec=quant&ratio=4", csv.encode(), "text/csv", values.size),
        }
        runs = []
        for r in range(args.runs):
            load = os.getloadavg()
            stats = asyncio.run(_run(base, bodies, args.clients, args.seconds))
            stats.update(run=r + 1, loadavg_before=load, loadavg_after=os.getloadavg())
            stats["server_rss_mb"] = _rss_mb(server.pid)
            runs.append(stats)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

    print(
        "| run | requests | errors | compress p50 / p99 ms | decompress p50 / p99 ms | "
        "table p50 / p99 ms | values/s | server RSS MB | load avg |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in runs:
        cells = [
            f"{s[k]['p50_ms']:.0f} / {s[k]['p99_ms']:.0f}" if s[k]["n"] else "–"
            for k in ("compress", "decompress", "table")
        ]
        print(
            f"| {s['run']} | {s['requests']} | {s['errors']} | {' | '.join(cells)} | "
            f"{s['samples_per_s'] / 1e6:.2f} M | {s['server_rss_mb']:.0f} | "
            f"{s['loadavg_before'][0]:.1f} |"
        )
    write_json(
        RESULTS,
        {
            "benchmark": "service",
            "args": vars(args),
            "when_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "runs": runs,
        },
    )
    return 0 if all(s["errors"] == 0 for s in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
