"""Run by test_zarr3.py with .venv-zarr3's Python (zarr 3), in two fresh processes.

``write DIR`` stores ``DIR/frames.npy`` (frames × channels) as chunked zarr 3 arrays, one per
ratecraft codec, and prints the one-line errors of bad options and a bad dtype as JSON.
``read DIR`` reopens every array in a process that imports only zarr and numpy — the codecs come
in through the ``zarr.codecs`` entry point — and prints what it read back as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import zarr

FRAMES_PER_CHUNK = 12000  # 2.5 s at 30 kHz: 7 chunks, the last one partial


def write(folder: Path) -> dict[str, object]:
    from ratecraft.errors import BadInputError
    from ratecraft.integrations.zarr3 import Predictive, Quant, Wavelet

    frames = np.load(folder / "frames.npy")
    codecs = {
        "predictive": Predictive(),
        "quant-2": Quant(max_error=2),
        "quant-8": Quant(max_error=8),
        "wavelet-4": Wavelet(max_error=4),
    }
    for name, codec in codecs.items():
        z = zarr.create_array(
            folder / f"{name}.zarr", shape=frames.shape, dtype=frames.dtype,
            chunks=(FRAMES_PER_CHUNK, frames.shape[1]), serializer=codec, compressors=None,
        )  # fmt: skip
        z[:] = frames

    def bool_array() -> object:
        return zarr.create_array(
            folder / "refused" / "bool.zarr", shape=(10,), dtype=bool, serializer=Predictive()
        )

    refused = {
        "max_error=0": lambda: Quant(max_error=0),
        "level=best": lambda: Predictive(level="best"),
        "bool array": bool_array,
        "unknown option": lambda: Predictive.from_dict(
            {"name": "ratecraft.predictive", "configuration": {"levels": "max"}}
        ),
        "no max_error": lambda: Quant.from_dict({"name": "ratecraft.quant"}),
    }
    errors = {}
    for name, make in refused.items():
        try:
            make()
        except BadInputError as exc:
            errors[name] = str(exc)
    return {"errors": errors}


def read(folder: Path) -> dict[str, object]:
    ratecraft_before = any(name.startswith("ratecraft") for name in sys.modules)
    frames = np.load(folder / "frames.npy")
    arrays: dict[str, object] = {}
    for path in sorted(folder.glob("*.zarr")):
        z = zarr.open_array(path, mode="r")
        back = z[:]
        chunk_files = [p for p in (path / "c").rglob("*") if p.is_file()]
        arrays[path.stem] = {
            "codecs": json.loads((path / "zarr.json").read_text())["codecs"],
            "dtype": str(back.dtype),
            "shape": list(back.shape),
            "bit_exact": bool(np.array_equal(back, frames)),
            "max_error": float(np.abs(back.astype(np.int64) - frames).max()),
            "slice_bit_exact": bool(np.array_equal(z[20000:50000, 2:5], back[20000:50000, 2:5])),
            "chunks": len(chunk_files),
            "stored_bytes": sum(p.stat().st_size for p in path.rglob("*") if p.is_file()),
        }
    return {
        "ratecraft_imported_before_reading": ratecraft_before,
        "loaded_through_entry_point": "ratecraft.integrations.zarr3" in sys.modules,
        "zarr": zarr.__version__,
        "arrays": arrays,
    }


if __name__ == "__main__":
    mode, folder = sys.argv[1], Path(sys.argv[2])
    print(json.dumps(write(folder) if mode == "write" else read(folder)))
