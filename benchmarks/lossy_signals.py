"""Lossy benchmark: rate–distortion of neural-recording codecs at real ratios 10–200x.

Datasets: (a) the real 16-channel Open Ephys recording in ``../shared/data/openephys-16ch``,
split in time — learned codecs train on the first 70%, every codec is scored on the last 30%;
(b) a synthetic 32-channel 30 kHz probe recording from ``simulate_recording`` with its spike
ground truth (learned codecs train on a second recording simulated with another seed).

Codecs: the classical lossy baselines — our ``quant`` (closed-loop DPCM), ``wavelet`` (DWT +
dead-zone quantization + ANS), ``pca`` (KLT across electrodes + ANS), ``sz3`` (SZ3 via
numcodecs-wasm-sz3) and WavPack's hybrid lossy mode (the ``wavpack``/``wvunpack`` commands on a
multichannel int16 WAV; skipped with a note when not installed) — and the learned codecs of
``ratecraft.codecs.learned`` listed in ``LEARNED`` (each skipped with a note while it is not
registered), among them ``spike-lfp``, the spike-event + LFP hybrid built for the 100–200x
bandwidth of an implant. Every row runs through ``ratecraft.bench.run_one`` (WavPack through
``record_peer``) and is a :class:`ratecraft.bench.RunRecord`. What ``fit`` sees
(:func:`fit_plan`): classical codecs run their own rate control on the data they code; learned
codecs train on the training split, then code the test split and decode it with their trained
model (``codec.decode``, the one decode path).

Every ratio is real: raw bytes / bytes of the `.rcz` container (or the ``.wv`` file). Per row:
real ratio, the knob the rate control chose (``knobs``), SNDR, spike-window SNDR, spike F1
against the original's detections, spike F1 against the simulator's ground truth (synthetic
only; ``ratecraft.bench.truth_f1``), mean LFP band-power error, LFP SNDR (both signals low-passed
below 300 Hz; ``ratecraft.metrics.lfp_sndr_db``), model size in bytes (0 for codecs with no
trained state) and encode/decode throughput in samples/s and as a multiple of real time (one
timed run after the rate search, pinned to ``--cores`` CPUs; ``fit`` time is separate).

A throughput section follows for every learned codec that ran: encode speed on a simulated
256-channel 20 kHz stream (target: at least real time on 2 cores) and the latency of one
1024-channel × 20 ms window, wall clock with the process's CPU time beside it (the machine may
be shared; ``--no-throughput`` skips the section): ``encode(window)`` as a recording of its
own, and — for codecs with a streamed path (``spike-lfp``: ``stream_encoder().push(window)``,
state carried between windows) — the median of 25 streamed windows after 3 untimed ones, which
is what the ≤ 10 ms target (issue 14) judges; the stream is decoded and scored too. When the
fit chose LFP mode, a residual-mode model of the same geometry is streamed and timed as well.

It ends with the targets of issue 3 at 20x and 200x, measured on the best classical baseline:
the bars the learned codecs must clear. A learned codec is judged only when it has run here.

Run: ``.venv/bin/python benchmarks/lossy_signals.py [--quick]``; writes
``benchmarks/results/lossy_signals.json`` and ``benchmarks/results/lossy_signals.png``.
"""

from __future__ import annotations

import os
import sys

from _pinning import pin_threads

CORES, AFFINITY = pin_threads(sys.argv[1:])

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
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
from _data import as_file_holds_it  # noqa: E402

import ratecraft  # noqa: E402
from ratecraft.bench import (  # noqa: E402
    Column,
    RunRecord,
    markdown_table,
    record_peer,
    run_one,
    write_json,
)
from ratecraft.bench.output import cell_of, num  # noqa: E402
from ratecraft.bench.runner import model_bytes  # noqa: E402
from ratecraft.codecs import Budget, available_codecs, get_codec  # noqa: E402
from ratecraft.codecs.base import Codec  # noqa: E402
from ratecraft.data.io import read_data  # noqa: E402
from ratecraft.data.synthetic import SpikeTruth, simulate_recording  # noqa: E402
from ratecraft.data.types import Data, Recording  # noqa: E402
from ratecraft.errors import BadInputError, RatecraftError  # noqa: E402
from ratecraft.metrics import lfp_sndr_db  # noqa: E402

log = logging.getLogger("benchmarks.lossy_signals")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OPENEPHYS = REPO.parent / "shared" / "data" / "openephys-16ch"
RESULTS = REPO / "benchmarks" / "results"
RATIOS = (10.0, 20.0, 40.0, 100.0, 200.0)
QUICK_RATIOS = (20.0, 200.0)  # the ratios issue 3 sets targets at
TRAIN_FRACTION = 0.7
CLASSICAL = ("quant", "wavelet", "pca", "sz3")
WAVPACK = "wavpack-hybrid"
LEARNED = ("conv-ae", "lstm-ae", "transformer", "vae", "spatial", "spike-lfp")
AUTOENCODERS = LEARNED[:5]
# targets of issue 3
F1_AT_20, SPIKE_SNDR_MARGIN_AT_20 = 0.95, 3.0
F1_AT_200, LFP_SNDR_AT_200 = 0.90, 15.0


@dataclass
class Dataset:
    name: str
    description: str
    train: Recording | Callable[[], Recording]  # learned codecs fit here (built on demand)
    test: Recording
    truth: SpikeTruth | None = None

    def train_data(self) -> Recording:
        if callable(self.train):
            self.train = self.train()
        return self.train

    @property
    def realtime_rate(self) -> float:
        return self.test.n_channels * self.test.sample_rate


# ---- runs -----------------------------------------------------------------------------------

LEARNED_CONFIG: dict[str, dict[str, Any]] = {}  # per learned codec: config overrides
# --quick trains the autoencoders briefly (a smoke run of the pipeline, not their best figures)
QUICK_LEARNED_CONFIG: dict[str, Any] = {"train": {"epochs": 3}, "max_windows": 256}
KNOBS = ("step", "error_bound", "codebook_size", "residual")  # what rate control sets


def group(name: str) -> str:
    """``learned`` for the codecs this script trains, else ``classical`` (the targets' bars)."""
    return "learned" if name in LEARNED else "classical"


def fit_plan(name: str, ds: Dataset) -> dict[str, Any]:
    """What ``fit`` sees: classical codecs have nothing to learn, so their rate control runs on
    the data they code; learned codecs train on the training split only (the test split is
    never seen), with this script's config overrides."""
    if name in LEARNED:
        return {"config": LEARNED_CONFIG.get(name, {}), "fit_data": ds.train_data()}
    return {}


def lossy_figures(original: Data, recon: Data, codec: Codec | None) -> dict[str, Any]:
    """This benchmark's figures beyond the bench's: LFP SNDR and the knob rate control chose."""
    assert isinstance(original, Recording) and isinstance(recon, Recording)
    out: dict[str, Any] = {
        "lfp_sndr_db": lfp_sndr_db(original.samples, recon.samples, original.sample_rate)
    }
    if codec is not None:
        cfg = codec.config.model_dump(mode="json")
        knob = {k: cfg[k] for k in KNOBS if k in cfg}
        out["knobs"] = ", ".join(f"{k}={_knob(v)}" for k, v in knob.items()) or None
    return out


def run_registered(ds: Dataset, name: str, target: float) -> RunRecord:
    record, _ = run_one(
        ds.name,
        ds.test,
        name,
        Budget(ratio=target),
        truth=ds.truth,
        extra=lossy_figures,
        **fit_plan(name, ds),
    )
    record.extra["group"] = group(name)
    return record


def _knob(value: Any) -> str:
    return format(value, ".4g") if isinstance(value, float) else str(value)


# ---- WavPack hybrid lossy -------------------------------------------------------------------


def wavpack_version() -> str | None:
    if shutil.which("wavpack") is None or shutil.which("wvunpack") is None:
        return None
    out = subprocess.run(["wavpack", "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).strip().splitlines()[0] if out.returncode == 0 else "?"


def _wavpack(ds: Dataset, bps: float, tmp: Path) -> tuple[int, float, float, Recording]:
    """Code the test split at ``bps`` bits/sample (-b, hybrid lossy, -h); decode it again."""
    wav, wv, back = tmp / "in.wav", tmp / "out.wv", tmp / "back.wav"
    x = ds.test.samples
    if not wav.exists():  # one multichannel (frames × channels) int16 WAV per dataset
        soundfile.write(wav, np.ascontiguousarray(x.T), round(ds.test.sample_rate), "PCM_16")
    for p in (wv, back):
        p.unlink(missing_ok=True)
    start = time.perf_counter()
    subprocess.run(
        ["wavpack", "-q", "-y", "-h", f"-b{bps:.2f}", str(wav), "-o", str(wv)],
        check=True,
        capture_output=True,
    )
    enc_s = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run(
        ["wvunpack", "-q", "-y", str(wv), "-o", str(back)], check=True, capture_output=True
    )
    y, _ = soundfile.read(back, dtype="int16", always_2d=True)
    dec_s = time.perf_counter() - start
    recon = Recording(
        samples=np.ascontiguousarray(y.T),
        sample_rate=ds.test.sample_rate,
        uv_per_step=ds.test.uv_per_step,
    )
    return wv.stat().st_size, enc_s, dec_s, recon


def run_wavpack(ds: Dataset, targets: tuple[float, ...]) -> list[RunRecord]:
    """Per target: the highest -b (bits/sample, 2.0–23.9) whose .wv file meets the ratio.

    WavPack's hybrid mode cannot go below 2 bits/sample, so targets above its floor are reported
    as unreachable, and one extra row shows the floor itself.
    """
    if ds.test.samples.dtype != np.int16:
        row = RunRecord.start(ds.name, ds.test, WAVPACK, "hybrid lossy")
        row.set(status="skipped", error="WavPack row needs int16 samples")
        row.extra["group"] = group(WAVPACK)
        return [row]

    def peer(setting: str | Budget, size: int, enc_s: float, dec_s: float, recon: Recording):
        row = record_peer(
            ds.name,
            ds.test,
            WAVPACK,
            setting,
            container_bytes=size,
            encode_seconds=enc_s,
            decode_seconds=dec_s,
            reconstruction=recon,
            truth=ds.truth,
            extra=lossy_figures,
        )
        row.extra["group"] = group(WAVPACK)
        return row

    rows = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        floor = _wavpack(ds, 2.0, tmp)
        floor_ratio = ds.test.samples.nbytes / floor[0]
        for target in targets:
            if floor_ratio < target:
                row = RunRecord.start(ds.name, ds.test, WAVPACK, Budget(ratio=target))
                row.set(
                    status="unreachable",
                    error=f"hybrid mode bottoms out at -b2 (2 bits/sample): {floor_ratio:.2f}x",
                )
                row.extra["group"] = group(WAVPACK)
                rows.append(row)
                continue
            lo, hi = 2.0, 23.9  # ratio falls as bits/sample rise: keep the largest that meets it
            for _ in range(10):
                mid = 0.5 * (lo + hi)
                size = _wavpack(ds, mid, tmp)[0]
                lo, hi = (mid, hi) if ds.test.samples.nbytes / size >= target else (lo, mid)
            rows.append(peer(Budget(ratio=target), *_wavpack(ds, lo, tmp)))
            rows[-1].extra["knobs"] = f"-b{lo:.2f} -h"
        rows.append(peer("floor", *floor))
        rows[-1].extra["knobs"] = "-b2.00 -h (floor)"
    return rows


# ---- datasets -------------------------------------------------------------------------------


def _slice(rec: Recording, a: int, b: int) -> Recording:
    return Recording(
        samples=np.ascontiguousarray(rec.samples[:, a:b]),
        sample_rate=rec.sample_rate,
        uv_per_step=rec.uv_per_step,
        channel_names=rec.channel_names,
    )


def load_datasets(args: argparse.Namespace) -> tuple[list[Dataset], list[str]]:
    notes = []
    out = []
    path = Path(args.openephys)
    if path.is_dir():
        rec = read_data(path)
        cut = int(TRAIN_FRACTION * rec.n_samples)
        test = _slice(rec, cut, rec.n_samples)
        out.append(
            Dataset(
                "openephys-16ch",
                f"real, {rec.n_channels} ch, {rec.sample_rate / 1000:g} kHz; test = last 30% "
                f"({test.duration_s:.2f} s), train = first 70%",
                _slice(rec, 0, cut),
                test,
            )
        )
    else:
        notes.append(f"{path} not found; the Open Ephys recording is skipped")
    ch, dur = (8, 1.0) if args.quick else (32, args.synthetic_seconds)
    opts = dict(n_channels=ch, sample_rate=30000.0, duration_s=dur)
    test, truth = simulate_recording(seed=1, **opts)
    test = as_file_holds_it(test)  # scored as the file holds it; training keeps positions
    out.append(
        Dataset(
            f"synthetic-{ch}ch-30k",
            f"synthetic, {ch} ch, 30 kHz, {dur:g} s, spike ground truth; "
            "train = another recording (seed 1001)",
            lambda: simulate_recording(seed=1001, **opts)[0],
            test,
            truth,
        )
    )
    return out, notes


# ---- encoder throughput and latency of the learned codecs (issue 3) --------------------------

STREAM_CHANNELS, STREAM_RATE_HZ = 256, 20000.0  # target: encode at least in real time
WINDOW_CHANNELS, WINDOW_MS = 1024, 20.0  # target: one window encoded in under 10 ms
LATENCY_TARGET_MS = 10.0
# default 20x; spike-lfp also at 100x: on the simulated 256-ch probe (every spike seen on several
# electrodes) its events alone need more than 1/200 of the raw rate, so 200x is refused there
THROUGHPUT_RATIOS: dict[str, tuple[float, ...]] = {"spike-lfp": (20.0, 100.0)}
THROUGHPUT_REPEATS = 5
STREAM_WARMUP, STREAM_WINDOWS = 3, 25  # streamed windows: untimed, then timed (median)
# Speed depends on the architecture, not on how long it trained: one short epoch is enough.
_SHORT_TRAINING: dict[str, Any] = {"train": {"epochs": 1}, "max_windows": 64}
THROUGHPUT_CONFIG: dict[str, dict[str, Any]] = {
    **{name: _SHORT_TRAINING for name in AUTOENCODERS},
    "spike-lfp": {"codebook_sizes": [32]},
}


def _timed(fn: Callable[[], Any], repeats: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (this process, all threads) seconds of ``repeats`` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def _throughput_row(
    name: str, ratio: float, data: dict[str, Recording], seconds: float
) -> dict[str, Any]:
    row: dict[str, Any] = {"codec": name, "ratio": ratio, "status": "ok"}
    stream, window = data["stream"], data["window"]
    budget = Budget(ratio=ratio)
    cfg = THROUGHPUT_CONFIG.get(name, {})
    try:
        codec = get_codec(name, cfg).fit(data["stream_train"], budget)
        codec.encode(_slice(stream, 0, min(2048, stream.n_samples)))  # warm-up
        wall, cpu = _timed(lambda c=codec: c.encode(stream), 2)
        realtime = STREAM_CHANNELS * STREAM_RATE_HZ
        row.update(
            model_bytes=model_bytes(codec),
            stream_seconds=seconds,
            encode_samples_per_s=stream.samples.size / min(wall),
            encode_x_realtime=stream.samples.size / min(wall) / realtime,
            encode_x_realtime_cpu=stream.samples.size / min(cpu) / realtime,
        )
        wide = get_codec(name, cfg).fit(data["wide_train"], budget)
        wide.encode(window)  # warm-up
        wall, cpu = _timed(lambda c=wide: c.encode(window), THROUGHPUT_REPEATS)
        row.update(
            window_shape=list(window.samples.shape),
            window_latency_ms_median=1e3 * float(np.median(wall)),
            window_latency_ms_min=1e3 * min(wall),
            window_cpu_ms_median=1e3 * float(np.median(cpu)),
        )
        if hasattr(wide, "stream_encoder"):
            row.update(_streamed_windows(wide, data["wide_stream"]))
            if not wide.config.residual:  # the fit chose LFP mode: time residual mode too
                res = get_codec(name, {**cfg, "residual": True}).fit(data["wide_train"])
                timed = _streamed_windows(res, data["wide_stream"], ratio=ratio)
                row.update({f"residual_{k}": v for k, v in timed.items()})
    except (BadInputError, RatecraftError) as exc:
        row.update(status="refused", note=" ".join(str(exc).split()))
    row["meets_realtime"] = (row.get("encode_x_realtime") or 0.0) >= 1.0
    # an implant streams: where the codec has a streamed path, that is the latency judged
    latency = row.get("stream_latency_ms_median", row.get("window_latency_ms_median"))
    row["meets_latency"] = (latency if latency is not None else math.inf) <= LATENCY_TARGET_MS
    row["load_average_1min"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return row


def _streamed_windows(codec: Any, rec: Recording, ratio: float | None = None) -> dict[str, Any]:
    """Latency of ``push(window)`` on a codec's streamed path (state carried between windows,
    one search on the first window, then per-stream rate control at ``ratio``, default the
    fitted one): every window of ``rec`` pushed in order, the first ``STREAM_WARMUP`` untimed;
    the stream is then decoded and scored against ``rec``."""
    from ratecraft.metrics import spike_metrics

    frames = round(WINDOW_MS * 1e-3 * rec.sample_rate)
    x = rec.samples
    enc = codec.stream_encoder() if ratio is None else codec.stream_encoder(ratio=ratio)
    blob, wall, cpu = b"", [], []
    for i, first in enumerate(range(0, x.shape[1] - frames + 1, frames)):
        win = np.ascontiguousarray(x[:, first : first + frames])
        w0, c0 = time.perf_counter(), time.process_time()
        blob += enc.push(win)
        if i >= STREAM_WARMUP:
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
    blob += enc.flush()
    used = (x.shape[1] // frames) * frames
    dec = codec.stream_decoder()
    out = np.concatenate(dec.push(blob), axis=1)
    dec.finish()
    m = spike_metrics(x[:, :used], out, rec.sample_rate)
    return dict(
        stream_mode="residual" if codec.config.residual else "lfp",
        stream_windows_timed=len(wall),
        stream_latency_ms_median=1e3 * float(np.median(wall)),
        stream_latency_ms_min=1e3 * min(wall),
        stream_cpu_ms_median=1e3 * float(np.median(cpu)),
        stream_lookahead_ms=1e3 * enc.lookahead / rec.sample_rate,
        stream_ratio=x[:, :used].nbytes / len(blob),
        stream_spike_f1=m["spike_f1"],
        stream_spike_window_sndr_db=m["spike_window_sndr_db"],
    )


def throughput(names: list[str], quick: bool) -> list[dict[str, Any]]:
    """Per learned codec: encode speed on a 256-ch 20 kHz stream and one 1024-ch 20 ms window.

    Each codec is trained (briefly) on a separate simulated recording of the same geometry at
    its ratios (``THROUGHPUT_RATIOS``, default 20x), then full ``encode`` calls (normalization,
    network, entropy coding, container) are timed after one warm-up call on the pinned cores:
    wall clock (the target) and this process's CPU time, which is what an idle machine would
    show when the shared machine is busy (``load_average_1min`` tells).
    """
    seconds = 0.5 if quick else 1.0
    opts = dict(sample_rate=STREAM_RATE_HZ)
    frames = round(WINDOW_MS * 1e-3 * STREAM_RATE_HZ)
    # the streamed path's windows: STREAM_WARMUP untimed, then STREAM_WINDOWS timed
    span = (STREAM_WARMUP + STREAM_WINDOWS) * WINDOW_MS * 1e-3
    wide = simulate_recording(n_channels=WINDOW_CHANNELS, duration_s=span, seed=8, **opts)[0]
    data = {
        "stream": simulate_recording(
            n_channels=STREAM_CHANNELS, duration_s=seconds, seed=7, **opts
        )[0],
        "stream_train": simulate_recording(
            n_channels=STREAM_CHANNELS, duration_s=seconds, seed=1007, **opts
        )[0],
        "wide_train": simulate_recording(
            n_channels=WINDOW_CHANNELS, duration_s=0.25, seed=1008, **opts
        )[0],
        "window": _slice(wide, 0, frames),
        "wide_stream": wide,
    }
    rows = []
    for name in names:
        for ratio in THROUGHPUT_RATIOS.get(name, (20.0,)):
            rows.append(_throughput_row(name, ratio, data, seconds))
            log.warning("throughput %s at %gx: %s", name, ratio, rows[-1])
    return rows


def throughput_table(rows: list[dict[str, Any]]) -> str:
    head = [
        "codec",
        "ratio",
        "model B",
        f"encode {STREAM_CHANNELS} ch × {STREAM_RATE_HZ / 1000:g} kHz (S/s)",
        "× real time, wall (CPU) — target ≥ 1",
        f"one {WINDOW_CHANNELS} ch × {WINDOW_MS:g} ms window, encode(window): median ms wall (CPU)",
        f"streamed windows, push(window): median ms wall (CPU) — target ≤ {LATENCY_TARGET_MS:g}",
        "streamed: mode, real ratio, spike F1, spike-win SNDR dB",
        "streamed in residual mode (when the fit chose LFP): median ms wall (CPU), real ratio, "
        "spike-win SNDR dB",
        "load avg",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        if r["status"] != "ok":
            cells = [r["codec"], f"{r['ratio']:g}x", f"n/a ({r['status']}: {r.get('note')})"]
            cells += ["–"] * (len(head) - len(cells))
        else:
            cells = [
                r["codec"],
                f"{r['ratio']:g}x",
                num(r.get("model_bytes"), "d"),
                num(r.get("encode_samples_per_s"), ".3g"),
                f"{num(r.get('encode_x_realtime'), '.2f')} "
                f"({num(r.get('encode_x_realtime_cpu'), '.2f')}) "
                + ("PASS" if r["meets_realtime"] else "FAIL"),
                f"{num(r.get('window_latency_ms_median'), '.1f')} "
                f"({num(r.get('window_cpu_ms_median'), '.1f')})",
                f"{num(r.get('stream_latency_ms_median'), '.1f')} "
                f"({num(r.get('stream_cpu_ms_median'), '.1f')}) "
                + ("PASS" if r["meets_latency"] else "FAIL"),
                (
                    f"{r['stream_mode']}, {r['stream_ratio']:.1f}x, "
                    f"{num(r.get('stream_spike_f1'), '.3f')}, "
                    f"{num(r.get('stream_spike_window_sndr_db'), '.1f')}"
                    if "stream_mode" in r
                    else "–"
                ),
                (
                    f"{r['residual_stream_latency_ms_median']:.1f} "
                    f"({r['residual_stream_cpu_ms_median']:.1f}), "
                    f"{r['residual_stream_ratio']:.1f}x, "
                    f"{num(r.get('residual_stream_spike_window_sndr_db'), '.1f')}"
                    if "residual_stream_latency_ms_median" in r
                    else "–"
                ),
                num(r.get("load_average_1min"), ".1f"),
            ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


# ---- output ---------------------------------------------------------------------------------


def _speed(sps: float | None, rt: float | None) -> str:
    if sps is None:
        return "–"
    return f"{sps / 1e6:.2f}M ({rt:.0f}×)" if rt is not None else f"{sps / 1e6:.2f}M"


def dataset_columns(truth: bool) -> list[Column]:
    """The columns of a dataset's table (truth F1 only where the simulator's spikes are known)."""
    return [
        Column("codec", lambda r: r.codec),
        Column("target", cell_of("target_ratio", "g")),
        Column("real ratio", cell_of("ratio", ".2f")),
        Column("setting", lambda r: r.get("knobs") or "–"),
        Column("SNDR dB", cell_of("sndr_db", ".1f")),
        Column("spike-win SNDR dB", cell_of("spike_window_sndr_db", ".1f")),
        Column("spike F1", cell_of("spike_f1", ".3f")),
        *([Column("truth F1", cell_of("spike_f1_truth", ".3f"))] if truth else []),
        Column("LFP band err", cell_of("lfp_band_error", ".3f")),
        Column("LFP SNDR dB", cell_of("lfp_sndr_db", ".1f")),
        Column("model B", cell_of("model_bytes", "d")),
        Column("encode S/s (×RT)", lambda r: _speed(r.encode_samples_per_s, r.encode_x_realtime)),
        Column("decode S/s (×RT)", lambda r: _speed(r.decode_samples_per_s, r.decode_x_realtime)),
    ]


def _value(r: RunRecord, key: str) -> float | None:
    value = r.get(key)
    return None if value is None or math.isnan(value) else float(value)


def _best(rows: list[RunRecord], target: float, key: str) -> RunRecord | None:
    """The row at ``target`` (ratio met) with the highest ``key``."""
    ok = [
        r
        for r in rows
        if r.status == "ok"
        and r.target_ratio == target
        and (r.ratio or 0.0) >= target
        and _value(r, key) is not None
    ]
    return max(ok, key=lambda r: _value(r, key) or 0.0) if ok else None


def targets(datasets: list[Dataset], records: list[RunRecord]) -> list[dict[str, Any]]:
    """Issue 3's targets at 20x and 200x: the classical bar and, if any ran, learned results."""
    out = []
    for ds in datasets:
        rows = [r for r in records if r.input == ds.name]
        classical = [r for r in rows if r.get("group") == "classical"]
        learned = [r for r in rows if r.get("group") == "learned"]
        f1_key = "spike_f1_truth" if ds.truth is not None else "spike_f1"
        checks = [
            (20.0, f1_key, "spike F1", F1_AT_20, None),
            (20.0, "spike_window_sndr_db", "spike-window SNDR dB", None, SPIKE_SNDR_MARGIN_AT_20),
            (200.0, f1_key, "spike F1", F1_AT_200, None),
            (200.0, "lfp_sndr_db", "LFP (<300 Hz) SNDR dB", LFP_SNDR_AT_200, None),
        ]
        for ratio, key, label, absolute, margin in checks:
            best = _best(classical, ratio, key)
            best_value = None if best is None else _value(best, key)
            bar = absolute
            if margin is not None:
                bar = None if best_value is None else best_value + margin
            mine = _best(learned, ratio, key)
            mine_value = None if mine is None else _value(mine, key)
            out.append(
                {
                    "dataset": ds.name,
                    "ratio": ratio,
                    "metric": label,
                    "key": key,
                    "target": (
                        f"≥ {absolute:g}"
                        if absolute is not None
                        else f"best classical + {margin:g}"
                    ),
                    "bar": bar,
                    "best_classical": best_value,
                    "best_classical_codec": None if best is None else best.codec,
                    "classical_meets_target": (
                        None
                        if best_value is None or bar is None or margin is not None
                        else bool(best_value >= bar)
                    ),
                    "best_learned": mine_value,
                    "best_learned_codec": None if mine is None else mine.codec,
                    "learned_meets_target": (
                        None if mine_value is None or bar is None else bool(mine_value >= bar)
                    ),
                }
            )
    return out


def targets_table(checks: list[dict[str, Any]]) -> str:
    head = ["dataset", "ratio", "metric", "target", "bar", "best classical", "learned"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for c in checks:
        classical = (
            "–"
            if c["best_classical"] is None
            else f"{c['best_classical']:.3g} ({c['best_classical_codec']})"
            + (
                ""
                if c["classical_meets_target"] is None
                else (" meets it" if c["classical_meets_target"] else " misses it")
            )
        )
        learned = (
            "not run (no learned codec registered/run)"
            if c["best_learned"] is None
            else f"{c['best_learned']:.3g} ({c['best_learned_codec']}) "
            + ("PASS" if c["learned_meets_target"] else "FAIL")
        )
        cells = [
            c["dataset"],
            f"{c['ratio']:g}x",
            c["metric"],
            c["target"],
            num(c["bar"], ".3g"),
            classical,
            learned,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(datasets: list[Dataset], records: list[RunRecord], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [("sndr_db", "SNDR (dB)"), ("spike_window_sndr_db", "spike-window SNDR (dB)")]
    keys.append(("lfp_sndr_db", "LFP <300 Hz SNDR (dB)"))
    fig, axes = plt.subplots(
        len(keys), len(datasets), figsize=(5.5 * len(datasets), 3.6 * len(keys)), squeeze=False
    )
    for j, ds in enumerate(datasets):
        rows = [r for r in records if r.input == ds.name and r.status == "ok"]
        codecs = list(dict.fromkeys(r.codec for r in rows))
        for i, (key, label) in enumerate(keys):
            ax = axes[i][j]
            for codec in codecs:
                pts = sorted(
                    (r.ratio or 0.0, value)
                    for r in rows
                    if r.codec == codec
                    and (value := _value(r, key)) is not None
                    and math.isfinite(value)
                )
                if pts:
                    learned = any(r.get("group") == "learned" for r in rows if r.codec == codec)
                    ax.plot(
                        *zip(*pts, strict=True), "--" if learned else "-", marker="o", label=codec
                    )
            ax.set_xscale("log")
            ax.set_xlabel("real compression ratio")
            ax.set_ylabel(label)
            ax.grid(True, which="both", alpha=0.3)
            if i == 0:
                ax.set_title(ds.name)
                ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def environment(wavpack: str | None) -> dict[str, Any]:
    import pywt

    try:
        from importlib.metadata import version

        sz3 = version("numcodecs-wasm-sz3")
    except Exception:
        sz3 = None
    return {
        "ratecraft": ratecraft.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "os_cpu_count": os.cpu_count(),
        "pinned_cores": CORES,
        "cpu_affinity": AFFINITY,
        "numpy": np.__version__,
        "pywavelets": pywt.__version__,
        "numcodecs_wasm_sz3": sz3,
        "wavpack": wavpack,
        "timing": "one encode and one decode after fit (rate search/training) per row; "
        "WavPack times include starting the process and the WAV file I/O",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--openephys", default=str(DEFAULT_OPENEPHYS))
    parser.add_argument("--out", default=str(RESULTS / "lossy_signals.json"))
    parser.add_argument("--plot", default=str(RESULTS / "lossy_signals.png"))
    parser.add_argument("--synthetic-seconds", type=float, default=2.0)
    parser.add_argument("--codecs", default=None, help="comma-separated subset of the codecs")
    parser.add_argument("--cores", type=int, default=2, help="CPUs to pin to (read at start)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"only the target ratios {QUICK_RATIOS}; 8-ch 1 s synthetic recording",
    )
    parser.add_argument(
        "--no-throughput",
        action="store_true",
        help="skip the encoder throughput/latency section of the learned codecs",
    )
    args = parser.parse_args(argv)
    if args.quick:
        for name in AUTOENCODERS:
            LEARNED_CONFIG[name] = {**QUICK_LEARNED_CONFIG, **LEARNED_CONFIG.get(name, {})}
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()

    datasets, notes = load_datasets(args)
    wanted = [*CLASSICAL, WAVPACK, *LEARNED]
    if args.codecs:
        wanted = [c for c in args.codecs.split(",") if c]
    registered = set(available_codecs())
    wv = wavpack_version()
    runnable = []
    for name in wanted:
        if name == WAVPACK:
            if wv is None:
                notes.append("wavpack/wvunpack not installed; the WavPack hybrid rows are skipped")
            else:
                runnable.append(name)
        elif name not in (*CLASSICAL, *LEARNED):
            notes.append(f"{name}: not a codec of this benchmark; skipped")
        elif name not in registered:
            notes.append(f"{name}: not registered in ratecraft (yet); skipped")
        else:
            runnable.append(name)

    ratios = QUICK_RATIOS if args.quick else RATIOS
    if args.quick and any(n in AUTOENCODERS for n in runnable):
        notes.append(f"--quick: autoencoders train briefly ({QUICK_LEARNED_CONFIG})")
    records: list[RunRecord] = []
    print(f"# Lossy signals — rate–distortion at real ratios {', '.join(f'{r:g}' for r in ratios)}")
    print(f"\n{CORES} core(s) pinned; ratios are raw bytes / real container bytes.\n")
    for note in notes:
        print(f"note: {note}")
    for ds in datasets:
        rows: list[RunRecord] = []
        for name in runnable:
            t0 = time.perf_counter()
            if name == WAVPACK:
                rows += run_wavpack(ds, ratios)
            else:
                for target in ratios:
                    rows.append(run_registered(ds, name, target))
            log.warning("%s / %s: %.1f s", ds.name, name, time.perf_counter() - t0)
        records += rows
        print(f"\n## {ds.name}\n\n{ds.description}\n")
        print(markdown_table(rows, dataset_columns(ds.truth is not None), keys=2))

    learned_run = [n for n in runnable if n in LEARNED]
    speed: list[dict[str, Any]] = []
    if learned_run and not args.no_throughput:
        speed = throughput(learned_run, args.quick)
        print(
            f"## Encoder throughput and latency ({CORES} core(s) pinned; wall clock, "
            "with this process's CPU time in brackets)\n"
        )
        print(throughput_table(speed))

    checks = targets(datasets, records)
    print("## Targets of issue 3 (bars from the best classical baseline)\n")
    print(targets_table(checks))
    print(
        "The learned codecs must clear these bars; a target counts as met only for a learned "
        "codec that has run in this script."
    )
    plot(datasets, records, Path(args.plot))
    elapsed = time.perf_counter() - started
    doc = {
        "benchmark": "lossy_signals",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "elapsed_s": elapsed,
        "environment": environment(wv),
        "ratios": list(ratios),
        "datasets": [
            {
                "name": d.name,
                "description": d.description,
                "shape": list(d.test.samples.shape),
                "sample_rate": d.test.sample_rate,
            }
            for d in datasets
        ],
        "notes": notes,
        "records": records,
        "throughput": speed,
        "targets": checks,
    }
    out = Path(args.out)
    write_json(out, doc)
    print(
        f"\nwrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out} and the plot "
        f"{args.plot} ({elapsed:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
