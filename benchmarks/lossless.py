"""Lossless benchmark: the `predictive` codec against the general and audio codecs people use.

Datasets: (a) the real 16-channel Open Ephys recording in ``../shared/data/openephys-16ch``,
(b) synthetic 10-bit implant-style recordings (mono, 19,531.25 Hz, 5 s each, 16-bit values on a
sparse grid of about 1,000 codes, one file per seed, like the held-out implant WAV files) and
(c) a synthetic 32-channel 30 kHz recording.

Every ratio is ``raw bytes / compressed bytes`` on the int16 samples interleaved frame by frame
(as the reference figures in ``shared/data/README.md``); ours counts the whole `.rcz` container,
headers included. Datasets of several files are summed (total raw / total compressed). Every
codec is decoded again and checked bit-exact. Ours is timed as the best of ``--repeats`` runs
after one warm-up run (so numba's JIT compile is excluded); peers are timed once (C libraries,
nothing to warm up; the FLAC CLI time includes starting the process and reading the WAV).
The process is pinned to ``--cores`` CPUs (default 2) and BLAS/OpenMP/numba to as many threads.

Run: ``.venv/bin/python benchmarks/lossless.py [--quick] [--strict]``; writes
``benchmarks/results/lossless.json``.
"""

from __future__ import annotations

import os
import sys

from _pinning import pin_threads

CORES, AFFINITY = pin_threads(sys.argv[1:])

import argparse  # noqa: E402
import bz2  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import lzma  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import soundfile  # noqa: E402
import zstandard  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.logging import RichHandler  # noqa: E402
from rich.progress import Progress  # noqa: E402

import ratecraft  # noqa: E402
from ratecraft.codecs import available_codecs, decode, get_codec  # noqa: E402
from ratecraft.data.io import read_data  # noqa: E402
from ratecraft.data.synthetic import simulate_recording  # noqa: E402
from ratecraft.data.types import Recording  # noqa: E402

log = logging.getLogger("benchmarks.lossless")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OPENEPHYS = REPO.parent / "shared" / "data" / "openephys-16ch"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "lossless.json"
IMPLANT_RATE = 19531.25  # 20 MHz / 1024, the implant's sample rate
REALTIME_TARGET = 256 * 20000.0  # samples/s of a 256-channel 20 kHz probe (5.12 M)
FLAC_MAX_CHANNELS = 8
OURS = "predictive"


@dataclass
class Dataset:
    name: str
    description: str
    files: list[Recording]

    @property
    def n_samples(self) -> int:
        return sum(r.samples.size for r in self.files)

    @property
    def realtime_rate(self) -> float:
        """Samples per second the source produces (channels × sample rate)."""
        r = self.files[0]
        return r.n_channels * r.sample_rate


@dataclass
class Run:
    """Sums over the files of a dataset for one codec setting."""

    raw_bytes: int = 0
    compressed_bytes: int = 0
    n_samples: int = 0
    encode_s: float = 0.0
    decode_s: float = 0.0
    bit_exact: bool = True
    est_bits: float | None = None
    per_file_ratio: list[float] = field(default_factory=list)

    def add(self, raw: int, comp: int, n: int, enc: float, dec: float, exact: bool) -> None:
        self.raw_bytes += raw
        self.compressed_bytes += comp
        self.n_samples += n
        self.encode_s += enc
        self.decode_s += dec
        self.bit_exact = self.bit_exact and exact
        self.per_file_ratio.append(raw / comp)


def interleaved(rec: Recording) -> np.ndarray:
    """Frames × channels little-endian int16, the layout every peer codes."""
    return np.ascontiguousarray(rec.samples.T).astype("<i2", copy=False)


# ---- datasets -----------------------------------------------------------------------------


def load_datasets(args: argparse.Namespace) -> list[Dataset]:
    out = []
    path = Path(args.openephys)
    if path.is_dir():
        rec = read_data(path)
        out.append(
            Dataset(
                "openephys-16ch",
                f"real, {rec.n_channels} ch, "
                f"{rec.sample_rate / 1000:g} kHz, {rec.duration_s:.2f} s",
                [rec],
            )
        )
    else:
        print(f"note: {path} not found; skipping the Open Ephys recording\n")
    seeds = range(1 if args.quick else args.seeds)
    implant = [
        simulate_recording(
            n_channels=1, sample_rate=IMPLANT_RATE, duration_s=5.0, seed=s, sparse_grid=True
        )[0]
        for s in seeds
    ]
    codes = [len(np.unique(r.samples)) for r in implant]
    out.append(
        Dataset(
            "synthetic-implant-10bit",
            f"synthetic, mono, {IMPLANT_RATE:.2f} Hz, {len(implant)} × 5 s, "
            f"sparse grid of {min(codes)}–{max(codes)} codes",
            implant,
        )
    )
    dur = 4.0 if args.quick else args.probe_seconds
    probe, _ = simulate_recording(
        n_channels=32, sample_rate=30000.0, duration_s=dur, seed=0, sparse_grid=False
    )
    out.append(Dataset("synthetic-32ch-30k", f"synthetic, 32 ch, 30 kHz, {dur:g} s", [probe]))
    return out


# ---- codecs -------------------------------------------------------------------------------


def _xz_compress(raw: bytes) -> bytes:
    return lzma.compress(raw, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)


BYTE_PEERS: list[tuple[str, str, Callable[[bytes], bytes], Callable[[bytes], bytes]]] = [
    (
        "zstd",
        "-19 (zstandard)",
        zstandard.ZstdCompressor(level=19).compress,
        zstandard.ZstdDecompressor().decompress,
    ),
    ("xz", "-9e (lzma, .xz)", _xz_compress, lzma.decompress),
    ("bzip2", "-9 (bz2)", lambda raw: bz2.compress(raw, 9), bz2.decompress),
]


def run_bytes(ds: Dataset, comp: Callable[[bytes], bytes], decomp: Callable[[bytes], bytes]) -> Run:
    run = Run()
    for rec in ds.files:
        raw = interleaved(rec).tobytes()
        t0 = time.perf_counter()
        blob = comp(raw)
        t1 = time.perf_counter()
        back = decomp(blob)
        t2 = time.perf_counter()
        run.add(len(raw), len(blob), rec.samples.size, t1 - t0, t2 - t1, back == raw)
    return run


def flac_tool() -> tuple[str, str]:
    """('cli', version) when the flac command exists, else ('soundfile', libsndfile version)."""
    exe = shutil.which("flac")
    if exe:
        ver = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
        return "cli", ver
    return "soundfile", f"soundfile {soundfile.__version__}, {soundfile.__libsndfile_version__}"


def _flac_stream(x: np.ndarray, rate: int, tmp: Path, tool: str) -> tuple[int, float, float, bool]:
    """Code one ≤8-channel stream; (flac bytes, encode s, decode s, bit exact)."""
    wav, flac, back = tmp / "in.wav", tmp / "out.flac", tmp / "back.wav"
    if tool == "cli":
        soundfile.write(wav, x, rate, subtype="PCM_16")
        # --no-padding: the CLI otherwise reserves 8 KiB of metadata padding per file, which is
        # not compression and would handicap FLAC on short files.
        cmd = [
            "flac",
            "-8",
            "--silent",
            "--force",
            "--no-padding",
            "--channel-map=none",
            "-o",
            str(flac),
            str(wav),
        ]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        t1 = time.perf_counter()
        subprocess.run(
            ["flac", "-d", "--silent", "--force", "-o", str(back), str(flac)], check=True
        )
        y, _ = soundfile.read(back, dtype="int16", always_2d=True)
        t2 = time.perf_counter()
    else:
        t0 = time.perf_counter()
        soundfile.write(flac, x, rate, format="FLAC", subtype="PCM_16", compression_level=1.0)
        t1 = time.perf_counter()
        y, _ = soundfile.read(flac, dtype="int16", always_2d=True)
        t2 = time.perf_counter()
    return flac.stat().st_size, t1 - t0, t2 - t1, bool(np.array_equal(y, x))


def run_flac(ds: Dataset, per_stream: int, tool: str) -> Run:
    run = Run()
    with tempfile.TemporaryDirectory(prefix="rc-flac-") as tmpdir:
        for rec in ds.files:
            x = interleaved(rec)
            rate = round(rec.sample_rate)
            size = enc = dec = 0.0
            exact = True
            for start in range(0, x.shape[1], per_stream):
                part = np.ascontiguousarray(x[:, start : start + per_stream])
                n, e, d, ok = _flac_stream(part, rate, Path(tmpdir), tool)
                size, enc, dec, exact = size + n, enc + e, dec + d, exact and ok
            run.add(x.nbytes, int(size), x.size, enc, dec, exact)
    return run


def _same(a: Recording, b: Any) -> bool:
    return (
        isinstance(b, Recording)
        and b.samples.dtype == a.samples.dtype
        and np.array_equal(b.samples, a.samples)
    )


def run_registered(ds: Dataset, name: str, repeats: int) -> Run:
    """A ratecraft codec through the public API; ``repeats`` > 1 warms up then keeps the best."""
    run = Run()
    est_total: float | None = 0.0
    for rec in ds.files:
        codec = get_codec(name)
        enc_times, dec_times = [], []
        exact = True
        for i in range(repeats + 1 if repeats > 1 else 1):
            t0 = time.perf_counter()
            blob, stats = codec.encode_with_stats(rec)
            t1 = time.perf_counter()
            back = decode(blob)
            t2 = time.perf_counter()
            exact = exact and _same(rec, back)
            if repeats == 1 or i > 0:  # run 0 is the warm-up (numba JIT compile)
                enc_times.append(t1 - t0)
                dec_times.append(t2 - t1)
        est = stats.estimated_bits
        est_total = None if (est_total is None or est is None) else est_total + est
        run.add(
            stats.raw_bytes,
            stats.container_bytes,
            stats.n_samples,
            min(enc_times),
            min(dec_times),
            exact,
        )
    run.est_bits = est_total
    return run


# ---- report -------------------------------------------------------------------------------


def record(
    ds: Dataset, codec: str, setting: str, run: Run, tool: str, timing: str, date: str
) -> dict[str, Any]:
    enc = run.n_samples / run.encode_s if run.encode_s > 0 else None
    dec = run.n_samples / run.decode_s if run.decode_s > 0 else None
    return {
        "dataset": ds.name,
        "dataset_description": ds.description,
        "codec": codec,
        "setting": setting,
        "ratio": run.raw_bytes / run.compressed_bytes,
        "per_file_ratio": run.per_file_ratio,
        "raw_bytes": run.raw_bytes,
        "compressed_bytes": run.compressed_bytes,
        "n_samples": run.n_samples,
        "bits_per_sample": 8.0 * run.compressed_bytes / run.n_samples,
        "est_bits_per_sample": None if run.est_bits is None else run.est_bits / run.n_samples,
        "encode_samples_per_s": enc,
        "decode_samples_per_s": dec,
        "encode_x_realtime": None if enc is None else enc / ds.realtime_rate,
        "decode_x_realtime": None if dec is None else dec / ds.realtime_rate,
        "bit_exact": run.bit_exact,
        "timing": timing,
        "tool": tool,
        "date": date,
    }


def _f(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def markdown_table(ds: Dataset, rows: list[dict[str, Any]]) -> str:
    lines = [
        f"### {ds.name} ({ds.description}; {ds.n_samples / 1e6:.2f} M samples)",
        "",
        "| codec | setting | ratio | bits/sample | est. bits/sample | encode MS/s | "
        "decode MS/s | enc / dec × real time | bit-exact |",
        "|---|---|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in rows:
        enc, dec = r["encode_samples_per_s"], r["decode_samples_per_s"]
        xrt = f"{_f(r['encode_x_realtime'], '.0f')} / {_f(r['decode_x_realtime'], '.0f')}"
        name = f"**{r['codec']}**" if r["codec"] == OURS else r["codec"]
        lines.append(
            f"| {name} | {r['setting']} | {r['ratio']:.3f} | {r['bits_per_sample']:.3f} | "
            f"{_f(r['est_bits_per_sample'], '.3f')} | {_f(enc and enc / 1e6, '.2f')} | "
            f"{_f(dec and dec / 1e6, '.2f')} | {xrt} | {'yes' if r['bit_exact'] else 'NO'} |"
        )
    return "\n".join(lines)


def check_targets(datasets: list[Dataset], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    targets = []
    ours = {r["dataset"]: r for r in records if r["codec"] == OURS}
    beats = []
    for ds in datasets:
        mine = ours.get(ds.name)
        peers = [r for r in records if r["dataset"] == ds.name and r["codec"] != OURS]
        best = max(peers, key=lambda r: r["ratio"]) if peers else None
        ok = mine is not None and best is not None and mine["ratio"] > best["ratio"]
        beats.append(ok)
        detail = (f"ours {mine['ratio']:.3f}" if mine else "ours crashed") + (
            f" vs best peer {best['codec']} {best['setting']} {best['ratio']:.3f}" if best else ""
        )
        targets.append(
            {
                "target": "beats every peer's ratio",
                "dataset": ds.name,
                "passed": ok,
                "detail": detail,
            }
        )
    exact = [r["dataset"] for r in ours.values() if not r["bit_exact"]]
    ok = len(ours) == len(datasets) and not exact
    targets.append(
        {
            "target": "bit-exact",
            "dataset": "all",
            "passed": ok,
            "detail": "every dataset round-trips exactly"
            if ok
            else f"not exact or not run: {exact or 'crashed'}",
        }
    )
    largest = max(datasets, key=lambda d: d.n_samples)
    mine = ours.get(largest.name)
    for kind in ("encode", "decode"):
        speed = mine and mine[f"{kind}_samples_per_s"]
        ok = bool(speed and speed >= REALTIME_TARGET)
        targets.append(
            {
                "target": f"{kind} ≥ {REALTIME_TARGET / 1e6:.2f} M samples/s on {CORES} cores "
                "(256 ch × 20 kHz real time)",
                "dataset": largest.name,
                "passed": ok,
                "detail": f"{speed / 1e6:.2f} M samples/s" if speed else "not measured",
            }
        )
    return targets


def _defaults(name: str) -> str:
    """The codec's default config, compactly (every ratecraft row codes a whole .rcz file)."""
    cfg = get_codec(name).config.model_dump(mode="json")
    return ", ".join(f"{k}={v}" for k, v in cfg.items()) or "defaults"


def environment(flac_info: tuple[str, str]) -> dict[str, Any]:
    import numba

    return {
        "ratecraft": ratecraft.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "os_cpu_count": os.cpu_count(),
        "pinned_cores": CORES,
        "cpu_affinity": AFFINITY,
        "numpy": np.__version__,
        "numba": numba.__version__,
        "zstandard": zstandard.__version__,
        "zstd_library": ".".join(str(v) for v in zstandard.ZSTD_VERSION),
        "soundfile": soundfile.__version__,
        "libsndfile": soundfile.__libsndfile_version__,
        "flac_tool": flac_info[0],
        "flac_version": flac_info[1],
        "lzma_bz2": f"CPython {platform.python_version()} stdlib",
        "timing": "predictive: best of --repeats after one warm-up run (numba JIT excluded); "
        "other ratecraft codecs and external peers: one run",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--openephys",
        default=str(DEFAULT_OPENEPHYS),
        help="Open Ephys recording folder (default: ../shared/data/openephys-16ch)",
    )
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="JSON results file")
    parser.add_argument("--seeds", type=int, default=3, help="synthetic implant files (seeds)")
    parser.add_argument(
        "--probe-seconds",
        type=float,
        default=10.0,
        help="length of the synthetic 32-channel recording",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of ours (best kept)")
    parser.add_argument("--cores", type=int, default=2, help="CPUs to pin to (read at start)")
    parser.add_argument("--quick", action="store_true", help="1 seed, 4 s probe recording")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)

    console = Console(stderr=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    log.info("os.cpu_count()=%s, pinned to %d core(s) %s", os.cpu_count(), CORES, AFFINITY)
    date = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    flac_info = flac_tool()
    log.info("FLAC via %s (%s)", *flac_info)
    datasets = load_datasets(args)

    registered = [n for n in ("zstd", "lzma", "flac") if n in available_codecs()]
    missing = sorted({"zstd", "lzma", "flac"} - set(registered))
    if missing:
        log.info("ratecraft codecs not registered (skipped): %s", ", ".join(missing))
    flac_setting = (
        "-8 (flac CLI, --no-padding)" if flac_info[0] == "cli" else "level 8 (soundfile/libsndfile)"
    )

    jobs: list[tuple[Dataset, str, str, Callable[[], Run], str, str]] = []
    for ds in datasets:
        for name, setting, comp, decomp in BYTE_PEERS:
            jobs.append(
                (
                    ds,
                    name,
                    setting,
                    lambda ds=ds, c=comp, d=decomp: run_bytes(ds, c, d),
                    "python stdlib / zstandard",
                    "one run",
                )
            )
        per = [1] + ([FLAC_MAX_CHANNELS] if ds.files[0].n_channels > 1 else [])
        for k in per:
            jobs.append(
                (
                    ds,
                    "flac",
                    f"{flac_setting}, {k} ch/stream",
                    lambda ds=ds, k=k: run_flac(ds, k, flac_info[0]),
                    f"{flac_info[0]}: {flac_info[1]}",
                    "one run",
                )
            )
        for name in registered:
            jobs.append(
                (
                    ds,
                    f"ratecraft:{name}",
                    _defaults(name),
                    lambda ds=ds, n=name: run_registered(ds, n, 1),
                    f"ratecraft {ratecraft.__version__} {name}",
                    "one run",
                )
            )
        jobs.append(
            (
                ds,
                OURS,
                _defaults(OURS),
                lambda ds=ds: run_registered(ds, OURS, args.repeats),
                f"ratecraft {ratecraft.__version__} {OURS}",
                f"best of {args.repeats} after 1 warm-up",
            )
        )

    records: list[dict[str, Any]] = []
    failures: list[str] = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("lossless runs", total=len(jobs))
        for ds, name, setting, job, tool, timing in jobs:
            progress.update(task, description=f"{ds.name}: {name}")
            try:
                run = job()
            except Exception:
                log.exception("%s on %s crashed", name, ds.name)
                failures.append(f"{name} on {ds.name}")
            else:
                records.append(record(ds, name, setting, run, tool, timing, date))
            progress.advance(task)

    for ds in datasets:
        print(markdown_table(ds, [r for r in records if r["dataset"] == ds.name]))
        print()
    print(
        "Ratios: raw int16 bytes / compressed bytes (ours: whole .rcz container). "
        f"Pinned to {CORES} of os.cpu_count()={os.cpu_count()} CPUs. Ours timed as best of "
        f"{args.repeats} after one warm-up run (numba JIT excluded); peers timed once.\n"
    )

    targets = check_targets(datasets, records)
    for t in targets:
        print(f"{'PASS' if t['passed'] else 'FAIL'}  {t['target']} [{t['dataset']}]: {t['detail']}")
    for f in failures:
        print(f"FAIL  crashed: {f}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": "lossless",
        "date": date,
        "environment": environment(flac_info),
        "datasets": {d.name: d.description for d in datasets},
        "records": records,
        "targets": targets,
        "crashed": failures,
    }
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(out)
    log.info("wrote %s", out)
    all_ok = not failures and all(t["passed"] for t in targets)
    return 1 if args.strict and not all_ok else 0


if __name__ == "__main__":
    sys.exit(main())
