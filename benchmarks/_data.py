"""Inputs the benchmarks share."""

from __future__ import annotations

from ratecraft.data.types import Recording


def as_file_holds_it(rec: Recording) -> Recording:
    """A simulated recording as an implant WAV or a probe's raw file holds it: samples, rate,
    gain and channel names, without the simulator's configuration (``meta``) and electrode
    positions. Every codec — ours and the peers — is compared on the same bare data; a
    container keeps whatever metadata it is given, at its cost in bytes."""
    return Recording(rec.samples, rec.sample_rate, rec.uv_per_step, rec.channel_names)
