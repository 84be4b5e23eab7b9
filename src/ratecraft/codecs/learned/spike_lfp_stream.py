"""Streamed windows of the ``spike-lfp`` codec: what an implant sends, one short window at a time.

``codec.encode(window)`` treats every call as a recording of its own: it band-passes the window
with a zero-phase filter, searches the layer's step on the real payload and writes a container
header with every channel name. An implant streams, so :class:`StreamEncoder` keeps what
carries over between windows instead:

* **Filter state, not per-call filtering.** Spikes are detected as the one-shot encode and
  the metrics detect them (the 300 Hz–6 kHz Butterworth run forward and backward), but
  streamed: the forward pass is causal with its state carried from window to window, the
  backward pass runs over the newest window plus a lookahead of ``lookahead_ms`` (3 ms), so
  the stream has that much algorithmic delay: ``push`` codes the ``frames`` samples that end
  ``lookahead_ms`` before the newest sample, and :meth:`StreamEncoder.flush` codes the rest.
  Levels (−k·σ̂, σ̂ from the MAD) are measured on the first window and sent again only every
  ``levels_every`` windows; detection is vectorized over channels; codewords that run past a
  window's end are carried into the next window by encoder and decoder alike.
* **Rate control across windows.** The first window searches the step on its real payload
  (as ``encode`` does); after it a :class:`~ratecraft.codecs.ratecontrol.StreamControl` moves
  the step between windows from the bytes each one took, so a window codes its layer once.
* **A compact head.** The stream head (magic, version, model hash, shape, rate, dtype and the
  channel names) is sent once; each window is a 19-byte packet head (length, CRC-32, frames,
  flags, step, event count) and three sections (levels when sent, events, layer), with the
  layer coded by the C rANS coder.

The encoder does not rebuild its reconstruction unless asked (``reconstruction=True``): an
implant has no use for it in residual mode (the layer is open loop). The decoder
(:class:`StreamDecoder`) reproduces that reconstruction bit for bit from the bytes alone.
Closed-loop gain fixing (one-shot encode) is not done here: its per-channel detector passes
cost more than the window budget.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.signal import butter, resample_poly, sosfilt_zi

from ratecraft.bitstream import rans
from ratecraft.bitstream.ans import UniformModel
from ratecraft.bitstream.sections import array_from, pack_sections, unpack_sections
from ratecraft.codecs.classical.wavelet import deadzone_dequantize, to_output
from ratecraft.codecs.learned import _stream_kernels as kernels
from ratecraft.codecs.learned.spike_events import BUCKETS, _table
from ratecraft.codecs.ratecontrol import Knob, StreamControl, Unreachable, search
from ratecraft.entropy.scale_context import decode_residuals, encode_residuals
from ratecraft.errors import BadInputError, CorruptStreamError
from ratecraft.metrics.spikes import SPIKE_BAND_HZ

if TYPE_CHECKING:
    from ratecraft.codecs.learned.spike_lfp import SpikeLfpCodec

__all__ = ["StreamDecoder", "StreamEncoder"]

MAGIC = b"RCSL"
VERSION = 1
_HEAD = struct.Struct("<4sBBId32sI")  # magic, version, flags, rows, rate, model hash, meta len
_PACKET = struct.Struct("<IIHBfI")  # length, crc32 of the rest, frames, flags, step, events
_LEVELS = 1  # packet flag: the packet carries new levels
_RESIDUAL = 1  # head flag
_MAX_FRAMES = (1 << 16) - 1
_MAD_TO_SIGMA = 0.6745
_REFRACTORY_MS = 1.0
_SEARCH_MS = 0.5
_FILL = 0.995
# integer samples: a layer step finer than this changes nothing the rounded output shows, it
# only spends the budget (at 20x a 1024-channel LFP layer would code ~15 bits a coefficient)
_MIN_INT_STEP = 0.5


_BLAS: Any = None


def _one_blas_thread() -> Any:
    """A context that limits BLAS to one thread (threadpoolctl's controller, made once)."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


def _sos(fs: float) -> np.ndarray:
    hi = min(SPIKE_BAND_HZ[1], 0.45 * fs)
    return np.asarray(butter(3, [SPIKE_BAND_HZ[0], hi], btype="bandpass", fs=fs, output="sos"))


class _Shared:
    """What encoder and decoder derive alike from the model: codebook, tables, sizes."""

    def __init__(self, codec: SpikeLfpCodec) -> None:
        codec._fitted()
        assert codec.state is not None and codec.fs is not None
        self.codec = codec
        self.cfg = codec.config
        self.fs = float(codec.fs)
        self.rows = int(codec.state["klt"].shape[0])
        self.klt = np.asarray(codec.state["klt"], np.float64)
        self.klt32 = self.klt.astype(np.float32)
        self.book = np.asarray(codec.state["codebook"], np.float64)
        self.pre, self.post = codec._window()
        self.width = self.book.shape[1]
        self.sos = _sos(self.fs)
        self.sos32 = self.sos.astype(np.float32)
        self.zi = sosfilt_zi(self.sos)
        self.zi32 = self.zi.astype(np.float32)
        self._ops: dict[tuple[str, int], np.ndarray] = {}
        self._levels: dict[int, int] = {}
        self.comp = np.asarray(codec.state["comp"], np.float64)
        self.norm = (self.book**2).sum(1)
        st = codec.state
        self.tables = {k: _table(st[f"hist_{k}"]) for k in ("bucket", "channel", "shape", "gain")}
        self.gap = max(1, round(_REFRACTORY_MS * 1e-3 * self.fs))
        self.search = round(_SEARCH_MS * 1e-3 * self.fs)
        self.n_gains = codec._n_gains()
        self.residual = bool(self.cfg.residual)
        self.block = 50

    def steps(self, step: float, fine: np.ndarray | None) -> float | np.ndarray:
        return self.codec._steps(step, fine)

    def place(
        self, n: int, ev: tuple[np.ndarray, ...], levels: np.ndarray, carry: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The window's codewords (plus what the last window carried in) and the part that
        runs past its end, to carry into the next one."""
        times, chan, shape, gain = ev
        out = np.zeros((self.rows, n + self.width))
        out[:, : carry.shape[1]] += carry
        if times.size:
            amp = levels[chan] * np.exp(gain * self.cfg.gain_step) * self.comp[shape]
            kernels.place(out, times, chan, shape, amp, self.book, self.pre)
        return out[:, :n], out[:, n:].copy()

    # ---- the layer's transform ------------------------------------------------------------
    def levels_of(self, n: int) -> int:
        """DWT levels of a window of ``n`` frames: up to 5, and only while every band still
        halves exactly (the coefficients then fill the window: n of them, no padding)."""
        if n not in self._levels:
            import pywt

            top = min(5, pywt.dwt_max_level(n, pywt.Wavelet(self.cfg.wavelet).dec_len))
            lv = 0
            while lv < top and n % (2 << lv) == 0:
                lv += 1
            self._levels[n] = lv
        return self._levels[n]

    def dwt(self, x: np.ndarray) -> np.ndarray:
        """The encoder's analysis (float32 in, float32 coefficients)."""
        import pywt

        lv = self.levels_of(x.shape[1])
        if lv == 0:
            return x
        parts = pywt.wavedec(x, self.cfg.wavelet, mode="periodization", level=lv, axis=1)
        return np.concatenate(parts, axis=1)

    def code_layer(self, q: np.ndarray) -> bytes:
        """Quantized coefficients → one scale-context rANS section (no bit estimate)."""
        return encode_residuals(q, self.block, "rans", estimate=False, side_level=3)[0]

    def decode_layer(self, buf: memoryview, m: int) -> np.ndarray:
        return decode_residuals(buf, self.rows, m, self.block, "rans")

    def idwt(self, c: np.ndarray, n: int) -> np.ndarray:
        import pywt

        lv = self.levels_of(n)
        if lv == 0:
            return c
        cuts = [n >> lv] + [n >> k for k in range(lv, 0, -1)]
        parts = np.split(c, np.cumsum(cuts)[:-1], axis=1)
        return np.asarray(pywt.waverec(parts, self.cfg.wavelet, mode="periodization", axis=1))

    def fine_mask(self, ev: tuple[np.ndarray, ...], m: int) -> np.ndarray | None:
        """Residual mode: the coefficients of the spike band near a coded event, quantized
        ``spike_step_scale`` times finer (as the one-shot encode's ``_spike_mask``)."""
        if not self.residual or self.cfg.spike_step_scale == 1.0 or ev[0].size == 0:
            return None
        lv = self.levels_of(m)
        if lv == 0:
            return None
        half = round(1e-3 * self.fs)
        offs, sizes, scales, reach = [], [], [], []
        at = m >> lv
        for k in range(lv, 0, -1):  # detail bands cD_lv … cD_1
            scale = 1 << k
            if self.fs / (2 * scale) >= SPIKE_BAND_HZ[0]:
                offs.append(at)
                sizes.append(m >> k)
                scales.append(scale)
                reach.append(half + 4 * scale)
            at += m >> k
        arr = [np.asarray(v, np.int64) for v in (offs, sizes, scales, reach)]
        return kernels.spike_mask(self.rows, m, ev[0], ev[1], *arr)

    def _op(self, kind: str, n: int) -> np.ndarray:
        """The LFP layer's resampling as a matrix (it is linear): ``down`` (n × m) takes a
        window to the LFP rate, ``up`` (m × n) back; one product instead of a polyphase
        filter per call, cached per window length."""
        key = (kind, n)
        if key not in self._ops:
            d = self.codec._decimation()
            m = -(-n // d)
            if kind == "down":
                op = self.codec._lfp_down(np.eye(n))
            else:
                h = self.codec._resampling_filter()
                pad = "line" if m > 1 else "edge"
                op = resample_poly(np.eye(m), d, 1, axis=1, padtype=pad, window=h)[:, :n]
            self._ops[key] = np.ascontiguousarray(op)
        return self._ops[key]

    def lfp(self, x: np.ndarray) -> np.ndarray:
        """The KLT-rotated LFP of a window (the LFP mode's layer before its DWT), in float32:
        the encoder's analysis only (the decoder's synthesis, :meth:`layer`, is float64)."""
        key = ("down32", x.shape[1])
        if key not in self._ops:
            self._ops[key] = self._op("down", x.shape[1]).astype(np.float32)
        down = self._ops[key]
        return np.asarray(self.klt32 @ (x.astype(np.float32) @ down))

    def layer(self, coeffs: np.ndarray, m: int, n: int) -> np.ndarray:
        if self.residual:
            return self.idwt(coeffs, n)
        z = self.idwt(coeffs, m)
        return np.asarray((self.klt.T @ z) @ self._op("up", n))

    def noise(self, n: int, levels: np.ndarray, count: int, index: int) -> np.ndarray | None:
        if self.residual or not self.cfg.noise_fill or n < 2:
            return None
        tex = self.codec._noise_texture()
        rng = np.random.default_rng([self.cfg.seed, self.rows, n, count, index])
        which = rng.integers(0, tex.shape[0], self.rows)[:, None]
        cols = (rng.integers(0, tex.shape[1], self.rows)[:, None] + np.arange(n)) % tex.shape[1]
        return np.asarray(tex[which, cols] * (levels / self.cfg.k_detect)[:, None])

    def layer_frames(self, n: int) -> int:
        return n if self.residual else -(-n // self.codec._decimation())


def _buckets(delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    b = np.frexp(delta.astype(np.float64))[1].astype(np.int64)
    return b, delta - np.where(b > 0, 1 << np.maximum(b - 1, 0), 0)


class StreamEncoder:
    """``push(window) -> bytes``: the packets of one stream (the first one opens with the head).

    ``ratio`` (default: the ratio the codec was fitted to) sets each window's byte budget:
    raw bytes / ratio; None codes every window at the fitted step.
    """

    def __init__(
        self,
        codec: SpikeLfpCodec,
        *,
        ratio: float | None = -1.0,
        channel_names: list[str] | None = None,
        levels_every: int = 50,
        lookahead_ms: float = 3.0,
    ) -> None:
        self.s = _Shared(codec)
        if ratio is not None and ratio < 0:
            ratio = codec.budget.ratio
        if ratio is not None and not ratio > 0:
            raise BadInputError(f"spike-lfp stream: ratio must be positive, got {ratio}")
        if levels_every < 1:
            raise BadInputError("spike-lfp stream: levels_every must be at least 1")
        self.ratio = ratio
        self.names = list(channel_names or [f"ch{i}" for i in range(self.s.rows)])
        if len(self.names) != self.s.rows:
            raise BadInputError(f"spike-lfp stream: {len(self.names)} names for {self.s.rows} rows")
        self.levels_every = levels_every
        self.sha = bytes.fromhex(codec.model_sha256() or "0" * 64)
        if not 0 <= lookahead_ms <= 100:
            raise BadInputError("spike-lfp stream: lookahead_ms must be within 0–100 ms")
        self.lookahead = round(lookahead_ms * 1e-3 * self.s.fs)
        self.zi: np.ndarray | None = None
        self.raw = np.zeros((self.s.rows, 0))  # samples pushed, not yet coded
        self.fwd = np.zeros((0, self.s.rows), np.float32)  # their forward band-pass
        self.closed = False
        self.carry = np.zeros((self.s.rows, 0))
        self.tail = np.zeros((self.s.rows, self.s.pre))  # band signal before the window
        self.below = np.zeros(self.s.rows, bool)  # the last sample was under the level
        self.last = np.full(self.s.rows, -(1 << 40), np.int64)  # last event (absolute)
        self.levels: np.ndarray | None = None
        self.index = 0
        self.frame = 0
        self.dtype: np.dtype | None = None
        self.control: StreamControl | None = None
        self.step = float(np.float32(codec.config.step))
        self.steps_used: list[float] = []

    # ---- the stream -----------------------------------------------------------------------
    def head(self, dtype: np.dtype) -> bytes:
        meta = json.dumps({"dtype": dtype.name, "channel_names": self.names}).encode()
        meta = zlib.compress(meta, 9)
        flags = _RESIDUAL if self.s.residual else 0
        return _HEAD.pack(MAGIC, VERSION, flags, self.s.rows, self.s.fs, self.sha, len(meta)) + meta

    def push(self, window: np.ndarray, *, reconstruction: bool = False) -> Any:
        """The bytes of one window (rows × frames); with ``reconstruction=True`` also what the
        decoder will return for it: ``(bytes, array)``.

        Runs on one thread (BLAS included): a window's products are too small to gain from
        more, and a BLAS thread that has to wait for a busy core slows every call several
        times over."""
        with _one_blas_thread():
            return self._push(window, reconstruction)

    def _push(self, window: np.ndarray, reconstruction: bool) -> Any:
        x = np.asarray(window)
        if x.ndim != 2 or x.shape[0] != self.s.rows or not 0 < x.shape[1] <= _MAX_FRAMES:
            raise BadInputError(
                f"spike-lfp stream: a window is {self.s.rows} rows × 1..{_MAX_FRAMES} frames, "
                f"got shape {x.shape}"
            )
        if x.dtype.kind not in "iuf" or (x.dtype.kind == "f" and not np.isfinite(x).all()):
            raise BadInputError("spike-lfp stream: windows must hold finite numbers")
        if self.closed:
            raise BadInputError("spike-lfp stream: push after flush")
        first = b""
        if self.dtype is None:
            self.dtype = x.dtype
            first = self.head(x.dtype)
        elif x.dtype != self.dtype:
            raise BadInputError(f"spike-lfp stream: dtype changed from {self.dtype} to {x.dtype}")
        s = self.s
        if self.zi is None:  # start in the steady state of the first sample (no step)
            self.zi = (s.zi[:, :, None] * x[None, None, :, 0]).astype(np.float32)
        y = np.empty((x.shape[1], s.rows), np.float32)
        kernels.forward(np.ascontiguousarray(x.T), s.sos32, self.zi, y)
        self.raw = np.concatenate([self.raw, x], axis=1) if self.raw.size else x.copy()
        self.fwd = np.concatenate([self.fwd, y], axis=0) if self.fwd.size else y
        k = self.raw.shape[1] - self.lookahead
        if k <= 0:
            return (first, None) if reconstruction else first
        return self._emit(k, first, reconstruction)

    def flush(self, *, reconstruction: bool = False) -> Any:
        """The last ``lookahead`` samples (the stream's end: nothing is pushed after it)."""
        if self.dtype is None or self.closed:
            raise BadInputError("spike-lfp stream: nothing to flush")
        self.closed = True
        if not self.raw.shape[1]:
            return (b"", None) if reconstruction else b""
        with _one_blas_thread():
            return self._emit(self.raw.shape[1], b"", reconstruction)

    def _emit(self, k: int, first: bytes, reconstruction: bool) -> Any:
        """Code the oldest ``k`` held samples: the band-pass's backward pass runs over all the
        held ones (the lookahead settles it), the forward pass's state is already carried."""
        s = self.s
        band = np.empty((s.rows, self.fwd.shape[0]), np.float32)
        kernels.backward(self.fwd, s.sos32, s.zi32, band)
        seg = self.raw[:, :k].astype(np.float64)
        self.raw, self.fwd = self.raw[:, k:], self.fwd[k:]
        packet, recon = self._window(seg, band, reconstruction)
        self.index += 1
        self.frame += k
        return (first + packet, recon) if reconstruction else first + packet

    # ---- one window ---------------------------------------------------------------------
    def _events(self, band: np.ndarray, n: int) -> tuple[tuple[np.ndarray, ...], bool]:
        """Events with troughs in the first ``n`` samples of ``band`` (the rest: lookahead)."""
        s = self.s
        f = band[:, :n]
        new_levels = self.levels is None or self.index % self.levels_every == 0
        if new_levels:
            mad = np.median(np.abs(f), axis=1)
            lv = s.cfg.k_detect * mad / _MAD_TO_SIGMA
            self.levels = np.maximum(lv, 1e-6).astype(np.float16).astype(np.float64)
        assert self.levels is not None
        chan, t = kernels.detect(
            band, n, self.levels, self.below, self.last, self.frame, s.gap, s.search
        )
        tail = self.tail
        self.tail = (
            band[:, n - s.pre : n].copy()
            if n >= s.pre
            else (np.concatenate([tail, band[:, :n]], axis=1)[:, -s.pre :])
        )
        if chan.size:
            shape, dep = kernels.match(band, tail, chan, t, s.book, s.norm, s.pre)
            g = np.log(np.maximum(dep / self.levels[chan], 1.0)) / s.cfg.gain_step
            gain = np.clip(np.rint(g), 0, s.n_gains - 1).astype(np.int64)
            order = np.lexsort((chan, t))
            ev = (
                t[order].astype(np.int64),
                chan[order].astype(np.int64),
                shape[order],
                gain[order],
            )
        else:
            z = np.zeros(0, np.int64)
            ev = (z, z, z, z)
        return ev, new_levels

    def _code_events(self, ev: tuple[np.ndarray, ...]) -> bytes:
        times, chan, shape, gain = ev
        b, low = _buckets(np.diff(times, prepend=0))
        tb = self.s.tables
        groups: list[tuple[np.ndarray, Any]] = [
            (np.minimum(b, BUCKETS - 1), tb["bucket"]),
            (chan, tb["channel"]),
            (shape, tb["shape"]),
            (gain, tb["gain"]),
        ]
        groups += [(low[b == k], UniformModel(k - 1)) for k in range(2, BUCKETS) if (b == k).any()]
        return rans.encode_groups(groups)

    def _window(self, xf: np.ndarray, band: np.ndarray, want: bool) -> tuple[bytes, Any]:
        s = self.s
        rows, n = xf.shape
        assert self.dtype is not None
        ev, new_levels = self._events(band, n)
        assert self.levels is not None
        events = self._code_events(ev)
        spikes, carry = s.place(n, ev, self.levels, self.carry)
        self.carry = carry
        if s.residual:
            z = s.dwt((xf - spikes).astype(np.float32))
            m = n
        else:
            lfp = s.lfp(xf)
            z, m = s.dwt(lfp), lfp.shape[1]
        fine = s.fine_mask(ev, m)
        dz = s.cfg.dead_zone
        lv = self.levels.astype("<f2").tobytes() if new_levels else b""
        fixed = _PACKET.size + 4 * 4 + len(lv) + len(events)
        coded: dict[float, tuple[bytes, np.ndarray]] = {}
        mask = np.zeros((0, 0), bool) if fine is None else fine

        def layer(step: float) -> bytes:
            if step not in coded:
                q = kernels.quantize(z, step, s.cfg.spike_step_scale, mask, dz)
                coded[step] = s.code_layer(q), q
            return coded[step][0]

        target = None if self.ratio is None else rows * n * self.dtype.itemsize / self.ratio
        floor = _MIN_INT_STEP if self.dtype.kind in "iu" else 1e-6
        step = max(self.step, floor)
        if target is not None and self.control is None:  # the first window: a real search
            top = 4.0 * float(max(np.abs(z).max(initial=0), np.abs(xf).max(initial=0))) + 1.0
            try:
                step = search(
                    lambda v: fixed + len(layer(v)),
                    max(target - fixed, 1.0) + fixed,
                    Knob(floor, max(top, floor)),
                    start=min(step, max(top, floor)),
                    fill=_FILL,
                )
            except Unreachable:
                step = top
            self.control = StreamControl(step, target)
        elif self.control is not None:
            step = max(self.control.knob, floor)
        step = float(np.float32(step))
        body = pack_sections([lv, events, layer(step)])
        flags = _LEVELS if new_levels else 0
        rest = struct.pack("<HBfI", n, flags, step, len(ev[0])) + body
        packet = struct.pack("<II", len(rest) - 11, zlib.crc32(rest)) + rest
        if self.control is not None and target is not None:
            self.control.push(len(packet), rows * n, target)
            self.control.knob = max(self.control.knob, floor)  # underspent at the floor: stay
        self.step = step
        self.steps_used.append(step)
        recon = None
        if want:
            steps = s.steps(step, fine)
            q = coded[step][1]
            r = s.layer(deadzone_dequantize(q, steps, dz), m, n) + spikes
            noise = s.noise(n, self.levels, len(ev[0]), self.index)
            if noise is not None:
                r = r + noise
            recon = to_output(r, self.dtype)
        return packet, recon


class StreamDecoder:
    """``push(bytes) -> list of windows``: takes a stream's bytes in any pieces."""

    def __init__(self, codec: SpikeLfpCodec) -> None:
        self.s = _Shared(codec)
        self.sha = bytes.fromhex(codec.model_sha256() or "0" * 64)
        self.buf = bytearray()
        self.dtype: np.dtype | None = None
        self.names: list[str] = []
        self.carry = np.zeros((self.s.rows, 0))
        self.levels: np.ndarray | None = None
        self.index = 0

    def push(self, data: bytes) -> list[np.ndarray]:
        self.buf += data
        out: list[np.ndarray] = []
        if self.dtype is None and not self._head():
            return out
        while len(self.buf) >= _PACKET.size:
            length = struct.unpack_from("<I", self.buf)[0]
            end = _PACKET.size + length
            if length > 1 << 30:
                raise CorruptStreamError("spike-lfp stream: packet length is corrupt")
            if len(self.buf) < end:
                break
            packet = bytes(self.buf[:end])
            del self.buf[:end]
            out.append(self._packet(packet))
        return out

    def finish(self) -> None:
        if self.buf or self.dtype is None:
            raise CorruptStreamError("spike-lfp stream: truncated stream")

    def _head(self) -> bool:
        if len(self.buf) < _HEAD.size:
            return False
        magic, ver, flags, rows, fs, sha, meta_len = _HEAD.unpack_from(self.buf)
        if magic != MAGIC:
            raise CorruptStreamError("not a spike-lfp stream (bad magic)")
        if ver > VERSION:
            raise CorruptStreamError(f"spike-lfp stream version {ver} is newer than {VERSION}")
        s = self.s
        if sha != self.sha or rows != s.rows or fs != s.fs or bool(flags & _RESIDUAL) != s.residual:
            raise CorruptStreamError("spike-lfp stream: written by another model")
        if meta_len > 1 << 24:
            raise CorruptStreamError("spike-lfp stream: corrupt head")
        if len(self.buf) < _HEAD.size + meta_len:
            return False
        try:
            meta = json.loads(zlib.decompress(bytes(self.buf[_HEAD.size : _HEAD.size + meta_len])))
            dtype = np.dtype(str(meta["dtype"]))
            names = [str(v) for v in meta["channel_names"]]
        except (ValueError, KeyError, TypeError, zlib.error):
            raise CorruptStreamError("spike-lfp stream: corrupt head") from None
        if dtype.kind not in "iuf" or len(names) != rows:
            raise CorruptStreamError("spike-lfp stream: corrupt head")
        del self.buf[: _HEAD.size + meta_len]
        self.dtype, self.names = dtype, names
        return True

    def _packet(self, packet: bytes) -> np.ndarray:
        s = self.s
        crc = struct.unpack_from("<I", packet, 4)[0]
        rest = memoryview(packet)[8:]
        if zlib.crc32(rest) != crc:
            raise CorruptStreamError("spike-lfp stream: packet checksum mismatch")
        n, flags, step, count = struct.unpack_from("<HBfI", rest)
        if n == 0 or not (np.isfinite(step) and step > 0) or count > n * s.rows:
            raise CorruptStreamError("spike-lfp stream: corrupt packet head")
        lv, events, layer = unpack_sections(rest[11:], expect=3)
        if flags & _LEVELS:
            levels = array_from(lv, "<f2", s.rows, "levels").astype(np.float64)
            if not np.isfinite(levels).all():
                raise CorruptStreamError("spike-lfp stream: bad levels")
            self.levels = levels
        elif len(lv) or self.levels is None:
            raise CorruptStreamError("spike-lfp stream: levels missing")
        ev = self._events(events, count, n)
        noise = s.noise(n, self.levels, count, self.index)
        spikes, self.carry = s.place(n, ev, self.levels, self.carry)
        m = s.layer_frames(n)
        dz = s.cfg.dead_zone
        with np.errstate(all="ignore"):
            q = s.decode_layer(layer, m)
            steps = s.steps(float(np.float32(step)), s.fine_mask(ev, m))
            r = s.layer(deadzone_dequantize(q, steps, dz), m, n) + spikes
            noise = s.noise(n, self.levels, len(ev[0]), self.index)
            if noise is not None:
                r = r + noise
        if not np.isfinite(r).all():
            raise CorruptStreamError("spike-lfp stream: decoded values are not finite")
        self.index += 1
        assert self.dtype is not None
        return to_output(r, self.dtype)

    def _events(self, buf: memoryview, count: int, n: int) -> tuple[np.ndarray, ...]:
        s = self.s
        tb = s.tables
        dec = rans.GroupDecoder(buf)
        b = dec.take(count, tb["bucket"])
        if count and b.max() > int(n).bit_length():
            raise CorruptStreamError("spike-lfp stream: event time beyond the window")
        chan = dec.take(count, tb["channel"])
        shape = dec.take(count, tb["shape"])
        gain = dec.take(count, tb["gain"])
        low = np.zeros(count, np.int64)
        for k in range(2, BUCKETS):
            sel = b == k
            if sel.any():
                low[sel] = dec.take(int(sel.sum()), UniformModel(k - 1))
        dec.finish()
        times = np.cumsum(np.where(b > 0, (1 << np.maximum(b - 1, 0)) + low, 0))
        if count and (times[-1] >= n or chan.max() >= s.rows or shape.max() >= len(s.book)):
            raise CorruptStreamError("spike-lfp stream: event symbol out of range")
        return times.astype(np.int64), chan, shape, gain
