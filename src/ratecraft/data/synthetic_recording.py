"""Synthetic extracellular recordings with known spikes, for benchmarking codecs honestly.

A linear probe records units (spike waveforms spreading over neighbouring electrodes), a spatially
correlated LFP (theta/alpha/beta/gamma rhythms over a 1/f background) and independent thermal
noise, digitized by a model ADC. Every source of randomness comes from one seeded generator, so a
seed gives bit-identical data and the spike times are returned as ground truth for spike metrics.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ratecraft.data.types import Recording
from ratecraft.errors import BadInputError

LFP_BANDS_HZ: dict[str, tuple[float, float, float]] = {
    # band: (low Hz, high Hz, spectral peak width Hz); narrow peaks give slow amplitude drift.
    "theta": (4.0, 8.0, 0.8),
    "alpha": (8.0, 12.0, 1.0),
    "beta": (13.0, 30.0, 3.0),
    "gamma": (30.0, 80.0, 8.0),
}
_MAX_VALUES = 500_000_000  # channels × samples; beyond this the float64 work arrays need > 4 GB
_WINDOW_MS = (0.8, 1.8)  # spike waveform support before / after the trough
# µV per code of the sparse-grid (implant) ADC: a fixed front-end gain under which simulated
# implant files compress as the 53 real ones of shared/data/implant-dev do (predictive 3.37x
# on seeds 0-2 against 3.42x real) with a code count inside theirs (about 290; real 90-345)
IMPLANT_CODE_UV = 1.25
_LFP_MAX_HZ = 500.0  # LFP spectrum is tapered to zero above this; spikes and noise own the rest
_LOCAL_LFP_FRACTION = 0.12  # share of each channel's LFP variance that no other channel sees
_INTRA_BURST_MS = (3.0, 8.0)
_BURST_EVENT_PROB = 0.25
_PROPAGATION_UM_PER_MS = 500.0


@dataclass(frozen=True, kw_only=True)
class RecordingSimConfig:
    """Every option of :func:`simulate_recording`, validated on construction.

    ``adc_bits=None`` means 16 (or 10 with ``sparse_grid``); ``uv_per_step=None`` means 0.195 µV
    (Intan) for a plain ADC, or, with ``sparse_grid``, a fixed implant gain of
    ``IMPLANT_CODE_UV`` µV per code. ``adc_dnl`` is the sparse-grid ADC's differential
    non-linearity: the standard deviation of its code widths, in codes (0.29 is the median over
    the real implant files; 0 makes an ideal ADC). ``n_units=None`` means 1.5 per channel.
    """

    n_channels: int = 16
    duration_s: float = 2.0
    sample_rate: float = 30000.0
    n_units: int | None = None
    seed: int = 0
    adc_bits: int | None = None
    uv_per_step: float | None = None
    sparse_grid: bool = False
    adc_dnl: float = 0.29
    lfp: bool = True
    noise_uv: float = 6.0
    lfp_uv: float = 100.0
    channel_pitch_um: float = 25.0
    spread_um: float = 30.0
    spike_amplitude_uv: tuple[float, float] = (50.0, 300.0)
    firing_rate_hz: tuple[float, float] = (1.0, 30.0)
    refractory_ms: float = 2.0
    burst_fraction: float = 0.3

    def __post_init__(self) -> None:
        _require(
            isinstance(self.n_channels, int) and self.n_channels >= 1, "n_channels must be >= 1"
        )
        for name in ("duration_s", "sample_rate", "channel_pitch_um", "spread_um", "refractory_ms"):
            _require(_positive(getattr(self, name)), f"{name} must be a positive number")
        for name in ("noise_uv", "lfp_uv", "adc_dnl"):
            value = getattr(self, name)
            _require(_positive(value) or value == 0, f"{name} must be >= 0")
        _require(self.n_samples >= 1, "duration_s * sample_rate must give at least one sample")
        _require(
            self.n_channels * self.n_samples <= _MAX_VALUES,
            f"recording too large: {self.n_channels} × {self.n_samples} > {_MAX_VALUES} values",
        )
        _require(
            self.n_units is None or (isinstance(self.n_units, int) and self.n_units >= 0),
            "n_units must be >= 0",
        )
        _require(isinstance(self.seed, int) and self.seed >= 0, "seed must be an integer >= 0")
        _require(
            isinstance(self.sparse_grid, bool) and isinstance(self.lfp, bool),
            "sparse_grid and lfp must be booleans",
        )
        bits = self.resolved_adc_bits
        _require(isinstance(bits, int) and 2 <= bits <= 32, "adc_bits must be in 2..32")
        _require(not self.sparse_grid or bits < 16, "sparse_grid needs adc_bits < 16")
        _require(
            self.uv_per_step is None or _positive(self.uv_per_step),
            "uv_per_step must be a positive number",
        )
        for name in ("spike_amplitude_uv", "firing_rate_hz"):
            pair = getattr(self, name)
            _require(
                isinstance(pair, tuple | list)
                and len(pair) == 2
                and all(_positive(v) for v in pair)
                and pair[0] <= pair[1],
                f"{name} must be a pair 0 < low <= high",
            )
        fraction = self.burst_fraction
        _require(
            isinstance(fraction, int | float) and 0.0 <= fraction <= 1.0,
            "burst_fraction must be in [0, 1]",
        )

    @property
    def n_samples(self) -> int:
        return round(self.duration_s * self.sample_rate)

    @property
    def resolved_n_units(self) -> int:
        return round(1.5 * self.n_channels) if self.n_units is None else self.n_units

    @property
    def resolved_adc_bits(self) -> int:
        if self.adc_bits is not None:
            return self.adc_bits
        return 10 if self.sparse_grid else 16


@dataclass(frozen=True, eq=False)
class SpikeTruth:
    """Ground truth of the simulated units: when each fired and on which electrode it peaks.

    Times are sample indices of the trough. ``events`` holds one ``(time, peak channel)`` row per
    spike, sorted by time, with ``event_units`` naming the unit of each row.
    """

    unit_times: tuple[np.ndarray, ...]
    peak_channels: np.ndarray
    peak_amplitudes_uv: np.ndarray
    unit_positions_um: np.ndarray
    channel_amplitudes_uv: np.ndarray  # (units, channels): trough amplitude on each electrode
    events: np.ndarray
    event_units: np.ndarray
    n_channels: int

    @property
    def n_units(self) -> int:
        return len(self.unit_times)

    def times_on_channel(self, channel: int, min_amplitude_uv: float | None = None) -> np.ndarray:
        """Sorted spike times seen on ``channel``, for spike F1 against ground truth.

        By default, the spikes of units whose peak is on ``channel``. With ``min_amplitude_uv``,
        the spikes of every unit whose trough on ``channel`` is at least that deep, so a spike
        recorded on several electrodes counts on each one where a detector can see it.
        """
        if not 0 <= channel < self.n_channels:
            raise BadInputError(f"channel {channel} out of range 0..{self.n_channels - 1}")
        if min_amplitude_uv is None:
            return np.sort(self.events[self.events[:, 1] == channel, 0])
        units = np.flatnonzero(self.channel_amplitudes_uv[:, channel] >= min_amplitude_uv)
        times = [self.unit_times[u] for u in units]
        return np.sort(np.concatenate([*times, np.zeros(0, dtype=np.int64)]))


def simulate_recording(
    config: RecordingSimConfig | None = None, /, **options: Any
) -> tuple[Recording, SpikeTruth]:
    """Simulate a probe recording and return it with its spike ground truth.

    ``options`` are :class:`RecordingSimConfig` fields and override ``config`` (or the defaults),
    e.g. ``simulate_recording(n_channels=64, duration_s=10.0, seed=3, sparse_grid=True)``.
    """
    cfg = _resolve_config(config, options)
    fs, n_samples = cfg.sample_rate, cfg.n_samples
    rng_units, rng_lfp, rng_noise, rng_adc = np.random.default_rng(cfg.seed).spawn(4)
    positions = np.zeros((cfg.n_channels, 2))
    positions[:, 1] = np.arange(cfg.n_channels) * cfg.channel_pitch_um

    signal = rng_noise.standard_normal((cfg.n_channels, n_samples))
    signal *= cfg.noise_uv
    if cfg.lfp and cfg.lfp_uv > 0:
        signal += _lfp(rng_lfp, cfg, positions[:, 1])
    truth = _add_units(rng_units, cfg, positions, signal)
    samples, uv_per_step, adc_meta = _digitize(signal, cfg, rng_adc)
    meta = {"synthetic": dataclasses.asdict(cfg), "adc": adc_meta}
    recording = Recording(
        samples=samples,
        sample_rate=fs,
        uv_per_step=uv_per_step,
        channel_positions=positions,
        meta=meta,
    )
    return recording, truth


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise BadInputError(message)


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def _resolve_config(
    config: RecordingSimConfig | None, options: dict[str, Any]
) -> RecordingSimConfig:
    fields = {f.name for f in dataclasses.fields(RecordingSimConfig)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise BadInputError(f"unknown recording option(s) {unknown}; valid: {sorted(fields)}")
    return dataclasses.replace(config or RecordingSimConfig(), **options)


def _loguniform(rng: np.random.Generator, lo: float, hi: float, size: int) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))


def _lfp(rng: np.random.Generator, cfg: RecordingSimConfig, depth_um: np.ndarray) -> np.ndarray:
    """LFP in µV, shaped in the frequency domain and mixed over depth before one inverse FFT.

    Broad sources (Gaussian depth profiles plus a common reference-like one) carry 1/f^α noise with
    random band peaks; a small per-channel pink share keeps neighbours correlated but not identical.
    """
    n_ch, n_samples, fs = cfg.n_channels, cfg.n_samples, cfg.sample_rate
    freqs = np.fft.rfftfreq(n_samples, 1.0 / fs)
    freqs = freqs[: np.searchsorted(freqs, 2.0 * _LFP_MAX_HZ)]
    taper = np.exp(-0.5 * (freqs / _LFP_MAX_HZ) ** 4) * freqs**2 / (freqs**2 + 0.25)
    extent = float(depth_um[-1] - depth_um[0])
    n_src = 2 + math.ceil(extent / 100.0)

    alpha = rng.uniform(1.2, 2.0, n_src + n_ch)[:, None]
    psd = (1.0 + freqs) ** -alpha * taper
    low = freqs < 2.0 * LFP_BANDS_HZ["gamma"][1]
    for lo, hi, width in LFP_BANDS_HZ.values():
        centre = rng.uniform(lo, hi, n_src)[:, None]
        gain = rng.uniform(0.0, 25.0, n_src)[:, None] * (rng.random((n_src, 1)) < 0.7)
        peak = np.exp(-0.5 * ((freqs[low] - centre) / width) ** 2)
        psd[:n_src, low] += gain * (1.0 + centre) ** -alpha[:n_src] * peak
    total = psd.sum(axis=1, keepdims=True)
    psd /= np.where(total > 0, total, 1.0)  # a few-sample recording has no LFP bins
    spectra = rng.standard_normal(psd.shape) + 1j * rng.standard_normal(psd.shape)
    spectra *= np.sqrt(psd)

    centres = rng.uniform(depth_um[0] - 300.0, depth_um[-1] + 300.0, n_src)
    widths = rng.uniform(150.0, 600.0, n_src)
    weights = rng.choice([-1.0, 1.0], n_src) * np.exp(rng.normal(0.0, 0.4, n_src))
    profile = weights * np.exp(-0.5 * ((depth_um[:, None] - centres) / widths) ** 2)
    profile[:, 0] = 0.7  # volume-conducted / reference component seen identically everywhere
    shared_var = (profile**2).sum(axis=1)
    local = np.sqrt(_LOCAL_LFP_FRACTION / (1.0 - _LOCAL_LFP_FRACTION) * shared_var)
    mixed = profile @ spectra[:n_src] + local[:, None] * spectra[n_src:]
    lfp = np.fft.irfft(mixed, n_samples, axis=1)
    rms = float(np.sqrt(np.mean(lfp**2)))
    lfp *= (cfg.lfp_uv / 3.0) / rms if rms > 0 else 0.0
    return lfp


def _spike_train(
    rng: np.random.Generator, cfg: RecordingSimConfig, rate_hz: float, bursty: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Continuous spike times (in samples) of a gamma renewal process with dead time and bursts.

    Every interval is at least the refractory period (in whole samples), so the floored times keep
    it too. Returns the times and each spike's position within its burst (0 for single spikes).
    """
    fs = cfg.sample_rate
    refractory = math.ceil(cfg.refractory_ms * 1e-3 * fs)
    burst_prob = _BURST_EVENT_PROB if bursty else 0.0
    mean_count = 1.0 + burst_prob * 2.5  # bursts hold 2..5 spikes
    event_isi = fs * mean_count / rate_hz
    shape = rng.uniform(1.0, 3.0)  # 1 is Poisson; larger is more regular
    gamma_mean = max(event_isi - refractory, 0.1 * event_isi)
    chunk = int(cfg.n_samples / event_isi * 1.2) + 16
    counts_parts: list[np.ndarray] = []
    isi_parts: list[np.ndarray] = []
    total = 0.0
    while total < cfg.n_samples:
        isi = refractory + rng.gamma(shape, gamma_mean / shape, chunk)
        counts = np.where(rng.random(chunk) < burst_prob, rng.integers(2, 6, chunk), 1)
        counts_parts.append(counts)
        isi_parts.append(isi)
        total += float(isi.sum())
    counts = np.concatenate(counts_parts)
    starts = np.cumsum(counts) - counts
    intra_ms = rng.uniform(*_INTRA_BURST_MS, int(counts.sum()))
    intervals = np.maximum(refractory, intra_ms * 1e-3 * fs)
    intervals[starts] = np.concatenate(isi_parts)
    burst_pos = np.arange(intervals.size) - np.repeat(starts, counts)
    return np.cumsum(intervals), burst_pos


def _add_units(
    rng: np.random.Generator, cfg: RecordingSimConfig, positions: np.ndarray, signal: np.ndarray
) -> SpikeTruth:
    """Add every unit's spikes to ``signal`` (µV, in place) and return their ground truth.

    A unit's waveform is a sum of Gaussians (small pre-bump, sharp trough, slow repolarization
    hump); its amplitude on each electrode falls as 1/(1+(d/d0)^2) and it arrives slightly later
    on farther electrodes (first-order time shift), so spikes are not exactly rank one in space.
    """
    n_ch, n_samples, fs = cfg.n_channels, cfg.n_samples, cfg.sample_rate
    n_units = cfg.resolved_n_units
    pre, post = (math.ceil(ms * 1e-3 * fs) for ms in _WINDOW_MS)
    offsets = np.arange(-pre, post)
    fine = np.linspace(-_WINDOW_MS[0], _WINDOW_MS[1], 521)
    unit_pos = np.column_stack(
        [
            rng.choice([-1.0, 1.0], n_units) * rng.uniform(10.0, 50.0, n_units),
            rng.uniform(-cfg.channel_pitch_um, positions[-1, 1] + cfg.channel_pitch_um, n_units),
        ]
    )
    amplitude = _loguniform(rng, *cfg.spike_amplitude_uv, n_units)
    rates = _loguniform(rng, *cfg.firing_rate_hz, n_units)
    bursty = rng.random(n_units) < cfg.burst_fraction
    unit_times: list[np.ndarray] = []
    peaks = np.zeros(n_units, dtype=np.int64)
    channel_amplitudes = np.zeros((n_units, n_ch))
    for u in range(n_units):
        sigma = rng.uniform(0.07, 0.16)
        parts = np.array(
            [  # (coefficient, centre ms, width ms)
                [rng.uniform(0.0, 0.15), -rng.uniform(0.15, 0.25), rng.uniform(0.05, 0.08)],
                [-1.0, 0.0, sigma],
                [rng.uniform(0.15, 0.45), rng.uniform(0.25, 0.5), rng.uniform(0.12, 0.3)],
            ]
        )
        norm = -_gaussians(fine, parts)[0].min()
        dist = np.hypot(positions[:, 0] - unit_pos[u, 0], positions[:, 1] - unit_pos[u, 1])
        peaks[u] = int(np.argmin(dist))
        gain = (1.0 + (dist[peaks[u]] / cfg.spread_um) ** 2) / (1.0 + (dist / cfg.spread_um) ** 2)
        chans = np.flatnonzero(gain >= 0.03)
        channel_amplitudes[u, chans] = amplitude[u] * gain[chans]
        delay = np.minimum((dist[chans] - dist[peaks[u]]) / _PROPAGATION_UM_PER_MS, 0.4 * sigma)

        times, burst_pos = _spike_train(rng, cfg, float(rates[u]), bool(bursty[u]))
        keep = (times >= pre) & (times < n_samples - post)
        times, burst_pos = times[keep], burst_pos[keep]
        index = np.floor(times).astype(np.int64)
        spike_amp = np.exp(rng.normal(0.0, 0.08, index.size)) * 0.85**burst_pos
        t_ms = (offsets[None, :] - (times - index)[:, None]) * (1e3 / fs)
        wave, slope = _gaussians(t_ms, parts)
        scale = (amplitude[u] / norm) * spike_amp[:, None]
        wave *= scale
        slope *= scale
        contrib = gain[chans, None, None] * (wave[None] - delay[:, None, None] * slope[None])
        np.add.at(signal, (chans[:, None, None], (index[:, None] + offsets)[None]), contrib)
        unit_times.append(index)

    all_times = np.concatenate([*unit_times, np.zeros(0, dtype=np.int64)])
    event_units = np.repeat(np.arange(n_units), [t.size for t in unit_times])
    events = np.column_stack([all_times, peaks[event_units]]).astype(np.int64)
    order = np.lexsort((events[:, 1], events[:, 0]))
    return SpikeTruth(
        unit_times=tuple(unit_times),
        peak_channels=peaks,
        peak_amplitudes_uv=amplitude,
        unit_positions_um=unit_pos,
        channel_amplitudes_uv=channel_amplitudes,
        events=events[order],
        event_units=event_units[order],
        n_channels=n_ch,
    )


def _gaussians(t: np.ndarray, parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum of Gaussians ``c·exp(-(t-m)²/2s²)`` over rows ``(c, m, s)`` and its time derivative."""
    wave = np.zeros_like(t)
    slope = np.zeros_like(t)
    for coef, centre, width in parts:
        g = coef * np.exp(-0.5 * ((t - centre) / width) ** 2)
        wave += g
        slope -= g * (t - centre) / width**2
    return wave, slope


def _digitize(
    signal: np.ndarray, cfg: RecordingSimConfig, rng: np.random.Generator
) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Quantize µV (in place) to stored integers; returns samples, µV per step and ADC metadata.

    A plain ADC stores ``round(µV / uv_per_step)`` clipped to ``adc_bits``. The sparse-grid ADC
    mimics implant files: a ``adc_bits`` code from an ADC whose code widths vary (``adc_dnl``;
    a code narrower than zero never occurs), scaled to 16 bits by the non-integer gain
    (2^16-1)/(2^bits-1), so stored values sit on a sparse grid that is no multiple of an integer.
    """
    bits = cfg.resolved_adc_bits
    if not cfg.sparse_grid:
        uv_per_step = 0.195 if cfg.uv_per_step is None else float(cfg.uv_per_step)
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        signal *= 1.0 / uv_per_step
        np.rint(signal, out=signal)
        np.clip(signal, lo, hi, out=signal)
        samples = signal.astype(np.int16 if bits <= 16 else np.int32)
        return samples, uv_per_step, {"bits": bits, "sparse_grid": False}
    gain = (2.0**16 - 1.0) / (2.0**bits - 1.0)
    offset = -(2.0**15)
    n_codes = 2**bits
    centre, uv_per_step = 0.0, cfg.uv_per_step
    if uv_per_step is None:  # a fixed front-end gain, the signal centred as AC coupling does
        lo, hi = float(signal.min()), float(signal.max())
        centre = 0.5 * (lo + hi)
        uv_per_step = IMPLANT_CODE_UV / gain
        signal -= centre
    signal *= 1.0 / uv_per_step
    signal -= offset
    signal *= 1.0 / gain  # in codes now
    # differential non-linearity: every code edge is off its ideal place by its own error, so
    # code widths vary by ``adc_dnl`` while no error accumulates along the range (a code whose
    # edges cross is never produced)
    jitter = cfg.adc_dnl / np.sqrt(2.0) * rng.standard_normal(n_codes - 1)
    edges = np.maximum.accumulate(np.arange(n_codes - 1) + 0.5 + jitter)  # upper edge of codes
    codes = np.searchsorted(edges, signal.ravel()).reshape(signal.shape)
    signal[...] = codes
    signal *= gain
    signal += offset
    np.rint(signal, out=signal)
    meta = {
        "bits": bits,
        "sparse_grid": True,
        "code_gain": gain,
        "code_offset": offset,
        "dc_offset_uv": centre,
    }
    return signal.astype(np.int16), uv_per_step, meta
