"""Spike events of the ``spike-lfp`` codec: detection, gain-shape VQ, ANS coding, comfort noise.

Spikes are detected per channel as in :mod:`ratecraft.metrics.spikes` (300 Hz–6 kHz band-pass,
robust MAD noise level, −k·σ̂ crossings, trough within 0.5 ms, 1 ms refractory merge) and coded
as *events*: time delta (Elias-gamma bucket + raw bits), channel, a gain (the trough depth on a
log scale relative to the channel's threshold) and a shape (index into a k-means codebook of
trough-normalized waveforms learned in ``fit``). Every event symbol is entropy coded with ANS
under static tables learned from the training events, so the stream carries no per-chunk
models. The encoder runs the detector on its own reconstruction and raises the gain of any
event the detector would miss (closed loop), so the spike trains survive. In LFP mode the
decoder adds seeded spike-band *comfort noise* at each channel's coded MAD level, so a sorter
that sets its threshold from the decoded signal itself sees the original noise floor.

This module holds that half of the codec as a mixin, :class:`SpikeEventCoder`, so
:mod:`ratecraft.codecs.learned.spike_lfp` keeps the layers, chunking and checkpoints.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ratecraft.bitstream.ans import (
    GroupDecoder,
    SymbolModel,
    UniformModel,
    dequantize_counts,
    encode_groups,
    quantize_counts,
)
from ratecraft.errors import CorruptStreamError
from ratecraft.metrics.spikes import bandpass, detect_in_band

if TYPE_CHECKING:
    from ratecraft.codecs.learned.spike_lfp import SpikeLfpConfig

BUCKETS = 33  # Elias-gamma buckets of time deltas below 2**32
_MAX_GAIN_RATIO = 64.0  # troughs up to 64x the threshold are coded; deeper ones are clipped
TOL_MS = 0.5  # the spike metric's matching tolerance
_TAIL_MS = 3.0  # band-passed codewords keep this much ringing on each side
_REFRACTORY_MS = 1.0  # as ratecraft.metrics.spikes.detect_spikes
_MAD_TO_SIGMA = 0.6745
_TEXTURE_SHAPE = (64, 1 << 15)  # comfort-noise texture: rows × samples
# the coarse event code of a chunk whose events crowd out its layer (payload version 2):
# gains in steps this many times the config's, shapes from the codebook merged to this many
COARSE_GAIN, COARSE_SHAPES = 3, 8


def _kmeans(x: np.ndarray, k: int, seed: int, iters: int = 40) -> np.ndarray:
    """k-means++ then Lloyd iterations; ``k`` is capped by the number of distinct rows."""
    rng = np.random.default_rng(seed)
    k = max(1, min(k, len(np.unique(x, axis=0))))
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d = np.min(((x[:, None, :] - np.asarray(centres)[None]) ** 2).sum(-1), axis=1)
        centres.append(x[rng.choice(len(x), p=d / d.sum())] if d.sum() > 0 else x[0])
    c = np.asarray(centres)
    for _ in range(iters):
        lab = np.argmin(((x[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
        new = np.stack([x[lab == j].mean(0) if (lab == j).any() else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    return c


def _table(hist: np.ndarray) -> SymbolModel:
    """A static ANS model from training counts (+1 so unseen symbols stay codable)."""
    return SymbolModel(dequantize_counts(quantize_counts(np.asarray(hist, np.int64) + 1)))


class SpikeEventCoder:
    """The spike-event half of :class:`~ratecraft.codecs.learned.spike_lfp.SpikeLfpCodec`.

    A mixin: it reads the codec's ``config``, ``fs`` (sample rate), ``state`` (the trained
    tensors) and ``state_version`` (bumped whenever the state changes), and caches the
    band-passed codebook and noise texture.
    """

    config: SpikeLfpConfig
    fs: float | None
    state: dict[str, np.ndarray] | None
    state_version: int
    _fbook: tuple[Any, np.ndarray] | None
    _texture: np.ndarray | None
    _coarse: bool  # the chunk being coded uses the coarse event code
    _coarse_cache: tuple[int, dict[str, np.ndarray]] | None

    def _window(self) -> tuple[int, int]:
        assert self.fs is not None
        return round(self.config.pre_ms * 1e-3 * self.fs), round(
            self.config.post_ms * 1e-3 * self.fs
        )

    def _gain_step(self) -> float:
        return self.config.gain_step * (COARSE_GAIN if self._coarse else 1)

    def _n_gains(self) -> int:
        return math.ceil(math.log(_MAX_GAIN_RATIO) / self._gain_step()) + 1

    def _book(self) -> tuple[np.ndarray, np.ndarray]:
        """The codebook the chunk's events index, and each codeword's gain compensation."""
        assert self.state is not None
        if not self._coarse:
            return self.state["codebook"], self.state["comp"]
        coarse = self._coarse_model()
        return coarse["book"], coarse["comp"]

    def _coarse_model(self) -> dict[str, np.ndarray]:
        """The coarse event code's shapes: the codebook merged to ``COARSE_SHAPES`` by k-means
        (seeded: encoder and decoder derive the same from the model), each codeword's merged
        shape (``of``) and their compensations."""
        assert self.state is not None
        if self._coarse_cache is None or self._coarse_cache[0] != self.state_version:
            book = self.state["codebook"]
            if len(book) <= COARSE_SHAPES:
                merged, comp = book, self.state["comp"]
            else:
                merged = _kmeans(book, COARSE_SHAPES, self.config.seed)
                comp = self._compensation(merged)
            of = np.argmin(((book[:, None, :] - merged[None]) ** 2).sum(-1), axis=1)
            self._coarse_cache = (self.state_version, {"book": merged, "comp": comp, "of": of})
        return self._coarse_cache[1]

    def _hist(self, key: str) -> np.ndarray:
        """Training counts of an event symbol, regrouped for the coarse code."""
        assert self.state is not None
        hist = np.asarray(self.state[f"hist_{key}"], np.int64)
        if not self._coarse or key in ("bucket", "channel"):
            return hist
        if key == "gain":
            group = np.rint(np.arange(len(hist)) / COARSE_GAIN).astype(np.int64)
            size = self._n_gains()
        else:
            group, size = self._coarse_model()["of"], len(self._coarse_model()["book"])
        group = np.minimum(group, size - 1)
        return np.bincount(group, weights=hist, minlength=size).astype(np.int64)

    def _events(self, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """Detections per channel, levels (|threshold| per channel) and band-passed signal."""
        assert self.fs is not None
        f = bandpass(x, self.fs)  # one band-pass serves detection, levels and waveforms
        levels = self.config.k_detect * np.median(np.abs(f), axis=1) / _MAD_TO_SIGMA
        levels = np.maximum(levels, 1e-6).astype(np.float16).astype(np.float64)
        return detect_in_band(f, self.fs, -levels, _REFRACTORY_MS), levels, f

    def _snippets(self, f: np.ndarray, ev: list[np.ndarray]) -> np.ndarray:
        pre, post = self._window()
        padded = np.pad(f, ((0, 0), (pre, post)))
        rows = [padded[c, t : t + pre + post + 1] for c, e in enumerate(ev) for t in e]
        return np.asarray(rows).reshape(-1, pre + post + 1)

    def _fit_codebook(self, snips: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Trough-normalized k-means codebook and each codeword's gain compensation.

        With fewer than two training spikes (LFP, ECoG, a silent probe) the codebook is one
        unit impulse at the trough: the few events found later are coded as scaled impulses
        and the residual layer carries their shape.
        """
        assert self.fs is not None
        pre, post = self._window()
        if len(snips) < 2:
            shapes = np.zeros((1, pre + post + 1))
            shapes[0, pre] = -1.0
        else:
            shapes = snips / np.maximum(-snips[:, pre : pre + 1], 1e-9)
        book = _kmeans(shapes, k, self.config.seed)
        return book, self._compensation(book)

    def _compensation(self, book: np.ndarray) -> np.ndarray:
        """Per codeword: 1 / the trough of its band-passed self (readers band-pass the decoded
        signal once more), so a coded gain is the trough a detector sees."""
        assert self.fs is not None
        pre, _ = self._window()
        comp = np.ones(len(book))
        pad, near = round(_TAIL_MS * 1e-3 * self.fs), round(TOL_MS * 1e-3 * self.fs)
        filtered = bandpass(np.pad(book, ((0, 0), (pad, pad))), self.fs)
        for j, row in enumerate(filtered):
            trough = -row[max(pad + pre - near, 0) : pad + pre + near + 1].min()
            comp[j] = 1.0 / max(trough, 0.25)
        return comp

    def _buckets(self, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Elias-gamma split of non-negative deltas: bit length, and the bits below the top."""
        b = np.frexp(delta.astype(np.float64))[1].astype(np.int64)  # exact below 2**53
        return b, delta - np.where(b > 0, 1 << np.maximum(b - 1, 0), 0)

    def _event_symbols(
        self, ev: list[np.ndarray], levels: np.ndarray, f: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """Time-ordered (time, channel, shape, gain) symbols of the detected events."""
        assert self.state is not None
        pre, _ = self._window()
        chan = np.concatenate([np.full(len(e), c) for c, e in enumerate(ev)]).astype(np.int64)
        times = np.concatenate(ev).astype(np.int64)
        order = np.lexsort((chan, times))
        times, chan = times[order], chan[order]
        snips = self._snippets(f, ev)[order] if len(times) else np.zeros((0, 1))
        depth = np.maximum(-snips[:, pre], 1e-9) if len(times) else np.zeros(0)
        shapes = snips / depth[:, None] if len(times) else snips
        book = self._book()[0]
        shape = (
            np.argmin(((shapes[:, None, :] - book[None]) ** 2).sum(-1), axis=1)
            if len(times)
            else np.zeros(0, np.int64)
        )
        g = np.log(np.maximum(depth / levels[chan], 1.0)) / self._gain_step()
        gain = np.clip(np.rint(g), 0, self._n_gains() - 1).astype(np.int64)
        return times, chan, shape.astype(np.int64), gain

    def _place(
        self,
        n: int,
        rows: int,
        ev: tuple[np.ndarray, ...],
        levels: np.ndarray,
        book: np.ndarray,
        lead: int,
    ) -> np.ndarray:
        """Gain-scaled rows of ``book`` (trough ``lead`` samples in) at the event times."""
        assert self.state is not None
        times, chan, shape, gain = ev
        width = book.shape[1]
        out = np.zeros((rows, n + width))
        amp = levels[chan] * np.exp(gain * self._gain_step()) * self._book()[1][shape]
        cols = times[:, None] + np.arange(width)[None, :]
        np.add.at(out, (chan[:, None], cols), amp[:, None] * book[shape])  # in event order
        return out[:, lead : lead + n]

    def _spikes(
        self,
        n: int,
        rows: int,
        ev: tuple[np.ndarray, ...],
        levels: np.ndarray,
        noise: np.ndarray | None,
    ) -> np.ndarray:
        """The decoded spike band: codewords at their troughs plus the comfort noise."""
        assert self.state is not None
        out = self._place(n, rows, ev, levels, self._book()[0], self._window()[0])
        return out if noise is None else out + noise

    def _noise_for(self, rows: int, n: int, levels: np.ndarray, count: int) -> np.ndarray | None:
        if not self.config.noise_fill or self.config.residual or n < 2:
            return None
        return self._noise(rows, n, levels, count)

    def _filtered_book(self) -> tuple[np.ndarray, int]:
        """Each codeword band-passed as a reader's detector sees it, tails kept; trough offset."""
        assert self.state is not None and self.fs is not None
        pad = round(_TAIL_MS * 1e-3 * self.fs)
        key = (self.state_version, self._coarse)
        if self._fbook is None or self._fbook[0] != key:
            wide = np.pad(self._book()[0], ((0, 0), (pad, pad)))
            self._fbook = (key, bandpass(wide, self.fs))
        return self._fbook[1], pad + self._window()[0]

    def _noise(self, rows: int, n: int, levels: np.ndarray, count: int) -> np.ndarray:
        """Seeded spike-band noise with each channel's coded MAD level.

        Without it the decoded spike band is silent between events, and a detector that sets
        its threshold from the decoded signal itself (as spike sorters do) would fire on every
        ripple. The seed is derived from the chunk's shape and event count, so the decoder
        draws the same noise the encoder drew.
        """
        assert self.fs is not None
        tex = self._noise_texture()
        rng = np.random.default_rng([self.config.seed, rows, n, count])
        which = rng.integers(0, tex.shape[0], rows)[:, None]
        cols = (rng.integers(0, tex.shape[1], rows)[:, None] + np.arange(n)[None, :]) % tex.shape[1]
        return tex[which, cols] * (levels / self.config.k_detect)[:, None]

    def _noise_texture(self) -> np.ndarray:
        """Band-passed white noise with unit MAD-sigma per row, drawn once per codec: chunks
        take seeded rows and offsets of it, so comfort noise costs a gather, not a filter."""
        assert self.fs is not None
        if self._texture is None:
            rng = np.random.default_rng(self.config.seed)
            w = bandpass(rng.standard_normal(_TEXTURE_SHAPE), self.fs)
            self._texture = w / (np.median(np.abs(w), axis=1, keepdims=True) / _MAD_TO_SIGMA)
        return self._texture

    def _closed_loop(
        self, shape: tuple[int, int], ev: tuple, levels: np.ndarray, noise: np.ndarray | None
    ) -> None:
        """Raise the gain of every event the detector would not find in the reconstruction.

        The detector's view of the decoded spike band is built from band-passed codewords
        (band-pass is linear), so each pass costs a placement and a detection, no filtering.
        """
        assert self.fs is not None
        _, n = shape
        times, chan, _, gain = ev
        tol = round(TOL_MS * 1e-3 * self.fs)
        top = self._n_gains() - 1
        fbook, lead = self._filtered_book()
        pending = np.unique(chan)  # channels whose events may still be lost
        for _ in range(self.config.closed_loop):
            if pending.size == 0:
                return
            sel = np.isin(chan, pending)
            remap = np.searchsorted(pending, chan[sel])
            sub = (times[sel], remap, ev[2][sel], gain[sel])
            y = self._place(n, pending.size, sub, levels[pending], fbook, lead)
            if noise is not None:
                y += noise[pending]
            found = detect_in_band(y, self.fs, -levels[pending], _REFRACTORY_MS)
            lost = np.zeros(len(times), bool)
            for j, c in enumerate(pending.tolist()):
                idx = np.flatnonzero(chan == c)
                hits = found[j]
                if hits.size == 0:
                    lost[idx] = True
                    continue
                pos = np.searchsorted(hits, times[idx])
                left = hits[np.clip(pos - 1, 0, hits.size - 1)]
                right = hits[np.clip(pos, 0, hits.size - 1)]
                gap = np.minimum(np.abs(times[idx] - left), np.abs(times[idx] - right))
                lost[idx] = gap > tol
            lost &= gain < top
            gain[lost] += 1
            pending = np.unique(chan[lost])

    def _code_events(self, ev: tuple[np.ndarray, ...]) -> tuple[bytes, float]:
        """The events' ANS stream and its estimated size in bits (−Σ log2 p)."""
        assert self.state is not None
        times, chan, shape, gain = ev
        b, low = self._buckets(np.diff(times, prepend=0))
        groups: list[tuple[np.ndarray, Any]] = [
            (np.minimum(b, BUCKETS - 1), _table(self._hist("bucket"))),
            (chan, _table(self._hist("channel"))),
            (shape, _table(self._hist("shape"))),
            (gain, _table(self._hist("gain"))),
        ]
        groups += [(low[b == k], UniformModel(k - 1)) for k in range(2, BUCKETS) if (b == k).any()]
        return encode_groups(groups), sum(m.estimated_bits(v) for v, m in groups)

    def _decode_events(self, buf: memoryview, count: int, n: int) -> tuple[np.ndarray, ...]:
        st = self.state
        assert st is not None
        dec = GroupDecoder(buf)
        b = dec.take(count, _table(self._hist("bucket")))
        if count and b.max() > int(n).bit_length():  # a delta longer than the chunk
            raise CorruptStreamError("spike-lfp: event time delta beyond the chunk")
        chan = dec.take(count, _table(self._hist("channel")))
        shape = dec.take(count, _table(self._hist("shape")))
        gain = dec.take(count, _table(self._hist("gain")))
        low = np.zeros(count, np.int64)
        for k in range(2, BUCKETS):
            sel = b == k
            if sel.any():
                low[sel] = dec.take(int(sel.sum()), UniformModel(k - 1))
        delta = np.where(b > 0, (1 << np.maximum(b - 1, 0)) + low, 0)
        times = np.cumsum(delta)
        if count and times[-1] >= n:
            raise CorruptStreamError("spike-lfp: event time beyond the chunk")
        return times, chan, shape, gain
