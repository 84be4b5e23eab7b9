"""The zarr 3 column of ``benchmarks/ecosystem.py``, run by it with ``.venv-zarr3``'s Python.

zarr 3 cannot live in the main env (SpikeInterface pins zarr 2), so ``ecosystem.py`` saves each
recording as ``NAME.npy`` (frames × channels, int16) with ``recordings.json`` (name → sample
rate) in a folder and runs ``python ecosystem_zarr3.py FOLDER``; this prints one JSON line of
rows. Each recording is stored in zarr 3 with 1-s chunks by: zarr 3's default codecs (bytes +
Zstd), Blosc-zstd with bit shuffle (SpikeInterface's default compressor in its zarr 3 form),
ratecraft's ``Predictive`` serializer, and the same inside zarr 3 sharding (10-s shards of 1-s
inner chunks: one file per 10 s, any second still read on its own). Encode and decode MB/s are
raw bytes per second of ``z[:] = x`` and ``z[:]`` with zarr's own thread pool as configured by
default; one sharded read of a middle second is timed too.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BloscCodec, ShardingCodec

from ratecraft.integrations.zarr3 import Predictive

SHARD_SECONDS = 10


def _stored_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and f.name != "zarr.json")


def layouts(fs: int, channels: int) -> dict[str, Callable[[], dict[str, Any]]]:
    """name → ``zarr.create_array`` options (chunks, codecs)."""
    chunk = (fs, channels)
    return {
        "zarr 3 default (Zstd)": lambda: {"chunks": chunk},
        "Blosc-zstd, bit shuffle (zarr 3)": lambda: {
            "chunks": chunk,
            "compressors": BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle"),
        },
        "ratecraft predictive (zarr 3)": lambda: {
            "chunks": chunk,
            "serializer": Predictive(sample_rate=float(fs)),
            "compressors": None,
        },
        f"ratecraft predictive, {SHARD_SECONDS}-s shards (zarr 3)": lambda: {
            "shards": (SHARD_SECONDS * fs, channels),
            "chunks": chunk,
            "serializer": Predictive(sample_rate=float(fs)),
            "compressors": None,
        },
    }


def run(x: np.ndarray, fs: int, name: str, options: dict[str, Any], folder: Path) -> dict:
    path = folder / f"{name}.zarr"
    z = zarr.create_array(path, shape=x.shape, dtype=x.dtype, overwrite=True, **options)
    t0 = time.perf_counter()
    z[:] = x
    enc = time.perf_counter() - t0
    reopened = zarr.open_array(path, mode="r")
    t0 = time.perf_counter()
    back = reopened[:]
    dec = time.perf_counter() - t0
    mid = (x.shape[0] // fs // 2) * fs
    t0 = time.perf_counter()
    second = reopened[mid : mid + fs]
    one_second = time.perf_counter() - t0
    stored = _stored_bytes(path)
    return {
        "ratio": x.nbytes / stored,
        "stored_bytes": stored,
        "encode_mb_s": x.nbytes / enc / 1e6,
        "decode_mb_s": x.nbytes / dec / 1e6,
        "one_second_ms": 1e3 * one_second,
        "exact": bool(np.array_equal(back, x) and np.array_equal(second, x[mid : mid + fs])),
        "sharded": any(c.__class__ is ShardingCodec for c in reopened.metadata.codecs),
    }


def main(folder: Path) -> int:
    rates: dict[str, int] = json.loads((folder / "recordings.json").read_text())
    rows = []
    for recording, fs in rates.items():
        x = np.load(folder / f"{recording}.npy")
        for i, (codec, options) in enumerate(layouts(fs, x.shape[1]).items()):
            row = run(x, fs, f"{recording}-{i}", options(), folder)
            rows.append({"recording": recording, "codec": codec, **row})
            print(f"{recording}: {codec}: {row['ratio']:.3f}", file=sys.stderr)
    print(json.dumps({"zarr": zarr.__version__, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
