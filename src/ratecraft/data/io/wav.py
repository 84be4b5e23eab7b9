"""WAV files through ``soundfile``: frames × channels on disk, channels × time in memory.

Integer WAVs keep their integer values exactly (PCM_16 → int16, PCM_24 and PCM_32 → int32,
PCM_U8 → int8); float WAVs come back as float32/float64. WAV carries no gain, so
``uv_per_step`` is 1.0.
"""

from __future__ import annotations

import os

import numpy as np

from ratecraft.atomic import atomic_output
from ratecraft.data.io.common import bad, check_kind, make_recording, resolve_rate
from ratecraft.data.types import Data, Recording

PathLike = str | os.PathLike[str]

# subtype -> (dtype soundfile reads, right shift that restores the stored integers, final dtype)
_READ_AS = {
    "PCM_16": ("int16", 0, "int16"),
    "PCM_24": ("int32", 8, "int32"),
    "PCM_32": ("int32", 0, "int32"),
    "PCM_U8": ("int16", 8, "int8"),
    "FLOAT": ("float32", 0, "float32"),
    "DOUBLE": ("float64", 0, "float64"),
}
_WRITE_AS = {"int16": "PCM_16", "int32": "PCM_32", "float32": "FLOAT", "float64": "DOUBLE"}


def read_wav(path: PathLike, *, fs: float | None = None, kind: str | None = None) -> Recording:
    """A WAV file as a recording; its rate comes from the file unless ``fs`` overrides it."""
    import soundfile as sf

    check_kind(path, kind, "recording")
    try:
        info = sf.info(os.fspath(path))
        if info.subtype not in _READ_AS:
            supported = ", ".join(_READ_AS)
            raise bad(path, f"WAV subtype {info.subtype} is not supported (use {supported})")
        read_dtype, shift, final = _READ_AS[info.subtype]
        frames, rate = sf.read(os.fspath(path), dtype=read_dtype, always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise bad(path, f"not a readable WAV file ({exc})") from exc
    samples = np.ascontiguousarray(frames.T)
    if shift:
        samples = (samples >> shift).astype(final)
    return make_recording(path, samples, sample_rate=resolve_rate(path, float(rate), fs))


def write_wav(data: Data, path: PathLike) -> None:
    """Write a recording as WAV; only int16, int32, float32 and float64 samples fit exactly."""
    import soundfile as sf

    if not isinstance(data, Recording):
        raise bad(path, "WAV holds recordings, not tables; write tables as .csv, .npz or .h5")
    subtype = _WRITE_AS.get(data.samples.dtype.name)
    if subtype is None:
        raise bad(
            path,
            f"WAV cannot hold {data.samples.dtype} samples exactly "
            f"(use {', '.join(_WRITE_AS)} or write .npz)",
        )
    if not float(data.sample_rate).is_integer():
        raise bad(path, f"WAV needs a whole-number sample rate, got {data.sample_rate}")
    with atomic_output(path) as tmp:
        sf.write(
            tmp,
            np.ascontiguousarray(data.samples.T),
            int(data.sample_rate),
            subtype=subtype,
            format="WAV",
        )
