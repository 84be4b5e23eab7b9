"""Buccino et al. 2023's compression table, on our data: ratecraft's codecs inside zarr against
what electrophysiologists store recordings with today.

Buccino, Winter, Bryant, Feng, Svoboda & Siegle, "Compression strategies for large-scale
electrophysiology data", J Neural Eng 20:056009 (2023), measured zarr-chunked Neuropixels
recordings: lossless, the audio codecs (FLAC, WavPack) beat the best general-purpose codec by 6%
(NP1) and 10% (NP2), with best ratios of 3.59 (NP1) and 2.27 (NP2); lossy, WavPack's hybrid
mode reaches 7.08 (NP1) and 7.04 (NP2) without harming spike sorting.

Here, on the shared Open Ephys recording (16 ch, 40 kHz) and a synthetic 384-channel
Neuropixels-like recording (30 kHz), each stored in zarr with 1-s chunks (frames × channels,
int16), as SpikeInterface's ``recording.save(format="zarr")`` stores it:

- lossless: SpikeInterface's default compressor (Blosc-zstd with bit shuffle), zstd and lzma
  each after a delta filter along time (the array kept in Fortran order so that the filter's
  neighbours are successive samples of one channel), FLAC (``flac-numcodecs``), WavPack (Debian's
  ``wavpack`` command line, the ``bench-deps`` make target installs it; its numcodecs package
  does not build here), and ratecraft's ``Predictive`` numcodecs codec: ratio, encode and
  decode MB/s (raw bytes per second of ``z[:] = x`` and ``z[:]``, one thread: Blosc is set to
  one thread too);
- zarr 3 (when ``make zarr3-env`` has built ``.venv-zarr3``; :mod:`ecosystem_zarr3` runs
  there): zarr 3's default codecs, Blosc-zstd with bit shuffle, ratecraft's ``Predictive``
  serializer, and the same in 10-s shards of 1-s inner chunks;
- lossy: WavPack hybrid at 2.25 bits/sample against ratecraft's ``quant`` and ``wavelet`` fitted
  to the same real ratio (rate control against their real container bytes), with spike F1 and
  spike-window SNDR (spikes detected on the original, 300 Hz–6 kHz).

Expected (issue 11): ``predictive`` has the best lossless ratio on both recordings and decodes
at least as fast as FLAC. Run: ``.venv/bin/python benchmarks/ecosystem.py [--seconds 10]``;
writes ``benchmarks/results/ecosystem.json``. Take it on an idle machine.
"""

from __future__ import annotations

import sys

from _pinning import pin_threads

CORES, AFFINITY = pin_threads(sys.argv)

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numcodecs  # noqa: E402
import numpy as np  # noqa: E402
import zarr  # noqa: E402
from numcodecs.abc import Codec as NumcodecsCodec  # noqa: E402

from ratecraft.bench.output import write_json  # noqa: E402
from ratecraft.codecs import Budget, decode, get_codec  # noqa: E402
from ratecraft.data.io import read_data  # noqa: E402
from ratecraft.data.synthetic import simulate_recording  # noqa: E402
from ratecraft.data.types import Recording  # noqa: E402
from ratecraft.integrations.numcodecs import Predictive  # noqa: E402
from ratecraft.metrics.spikes import spike_metrics  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OPENEPHYS = REPO.parent / "shared" / "data" / "openephys-16ch"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "ecosystem.json"
ZARR3_PYTHON = REPO / ".venv-zarr3" / "bin" / "python"
ZARR3_SCRIPT = Path(__file__).with_name("ecosystem_zarr3.py")
WAVPACK_HYBRID_BPS = 2.25
ANCHORS = {
    "lossless best ratio, NP1 / NP2": "3.59 / 2.27 (WavPack)",
    "audio codecs over the best general-purpose codec, NP1 / NP2": "+6% / +10%",
    "WavPack hybrid ratio, NP1 / NP2": "7.08 / 7.04",
}


class WavPackCLI(NumcodecsCodec):  # type: ignore[misc]
    """WavPack through Debian's ``wavpack`` / ``wvunpack`` (``bps`` set: hybrid lossy mode at
    that many bits per sample), on raw little-endian PCM. The command line takes at most 256
    channels, so wider chunks go as groups of channels, each its own WavPack stream (as
    ``flac-numcodecs`` splits channels for FLAC); the tools run once per group, so their start-up
    (a few ms) is part of the speed."""

    codec_id = "bench_wavpack_cli"
    max_channels = 256

    def __init__(self, bps: float | None = None, sample_rate: int = 30000) -> None:
        self.bps = bps
        self.sample_rate = sample_rate

    def _groups(self, channels: int) -> list[tuple[int, int]]:
        n = -(-channels // self.max_channels)
        edges = np.linspace(0, channels, n + 1).round().astype(int)
        return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]

    def encode(self, buf: Any) -> bytes:
        x = np.asarray(buf, dtype="<i2")
        x = x.reshape(x.shape[0], -1)
        parts = [np.array([x.shape[0], x.shape[1]], "<u8").tobytes()]
        with tempfile.TemporaryDirectory() as tmp:
            raw, wv = Path(tmp) / "c.raw", Path(tmp) / "c.wv"
            for lo, hi in self._groups(x.shape[1]):
                np.ascontiguousarray(x[:, lo:hi]).tofile(raw)
                args = ["wavpack", "-q", "-y", f"--raw-pcm={self.sample_rate},16s,{hi - lo},le"]
                args += [f"-b{self.bps}"] if self.bps else []
                subprocess.run([*args, str(raw), "-o", str(wv)], check=True, capture_output=True)
                body = wv.read_bytes()
                parts += [np.array([len(body)], "<u8").tobytes(), body]
        return b"".join(parts)

    def decode(self, buf: Any, out: Any = None) -> Any:
        data = bytes(buf)
        frames, channels = (int(v) for v in np.frombuffer(data[:16], "<u8"))
        x = np.empty((frames, channels), "<i2")
        pos = 16
        with tempfile.TemporaryDirectory() as tmp:
            raw, wv = Path(tmp) / "c.raw", Path(tmp) / "c.wv"
            for lo, hi in self._groups(channels):
                size = int(np.frombuffer(data[pos : pos + 8], "<u8")[0])
                wv.write_bytes(data[pos + 8 : pos + 8 + size])
                pos += 8 + size
                subprocess.run(
                    ["wvunpack", "-q", "-y", "--raw", str(wv), "-o", str(raw)],
                    check=True, capture_output=True,
                )  # fmt: skip
                x[:, lo:hi] = np.fromfile(raw, "<i2").reshape(frames, hi - lo)
        if out is not None:
            np.copyto(np.asarray(out).reshape(x.shape), x)
            return out
        return x


numcodecs.register_codec(WavPackCLI)


def datasets(seconds: float) -> list[tuple[str, Recording]]:
    """The shared Open Ephys recording (whole) and ``seconds`` of a 384-channel simulation."""
    out = []
    if OPENEPHYS.is_dir():
        rec = read_data(OPENEPHYS)
        assert isinstance(rec, Recording)
        out.append(("openephys-16ch", rec))
    sim, _ = simulate_recording(n_channels=384, duration_s=seconds, sample_rate=30000.0, seed=11)
    out.append(("neuropixels-like-384ch", sim))
    return out


def lossless_codecs(fs: int) -> dict[str, Callable[[], dict[str, Any]]]:
    """name → zarr array options (compressor, filters, order)."""
    from flac_numcodecs import Flac

    delta = [numcodecs.Delta(dtype="<i2")]
    bitshuffle = numcodecs.Blosc.BITSHUFFLE
    return {
        "SpikeInterface default (Blosc-zstd, bit shuffle)": lambda: {
            "compressor": numcodecs.Blosc(cname="zstd", clevel=5, shuffle=bitshuffle)
        },
        "zstd + delta (time)": lambda: {
            "compressor": numcodecs.Zstd(level=9),
            "filters": delta,
            "order": "F",
        },
        "lzma + delta (time)": lambda: {
            "compressor": numcodecs.LZMA(preset=6),
            "filters": delta,
            "order": "F",
        },
        "FLAC (flac-numcodecs)": lambda: {"compressor": Flac(level=8, sample_rate=fs)},
        "WavPack (lossless)": lambda: {"compressor": WavPackCLI(sample_rate=fs)},
        "ratecraft predictive": lambda: {"compressor": Predictive(sample_rate=fs)},
        "ratecraft predictive (level max)": lambda: {
            "compressor": Predictive(level="max", sample_rate=fs)
        },
    }


def zarr_run(x: np.ndarray, options: dict[str, Any], chunk: int, folder: Path) -> dict[str, Any]:
    """Write ``x`` (frames × channels) to a zarr directory store, read it back, time both."""
    path = folder / "a.zarr"
    shutil.rmtree(path, ignore_errors=True)
    z = zarr.open(str(path), mode="w", shape=x.shape, chunks=(chunk, x.shape[1]), dtype=x.dtype,
                  **options)  # fmt: skip
    t0 = time.perf_counter()
    z[:] = x
    enc = time.perf_counter() - t0
    stored = sum(f.stat().st_size for f in path.iterdir() if not f.name.startswith("."))
    t0 = time.perf_counter()
    back = zarr.open(str(path), mode="r")[:]
    dec = time.perf_counter() - t0
    return {
        "ratio": x.nbytes / stored,
        "stored_bytes": stored,
        "encode_mb_s": x.nbytes / enc / 1e6,
        "decode_mb_s": x.nbytes / dec / 1e6,
        "exact": bool(np.array_equal(back, x)),
        "back": back,
    }


def lossy_rows(rec: Recording, chunk: int, folder: Path) -> list[dict[str, Any]]:
    """WavPack hybrid at 2.25 bits/sample, then quant and wavelet at its real ratio."""
    fs = rec.sample_rate
    x = np.ascontiguousarray(rec.samples.T)
    wp = zarr_run(x, {"compressor": WavPackCLI(WAVPACK_HYBRID_BPS, int(fs))}, chunk, folder)
    rows = [{"codec": f"WavPack hybrid ({WAVPACK_HYBRID_BPS} bits/sample)", **wp}]
    for name in ("quant", "wavelet"):
        t0 = time.perf_counter()
        codec = get_codec(name).fit(rec, Budget(ratio=wp["ratio"]))
        blob = codec.encode(rec)
        enc = time.perf_counter() - t0
        t0 = time.perf_counter()
        back = decode(blob)
        dec = time.perf_counter() - t0
        assert isinstance(back, Recording)
        rows.append({
            "codec": f"ratecraft {name} (at WavPack's ratio)",
            "ratio": x.nbytes / len(blob), "stored_bytes": len(blob),
            "encode_mb_s": x.nbytes / enc / 1e6, "decode_mb_s": x.nbytes / dec / 1e6,
            "exact": False, "back": back.samples.T,
        })  # fmt: skip
    for row in rows:
        m = spike_metrics(rec.samples, np.asarray(row.pop("back")).T, fs)
        row.update(m)
        row.pop("exact")
    return rows


def zarr3_rows(recordings: list[tuple[str, Recording]], folder: Path) -> dict[str, Any]:
    """The zarr 3 column (:mod:`ecosystem_zarr3`), run in .venv-zarr3 (zarr 3 cannot share
    the main env with SpikeInterface's zarr 2); a note instead when that env is not built."""
    if not ZARR3_PYTHON.exists():
        return {"note": "not measured: .venv-zarr3 is not built (run `make zarr3-env`)"}
    where = folder / "zarr3"
    where.mkdir()
    for name, rec in recordings:
        np.save(where / f"{name}.npy", np.ascontiguousarray(rec.samples.T))
    rates = {name: int(rec.sample_rate) for name, rec in recordings}
    (where / "recordings.json").write_text(json.dumps(rates))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(ZARR3_PYTHON), str(ZARR3_SCRIPT), str(where)],
        capture_output=True, text=True, env=env, timeout=3600,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the zarr 3 run failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def table(rows: list[dict[str, Any]], lossy: bool) -> str:
    head = ["recording", "codec", "ratio", "encode MB/s", "decode MB/s"]
    head += ["spike F1", "spike-window SNDR dB"] if lossy else ["bit-exact"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["recording"], r["codec"], f"{r['ratio']:.3f}", f"{r['encode_mb_s']:.1f}",
                 f"{r['decode_mb_s']:.1f}"]  # fmt: skip
        if lossy:
            cells += [f"{r['spike_f1']:.3f}", f"{r['spike_window_sndr_db']:.1f}"]
        else:
            cells.append("yes" if r["exact"] else "NO")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="384-ch simulation length")
    parser.add_argument("--cores", type=int, default=2, help="threads numpy/numba may use")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args()
    if shutil.which("wavpack") is None:
        sys.exit("benchmarks/ecosystem.py needs Debian's wavpack: run `make bench-deps`")
    numcodecs.blosc.set_nthreads(1)
    load0 = os.getloadavg()
    started = time.perf_counter()
    lossless: list[dict[str, Any]] = []
    lossy: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ecosystem-") as tmp:
        folder = Path(tmp)
        recordings = datasets(args.seconds)
        for name, rec in recordings:
            fs = int(rec.sample_rate)
            x = np.ascontiguousarray(rec.samples.T)
            for codec, options in lossless_codecs(fs).items():
                row = zarr_run(x, options(), fs, folder)
                row.pop("back")
                lossless.append({"recording": name, "codec": codec, **row})
                print(f"{name}: {codec}: {row['ratio']:.3f}", file=sys.stderr)
            lossy += [{"recording": name, **r} for r in lossy_rows(rec, fs, folder)]
        zarr3 = zarr3_rows(recordings, folder)
    checks = {}
    for name in sorted({r["recording"] for r in lossless}):
        rows = [r for r in lossless if r["recording"] == name]
        ours = next(r for r in rows if r["codec"] == "ratecraft predictive")
        flac = next(r for r in rows if r["codec"].startswith("FLAC"))
        others = [r for r in rows if not r["codec"].startswith("ratecraft")]
        best_other = max(others, key=lambda r: r["ratio"])
        checks[name] = {
            "best_lossless_ratio": ours["ratio"] > best_other["ratio"] and ours["exact"],
            "best_other": f"{best_other['codec']} {best_other['ratio']:.3f}",
            "decodes_at_least_as_fast_as_flac": ours["decode_mb_s"] >= flac["decode_mb_s"],
            "flac_decode_mb_s": flac["decode_mb_s"],
        }
    print("## Lossless, zarr with 1-s chunks\n")
    print(table(lossless, lossy=False))
    print("## Lossless, zarr 3 with 1-s chunks\n")
    if "rows" in zarr3:
        print(f"zarr {zarr3['zarr']}, zarr's default thread pool.\n")
        print(table(zarr3["rows"], lossy=False))
        for r in zarr3["rows"]:
            print(f"- {r['recording']}: {r['codec']}: one middle second read in "
                  f"{r['one_second_ms']:.1f} ms")  # fmt: skip
        print()
    else:
        print(zarr3["note"] + "\n")
    print("## Lossy at WavPack hybrid's ratio\n")
    print(table(lossy, lossy=True))
    print("## Targets (issue 11)\n")
    for name, c in checks.items():
        print(f"- {name}: predictive best lossless ratio: "
              f"{'PASS' if c['best_lossless_ratio'] else 'FAIL'} (best other {c['best_other']});"
              f" decodes at least as fast as FLAC ({c['flac_decode_mb_s']:.1f} MB/s): "
              f"{'PASS' if c['decodes_at_least_as_fast_as_flac'] else 'FAIL'}")  # fmt: skip
    print("\nBuccino et al. 2023 (Neuropixels, their data): "
          + "; ".join(f"{k}: {v}" for k, v in ANCHORS.items()))  # fmt: skip
    write_json(args.out, {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cores": CORES, "affinity": AFFINITY, "loadavg_start": load0,
        "loadavg_end": os.getloadavg(), "seconds": time.perf_counter() - started,
        "synthetic_seconds": args.seconds, "lossless": lossless, "lossy": lossy,
        "lossless_zarr3": zarr3,
        "checks": checks, "anchors": ANCHORS,
    })  # fmt: skip
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
