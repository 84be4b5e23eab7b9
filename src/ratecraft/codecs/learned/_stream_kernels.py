"""numba kernels of the streamed ``spike-lfp`` encoder (:mod:`.spike_lfp_stream`).

``scipy.signal.sosfilt`` runs one channel's biquads sample after sample: each output waits
for the one before, so a 1024-channel × 20 ms window spends ~2 ms per pass in that chain.
Here the inner loop runs across channels, whose chains are independent, so the compiler
vectorizes it; the forward pass reads the window time-major (one transposed copy of the
raw samples) and writes time-major float32, the backward pass reads that in reverse and
writes channels × frames again. Direct form II transposed, as
``sosfilt``, in float32 (the detector's view: nothing the decoder recomputes).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def _sections(v: np.ndarray, sos: np.ndarray, z: np.ndarray) -> None:
    """One time step of every channel through the sections ``sos``, in place on ``v``
    (one value per channel), with the state ``z`` (S × 2 × rows) updated."""
    for s in range(sos.shape[0]):
        b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
        z0 = z[s, 0]
        z1 = z[s, 1]
        for r in range(v.shape[0]):
            u = v[r]
            o = b0 * u + z0[r]
            z0[r] = b1 * u - a1 * o + z1[r]
            z1[r] = b2 * u - a2 * o
            v[r] = o


@njit(cache=True, nogil=True)
def forward(x: np.ndarray, sos: np.ndarray, z: np.ndarray, out: np.ndarray) -> None:
    """``out[t, r]`` = the sections ``sos`` (S × 6, float32) run over time-major ``x[t, r]``
    (any number type) from the state ``z`` (S × 2 × rows, float32, updated in place)."""
    n, rows = x.shape
    for t in range(n):
        yt = out[t]
        xt = x[t]
        for r in range(rows):
            yt[r] = xt[r]
        _sections(yt, sos, z)


@njit(cache=True, nogil=True)
def backward(y: np.ndarray, sos: np.ndarray, zi: np.ndarray, out: np.ndarray) -> None:
    """``out[r, t]`` = the sections run backward in time over time-major ``y[t, r]``, each
    channel's state starting at ``zi`` (S × 2, float32) times its last value."""
    n, rows = y.shape
    S = sos.shape[0]
    z = np.empty((S, 2, rows), np.float32)
    for s in range(S):
        for r in range(rows):
            z[s, 0, r] = zi[s, 0] * y[n - 1, r]
            z[s, 1, r] = zi[s, 1] * y[n - 1, r]
    v = np.empty(rows, np.float32)
    for t in range(n - 1, -1, -1):
        for r in range(rows):
            v[r] = y[t, r]
        _sections(v, sos, z)
        for r in range(rows):
            out[r, t] = v[r]


@njit(cache=True, nogil=True)
def quantize(c: np.ndarray, step: float, fine: float, mask: np.ndarray, dz: float) -> np.ndarray:
    """Dead-zone quantization of ``c`` (rows × m) with the step ``step``, or ``step · fine``
    where ``mask`` is set (an empty mask: nowhere), as int64 (``deadzone_quantize``)."""
    rows, m = c.shape
    q = np.empty((rows, m), np.int64)
    inv = 1.0 / step
    inv_fine = 1.0 / (step * fine)
    has = mask.size > 0
    for r in range(rows):
        for t in range(m):
            v = c[r, t]
            a = abs(v) * (inv_fine if has and mask[r, t] else inv)
            k = np.floor(a + (0.5 - dz))
            if k < 0:
                k = 0.0
            q[r, t] = int(k) if v >= 0 else -int(k)
    return q


@njit(cache=True, nogil=True)
def detect(
    band: np.ndarray,
    n: int,
    levels: np.ndarray,
    below: np.ndarray,
    last: np.ndarray,
    frame: int,
    gap: int,
    search: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Troughs of the downward crossings of ``-levels`` in the first ``n`` frames of ``band``
    (rows × frames with lookahead), as :func:`ratecraft.metrics.spikes.detect_in_band` finds
    them (trough within ``search`` frames of the crossing, troughs closer than ``gap`` merged
    into the deepest), less those within ``gap`` of the row's last event (``last``, absolute
    frames; updated). ``below`` (was the last frame under the level; updated) carries a
    crossing across windows; a trough that falls in the lookahead is left to the next window.
    Returns (channel, frame) sorted by channel, then frame."""
    rows, ahead = band.shape
    cap = n // 2 + 2
    out_c = np.empty(rows * cap, np.int64)
    out_t = np.empty(rows * cap, np.int64)
    k = 0
    cand = np.empty(n + 1, np.int64)
    for r in range(rows):
        lv = -levels[r]
        prev = below[r]
        m = 0
        late = False
        for t in range(n):
            b = band[r, t] < lv
            if b and not prev:
                stop = min(t + search, ahead)
                best = t
                for u in range(t + 1, stop):
                    if band[r, u] < band[r, best]:
                        best = u
                if best >= n:
                    late = True
                else:
                    cand[m] = best
                    m += 1
            prev = b
        below[r] = prev and not late
        if m == 0:
            continue
        c = np.sort(cand[:m])
        i = 0
        while i < m:  # one run of troughs spaced less than gap apart: keep the deepest
            j = i
            deep = i
            while j + 1 < m and c[j + 1] - c[j] < gap:
                j += 1
                if band[r, c[j]] < band[r, c[deep]]:
                    deep = j
            t = c[deep]
            if frame + t - last[r] >= gap and k < rows * cap:
                out_c[k] = r
                out_t[k] = t
                k += 1
                last[r] = frame + t
            i = j + 1
    return out_c[:k], out_t[:k]


@njit(cache=True, nogil=True)
def place(
    out: np.ndarray,
    times: np.ndarray,
    chan: np.ndarray,
    shape: np.ndarray,
    amp: np.ndarray,
    book: np.ndarray,
    lead: int,
) -> None:
    """Add ``amp[e] · book[shape[e]]`` to row ``chan[e]`` of ``out`` with its sample ``lead``
    at ``times[e]``, in event order (what lies before column 0 is dropped)."""
    width = book.shape[1]
    for e in range(times.size):
        c = chan[e]
        s = shape[e]
        a = amp[e]
        start = times[e] - lead
        for j in range(width):
            col = start + j
            if 0 <= col < out.shape[1]:
                out[c, col] += a * book[s, j]


@njit(cache=True, nogil=True)
def spike_mask(
    rows: int,
    total: int,
    times: np.ndarray,
    chan: np.ndarray,
    offs: np.ndarray,
    sizes: np.ndarray,
    scales: np.ndarray,
    reach: np.ndarray,
) -> np.ndarray:
    """The DWT coefficients (rows × ``total``) of the bands ``offs``/``sizes``/``scales`` within
    ``reach[band]`` frames of an event (the ones a residual-mode step refines)."""
    mask = np.zeros((rows, total), np.bool_)
    for e in range(times.size):
        c = chan[e]
        t = times[e]
        for b in range(sizes.size):
            sc = scales[b]
            lo = max((t - reach[b]) // sc, 0)
            hi = min((t + reach[b]) // sc + 1, sizes[b])
            for i in range(lo, hi):
                mask[c, offs[b] + i] = True
    return mask


@njit(cache=True, nogil=True)
def match(
    band: np.ndarray,
    tail: np.ndarray,
    chan: np.ndarray,
    times: np.ndarray,
    book: np.ndarray,
    norm: np.ndarray,
    pre: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per event: the codeword nearest to its trough-normalized snippet (``book`` rows,
    squared norms ``norm``; the trough ``pre`` samples in) and the trough depth. Samples
    before the window come from ``tail`` (rows × pre), past the band's end count as 0."""
    k, width = book.shape
    ahead = band.shape[1]
    shape = np.empty(times.size, np.int64)
    depth = np.empty(times.size, np.float64)
    snip = np.empty(width, np.float64)
    for e in range(times.size):
        c = chan[e]
        for j in range(width):
            u = times[e] - pre + j
            if u < 0:
                snip[j] = tail[c, pre + u]
            elif u < ahead:
                snip[j] = band[c, u]
            else:
                snip[j] = 0.0
        d = max(-snip[pre], 1e-9)
        best, arg = np.inf, 0
        for w in range(k):
            dot = 0.0
            for j in range(width):
                dot += snip[j] * book[w, j]
            v = norm[w] - 2.0 * dot / d
            if v < best:
                best, arg = v, w
        shape[e] = arg
        depth[e] = d
    return shape, depth
