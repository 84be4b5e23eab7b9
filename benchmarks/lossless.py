"""Lossless benchmark: the `predictive` codec against the general and audio codecs people use.

Datasets: (a) the real 16-channel Open Ephys recording in ``../shared/data/openephys-16ch``,
(b) the 53 real 10-bit implant recordings in ``../shared/data/implant-dev`` (mono WAV files),
(c) synthetic 10-bit implant-style recordings (mono, 19,531.25 Hz, 5 s each, 16-bit values on a
sparse grid, one file per seed) and (d) a synthetic 32-channel 30 kHz recording.

Every ratio is ``raw bytes / compressed bytes`` on the int16 samples interleaved frame by frame
(as the reference figures in ``shared/data/README.md``), except on the implant WAV files, where
raw bytes are the files' own sizes (as the published figures of that data set); ours counts the
whole `.rcz` container, headers included. Datasets of several files are summed (total raw /
total compressed). Every codec is decoded again and checked bit-exact. On sparse-grid data FLAC
also codes the code index (each value's rank, plus the table of values at two bytes a code), as
the data set's published FLAC figure does. Ours (``predictive`` at ``level=fast`` and
``level=max``) is timed as the best of ``--repeats`` runs after one warm-up run (so numba's JIT
compile is excluded); peers are timed once (C libraries, nothing to warm up; the FLAC CLI time
includes starting the process and reading the WAV). The machine's load average is recorded
beside the timings (``os.getloadavg()`` before and after every run).
The process is pinned to ``--cores`` CPUs (default 2) and BLAS/OpenMP/numba to as many threads.
Each row is a :class:`ratecraft.bench.RunRecord` (bits/sample: bits per stored value): ratecraft
codecs run through ``ratecraft.bench.run_one``, the other tools through ``record_peer``.

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
import logging  # noqa: E402
import lzma  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import soundfile  # noqa: E402
import zstandard  # noqa: E402
from _data import as_file_holds_it  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.logging import RichHandler  # noqa: E402
from rich.progress import Progress  # noqa: E402

import ratecraft  # noqa: E402
from ratecraft.bench import (  # noqa: E402
    LOSSLESS,
    Column,
    RunRecord,
    combine,
    markdown_table,
    record_peer,
    run_one,
    write_json,
)
from ratecraft.bench import failures as bench_failures  # noqa: E402
from ratecraft.bench.output import cell_of, num, yes_no  # noqa: E402
from ratecraft.codecs import available_codecs, get_codec  # noqa: E402
from ratecraft.codecs.classical import adaptive  # noqa: E402
from ratecraft.codecs.classical.alphabet import integerize  # noqa: E402
from ratecraft.data.io import read_data  # noqa: E402
from ratecraft.data.synthetic import simulate_recording  # noqa: E402
from ratecraft.data.types import Recording  # noqa: E402

log = logging.getLogger("benchmarks.lossless")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OPENEPHYS = REPO.parent / "shared" / "data" / "openephys-16ch"
DEFAULT_IMPLANT = REPO.parent / "shared" / "data" / "implant-dev"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "lossless.json"
IMPLANT_RATE = 19531.25  # 20 MHz / 1024, the implant's sample rate
REALTIME_TARGET = 256 * 20000.0  # samples/s of a 256-channel 20 kHz probe (5.12 M)
FLAC_MAX_CHANNELS = 8
OURS = "predictive"
LEVELS = ("fast", "max")
# issue 14's targets for `predictive`: ratio of level max per dataset, speeds in samples/s
MAX_RATIO_TARGETS = {"implant-dev": 3.57, "openephys-16ch": 2.45}
MAX_SPEED_TARGET = 1e6  # per core (level max codes one channel at a time; chunks on threads)
FAST_SPEED_TARGET = 20e6  # on the pinned cores


@dataclass
class Dataset:
    name: str
    description: str
    files: list[Recording]
    file_bytes: list[int] | None = None  # raw bytes of each file when not the samples' own

    @property
    def n_samples(self) -> int:
        return sum(r.samples.size for r in self.files)


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
    wavs = sorted(Path(args.implant_dev).glob("*.wav"))[:: 10 if args.quick else 1]
    if wavs:
        recs = [read_data(w) for w in wavs]
        out.append(
            Dataset(
                "implant-dev",
                f"real, {len(recs)} mono 10-bit implant files, {recs[0].sample_rate:g} Hz, "
                f"{sum(r.duration_s for r in recs):.0f} s in all; ratios on file bytes",
                recs,
                [w.stat().st_size for w in wavs],
            )
        )
    else:
        print(f"note: no WAV files in {args.implant_dev}; skipping the implant recordings\n")
    seeds = range(1 if args.quick else args.seeds)
    implant = [
        as_file_holds_it(
            simulate_recording(
                n_channels=1, sample_rate=IMPLANT_RATE, duration_s=5.0, seed=s, sparse_grid=True
            )[0]
        )
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
    probe = as_file_holds_it(probe)
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


def _from_interleaved(raw: bytes | np.ndarray, like: Recording) -> Recording:
    """The recording that frames × channels little-endian int16 ``raw`` holds, like ``like``."""
    x = np.frombuffer(raw, dtype="<i2") if isinstance(raw, bytes) else raw
    samples = np.ascontiguousarray(x.reshape(-1, like.n_channels).T)
    return Recording(samples=samples, sample_rate=like.sample_rate, uv_per_step=like.uv_per_step)


def run_bytes(
    ds: Dataset,
    name: str,
    setting: str,
    comp: Callable[[bytes], bytes],
    decomp: Callable[[bytes], bytes],
) -> RunRecord:
    """A byte compressor on the interleaved int16 samples of every file, summed."""
    parts = []
    for i, rec in enumerate(ds.files):
        raw = interleaved(rec).tobytes()
        t0 = time.perf_counter()
        blob = comp(raw)
        t1 = time.perf_counter()
        back = decomp(blob)
        t2 = time.perf_counter()
        parts.append(
            record_peer(
                f"{ds.name}[{i}]",
                rec,
                name,
                setting,
                container_bytes=len(blob),
                encode_seconds=t1 - t0,
                decode_seconds=t2 - t1,
                reconstruction=_from_interleaved(back, rec),
                lossless=True,
                measure=False,
            )
        )
    return combine(on_file_bytes(ds, parts), ds.name)


def on_file_bytes(ds: Dataset, parts: list[RunRecord]) -> list[RunRecord]:
    """Per-file records measured against the files' own sizes where the dataset has them."""
    if ds.file_bytes is not None:
        for part, size in zip(parts, ds.file_bytes, strict=True):
            part.set(raw_bytes=size)
    return parts


def flac_tool() -> tuple[str, str]:
    """('cli', version) when the flac command exists, else ('soundfile', libsndfile version)."""
    exe = shutil.which("flac")
    if exe:
        ver = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
        return "cli", ver
    return "soundfile", f"soundfile {soundfile.__version__}, {soundfile.__libsndfile_version__}"


def _flac_stream(
    x: np.ndarray, rate: int, tmp: Path, tool: str
) -> tuple[int, float, float, np.ndarray]:
    """Code one ≤8-channel stream; (flac bytes, encode s, decode s, decoded frames × channels)."""
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
    return flac.stat().st_size, t1 - t0, t2 - t1, y


def code_index(rec: Recording) -> tuple[Recording, int] | None:
    """The recording of each value's rank in its sorted table of values and the table's bytes
    (two a value), when the values sit on a sparse grid (at most a quarter of their range)."""
    values, ranks = np.unique(rec.samples, return_inverse=True)
    if len(values) * 4 > int(values[-1]) - int(values[0]) + 1:
        return None
    index = ranks.reshape(rec.samples.shape).astype(np.int16)
    return Recording(index, rec.sample_rate, rec.uv_per_step), 2 * len(values)


def run_flac(
    ds: Dataset, per_stream: int, tool: str, setting: str, on_index: bool = False
) -> RunRecord:
    """FLAC on every file, ``per_stream`` channels per stream (FLAC holds at most 8); with
    ``on_index``, on the code index of sparse-grid files (the table's bytes added)."""
    parts = []
    with tempfile.TemporaryDirectory(prefix="rc-flac-") as tmpdir:
        for i, rec in enumerate(ds.files):
            table_bytes = 0
            coded = rec
            if on_index:
                found = code_index(rec)
                if found is None:
                    raise ValueError(f"{ds.name}[{i}] has no sparse grid to index")
                coded, table_bytes = found
            x = interleaved(coded)
            rate = round(rec.sample_rate)
            size, enc, dec = float(table_bytes), 0.0, 0.0
            decoded = []
            for start in range(0, x.shape[1], per_stream):
                part = np.ascontiguousarray(x[:, start : start + per_stream])
                n, e, d, y = _flac_stream(part, rate, Path(tmpdir), tool)
                size, enc, dec = size + n, enc + e, dec + d
                decoded.append(y)
            parts.append(
                record_peer(
                    f"{ds.name}[{i}]",
                    rec,
                    "flac",
                    setting,
                    container_bytes=int(size),
                    encode_seconds=enc,
                    decode_seconds=dec,
                    reconstruction=_restore(np.hstack(decoded), rec, on_index),
                    lossless=True,
                    measure=False,
                )
            )
    return combine(on_file_bytes(ds, parts), ds.name)


def _restore(frames: np.ndarray, like: Recording, on_index: bool) -> Recording:
    out = _from_interleaved(frames, like)
    if on_index:  # the decoder maps ranks back through the table it was sent
        out.samples = np.unique(like.samples)[out.samples.astype(np.int64)].astype(np.int16)
    return out


def run_registered(
    ds: Dataset, name: str, repeats: int, config: dict[str, Any] | None = None
) -> RunRecord:
    """A ratecraft codec through the bench runner; ``repeats`` > 1 warms up, keeps the best."""
    parts = [
        run_one(
            f"{ds.name}[{i}]", rec, name, LOSSLESS, config=config, repeats=repeats, measure=False
        )[0]
        for i, rec in enumerate(ds.files)
    ]
    return combine(on_file_bytes(ds, parts), ds.name)


# ---- report -------------------------------------------------------------------------------


def _mega(value: float | None) -> str:
    return num(value and value / 1e6, ".2f")


COLUMNS = (
    Column("codec", lambda r: f"**{r.codec}**" if r.codec == OURS else r.codec),
    Column("setting", lambda r: r.setting),
    Column("ratio", cell_of("ratio", ".3f"), "---:"),
    Column("bits/sample", cell_of("bits_per_sample", ".3f"), "---:"),
    Column("est. bits/sample", cell_of("est_bits_per_sample", ".3f"), "---:"),
    Column("encode MS/s", lambda r: _mega(r.encode_samples_per_s), "---:"),
    Column("decode MS/s", lambda r: _mega(r.decode_samples_per_s), "---:"),
    Column(
        "enc / dec × real time",
        lambda r: f"{num(r.encode_x_realtime, '.0f')} / {num(r.decode_x_realtime, '.0f')}",
        "---:",
    ),
    Column("bit-exact", lambda r: yes_no(r.bit_exact, no="NO"), ":---:"),
    Column(
        "load (1 min, before/after)",
        lambda r: " / ".join(map(str, r.extra.get("load", []))),
        "---:",
    ),
)


def dataset_table(ds: Dataset, rows: list[RunRecord]) -> str:
    heading = f"### {ds.name} ({ds.description}; {ds.n_samples / 1e6:.2f} M samples)"
    return f"{heading}\n\n{markdown_table(rows, COLUMNS, keys=2)}"


def decisions_per_sample(ds: Dataset) -> float:
    """Binary decisions level max codes per sample on a dataset's files (mono: no reference)."""
    total = samples = 0
    for rec in ds.files:
        found = integerize(rec.samples)
        if found is None:
            continue
        ints = found[0]
        refs = np.full(ints.shape[0], -1, dtype=np.int64)
        total += adaptive.count_decisions(ints, refs, int(ints.min()), int(ints.max()))
        samples += ints.size
    return total / max(samples, 1)


def _level(r: RunRecord) -> str:
    return str(r.extra.get("level", ""))


def check_targets(datasets: list[Dataset], records: list[RunRecord]) -> list[dict[str, Any]]:
    targets = []

    def add(target: str, dataset: str, passed: bool, detail: str) -> None:
        targets.append({"target": target, "dataset": dataset, "passed": passed, "detail": detail})

    ours = {(r.input, _level(r)): r for r in records if r.codec == OURS}
    for ds in datasets:
        mine = ours.get((ds.name, "max"))
        peers = [r for r in records if r.input == ds.name and r.codec != OURS and r.ratio]
        best = max(peers, key=lambda r: r.ratio or 0.0) if peers else None
        ok = bool(mine and best and (mine.ratio or 0.0) > (best.ratio or 0.0))
        detail = (f"max {mine.ratio:.3f}" if mine and mine.ratio else "max crashed") + (
            f" vs best peer {best.codec} {best.setting} {best.ratio:.3f}" if best else ""
        )
        add("level max beats every peer's ratio", ds.name, ok, detail)
        fast = ours.get((ds.name, "fast"))
        if mine and fast and mine.ratio and fast.ratio:
            add(
                "level max smaller than level fast",
                ds.name,
                mine.ratio > fast.ratio,
                f"max {mine.ratio:.4f} vs fast {fast.ratio:.4f}",
            )
        want = MAX_RATIO_TARGETS.get(ds.name)
        if want is not None:
            got = mine.ratio if mine and mine.ratio else 0.0
            add(
                f"level max ratio ≥ {want:.2f}",
                ds.name,
                got >= want,
                f"{got:.4f} ({100 * (got / want - 1):+.1f}% of the target)",
            )
    exact = [f"{r.input} {_level(r)}" for r in ours.values() if not r.bit_exact]
    ok = len(ours) == len(datasets) * len(LEVELS) and not exact
    add(
        "bit-exact, both levels",
        "all",
        ok,
        "every dataset round-trips exactly"
        if ok
        else f"not exact or not run: {exact or 'crashed'}",
    )
    largest = max(datasets, key=lambda d: d.n_samples)
    # (level, target, where, cores the speed is divided by): chunks are coded on up to
    # CORES threads, so the per-core figure is the measured speed over CORES
    speed_targets = (
        ("fast", REALTIME_TARGET, f"on {CORES} cores (256 ch × 20 kHz real time)", 1),
        ("fast", FAST_SPEED_TARGET, f"on {CORES} cores", 1),
        ("max", MAX_SPEED_TARGET, f"per core (measured on {CORES}, divided by {CORES})", CORES),
    )
    for level, want, where, per in speed_targets:
        mine = ours.get((largest.name, level))
        for kind, speed in (
            ("encode", mine and mine.encode_samples_per_s),
            ("decode", mine and mine.decode_samples_per_s),
        ):
            speed = speed and speed / per
            add(
                f"level {level} {kind} ≥ {want / 1e6:.2f} M samples/s {where}",
                largest.name,
                bool(speed and speed >= want),
                f"{speed / 1e6:.2f} M samples/s (load {mine.extra.get('load')})"
                if mine and speed
                else "not measured",
            )
    return targets


def _defaults(name: str, **config: Any) -> str:
    """The codec's config, compactly (every ratecraft row codes a whole .rcz file)."""
    cfg = get_codec(name, config).config.model_dump(mode="json")
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
        "loadavg_at_start": list(os.getloadavg()),
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
    parser.add_argument(
        "--implant-dev",
        default=str(DEFAULT_IMPLANT),
        help="folder of implant WAV files (default: ../shared/data/implant-dev)",
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

    # (dataset, codec label, setting, run, tool, timing)
    jobs: list[tuple[Dataset, str, str, Callable[[], RunRecord], str, str]] = []
    for ds in datasets:
        for name, setting, comp, decomp in BYTE_PEERS:
            jobs.append(
                (
                    ds,
                    name,
                    setting,
                    lambda ds=ds, n=name, s=setting, c=comp, d=decomp: run_bytes(ds, n, s, c, d),
                    "python stdlib / zstandard",
                    "one run",
                )
            )
        if all(code_index(r) is not None for r in ds.files):
            setting = f"{flac_setting}, on the code index + table"
            jobs.append(
                (
                    ds,
                    "flac",
                    setting,
                    lambda ds=ds, s=setting: run_flac(ds, 1, flac_info[0], s, on_index=True),
                    f"{flac_info[0]}: {flac_info[1]}",
                    "one run",
                )
            )
        per = [1] + ([FLAC_MAX_CHANNELS] if ds.files[0].n_channels > 1 else [])
        for k in per:
            setting = f"{flac_setting}, {k} ch/stream"
            jobs.append(
                (
                    ds,
                    "flac",
                    setting,
                    lambda ds=ds, k=k, s=setting: run_flac(ds, k, flac_info[0], s),
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
        for level in LEVELS:
            jobs.append(
                (
                    ds,
                    OURS,
                    _defaults(OURS, level=level),
                    lambda ds=ds, lv=level: run_registered(ds, OURS, args.repeats, {"level": lv}),
                    f"ratecraft {ratecraft.__version__} {OURS}",
                    f"best of {args.repeats} after 1 warm-up",
                )
            )

    records: list[RunRecord] = []
    failures: list[str] = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("lossless runs", total=len(jobs))
        for ds, name, setting, job, tool, timing in jobs:
            progress.update(task, description=f"{ds.name}: {name} {setting[:24]}")
            load_before = os.getloadavg()
            try:
                run = job()
            except Exception:
                log.exception("%s on %s crashed", name, ds.name)
                failures.append(f"{name} on {ds.name}")
            else:
                # every ratecraft row codes losslessly with its defaults: say which
                run.set(codec=name, setting=setting)
                load = [round(v, 2) for v in (*load_before[:1], os.getloadavg()[0])]
                run.extra.update(timing=timing, tool=tool, load=load)
                if name == OURS:
                    run.extra["level"] = setting.split(",")[0].removeprefix("level=")
                if run.status != "ok":
                    log.error("%s on %s: %s: %s", name, ds.name, run.status, run.error)
                records.append(run)
            progress.advance(task)

    for ds in datasets:
        print(dataset_table(ds, [r for r in records if r.input == ds.name]))
    print(
        "Ratios: raw int16 bytes / compressed bytes (ours: whole .rcz container); bits/sample "
        f"are bits per stored value. Pinned to {CORES} of os.cpu_count()={os.cpu_count()} "
        f"CPUs. Ours timed as best of {args.repeats} after one warm-up run (numba JIT "
        "excluded); peers timed once.\n"
    )

    targets = check_targets(datasets, records)
    for t in targets:
        print(f"{'PASS' if t['passed'] else 'FAIL'}  {t['target']} [{t['dataset']}]: {t['detail']}")
    for f in failures:
        print(f"FAIL  crashed: {f}")
    for r in bench_failures(records):
        print(f"FAIL  {r.codec} {r.setting} [{r.input}]: {r.error}")

    cost: dict[str, Any] = dict(adaptive.state_figures(with_reference=False))
    implant = next((d for d in datasets if d.name == "implant-dev"), datasets[0])
    cost["decisions_per_sample"] = decisions_per_sample(implant)
    print(
        "Implant-side cost of level max, one channel: "
        f"{cost['predictor_macs_per_sample']} multiply-accumulates per sample in the predictor, "
        f"about {cost['mixer_macs_per_decision']} per coded binary decision in the coder "
        f"({cost['decisions_per_sample']:.1f} decisions per sample on the implant files), "
        f"{cost['filter_state_bytes']} bytes of filter state and {cost['model_bytes']} bytes of "
        "context models.\n"
    )
    out = Path(args.out)
    doc = {
        "implant_cost_max": cost,
        "benchmark": "lossless",
        "date": date,
        "environment": environment(flac_info),
        "datasets": {d.name: d.description for d in datasets},
        "records": records,
        "targets": targets,
        "crashed": failures,
    }
    write_json(out, doc)
    log.info("wrote %s", out)
    all_ok = not failures and all(t["passed"] for t in targets)
    all_ok = all_ok and not bench_failures(records)
    return 1 if args.strict and not all_ok else 0


if __name__ == "__main__":
    sys.exit(main())
