"""Fitting the integer linear predictors (DPCM) of `predictive` and `quant` (numba kernels).

Each channel is predicted per block of frames from its own past samples and, optionally, from
a reference channel coded before it (the current and previous sample of that channel). The
coefficients are fitted here in floating point (exact least squares from Gram matrices, then
trimmed refits) and stored as integers with a fixed binary point; the integer prediction loops
that encoder and decoder both run are :mod:`.prediction`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ratecraft.codecs.classical.prediction import COEF_SHIFT, N_CROSS, ORDERS, Predictors
from ratecraft.codecs.threads import in_chunk_worker

_COEF_BITS = 14.0  # rough cost of one stored coefficient, for order selection
_CORR_SAMPLES = 2048  # differences per channel that choose reference channels


@njit(cache=True, nogil=True)
def _gx(x, c, t):  # pragma: no cover - compiled
    return float(x[c, t]) if t >= 0 else 0.0


@njit(cache=True, nogil=True)
def _padded(x, c, pad):  # pragma: no cover - compiled
    """Channel ``c`` of ``x`` in float64 after ``pad`` zeros (the samples before the start)."""
    out = np.zeros(x.shape[1] + pad)
    for t in range(x.shape[1]):
        out[pad + t] = float(x[c, t])
    return out


@njit(cache=True, nogil=True, parallel=True)
def gram_matrices(x, refidx, block, max_order):  # pragma: no cover - compiled
    """Exact covariance (Gram) matrix of z = [x_t, y_t, y_{t-1}, x_{t-1}, ..., x_{t-P}] per block.

    Only sums with one lag at zero are accumulated per sample (about 2P + 5 products); the rest
    follow from S(i+1, j+1) = S(i, j) + (term entering at the block start) − (term leaving at
    its end), so the least-squares fit is exact at the cost of an autocorrelation.
    """
    n_ch, n = x.shape
    p = max_order
    n_blocks = (n + block - 1) // block
    w = p + 3
    g = np.zeros((n_ch, n_blocks, w, w))
    for c in prange(n_ch):
        r = refidx[c]
        xx = np.zeros((p + 1, p + 1))
        xy = np.zeros((p + 1, 2))
        xp = _padded(x, c, p)  # xp[p + t] = x[c, t], zeros before: lag l of t is xp[p + t - l]
        yp = _padded(x, r, 1) if r >= 0 else xp
        lag_x = np.zeros(p + 1)  # lag_x[p - j] accumulates x_t · x_{t-j}: forward, contiguous
        lag_y = np.zeros(p + 1)  # lag_y[p - j] accumulates y_t · x_{t-j}
        for b in range(n_blocks):
            t0 = b * block
            t1 = min(n, t0 + block)
            lag_x[:] = 0.0
            lag_y[:] = 0.0
            yy00 = 0.0
            yy01 = 0.0
            xy01 = 0.0
            for t in range(t0, t1):
                xt = xp[p + t]
                for k in range(p + 1):
                    lag_x[k] += xt * xp[t + k]
            if r >= 0:
                for t in range(t0, t1):
                    y0 = yp[t + 1]
                    y1 = yp[t]
                    yy00 += y0 * y0
                    yy01 += y0 * y1
                    xy01 += xp[p + t] * y1
                    for k in range(p + 1):
                        lag_y[k] += y0 * xp[t + k]
            xx[:] = 0.0
            xy[:] = 0.0
            for j in range(p + 1):
                xx[0, j] = lag_x[p - j]
                xy[j, 0] = lag_y[p - j]
            xy[0, 1] = xy01
            for i in range(p):
                for j in range(i, p):
                    xx[i + 1, j + 1] = (
                        xx[i, j]
                        + _gx(x, c, t0 - 1 - i) * _gx(x, c, t0 - 1 - j)
                        - _gx(x, c, t1 - 1 - i) * _gx(x, c, t1 - 1 - j)
                    )
            for i in range(p + 1):
                for j in range(i):
                    xx[i, j] = xx[j, i]
            yy11 = 0.0
            if r >= 0:
                yy11 = yy00 + _gx(x, r, t0 - 1) ** 2 - _gx(x, r, t1 - 1) ** 2
                for i in range(p):
                    xy[i + 1, 1] = (
                        xy[i, 0]
                        + _gx(x, c, t0 - 1 - i) * _gx(x, r, t0 - 1)
                        - _gx(x, c, t1 - 1 - i) * _gx(x, r, t1 - 1)
                    )
            # scatter into z order: 0 -> x lag 0, 1 -> y lag 0, 2 -> y lag 1, 2 + j -> x lag j
            for i in range(p + 1):
                zi = 0 if i == 0 else 2 + i
                for j in range(p + 1):
                    zj = 0 if j == 0 else 2 + j
                    g[c, b, zi, zj] = xx[i, j]
                for a in range(2):
                    g[c, b, zi, 1 + a] = xy[i, a]
                    g[c, b, 1 + a, zi] = xy[i, a]
            g[c, b, 1, 1] = yy00
            g[c, b, 1, 2] = yy01
            g[c, b, 2, 1] = yy01
            g[c, b, 2, 2] = yy11
    return g


@njit(cache=True, nogil=True)
def _solve_small(a, b):  # pragma: no cover - compiled
    """``a⁻¹ b`` for a small system by Gaussian elimination with partial pivoting, in place
    (``a`` and ``b`` are overwritten); NaNs when ``a`` is singular. For the ≤ 18 × 18 systems of
    one block, LAPACK through ``np.linalg.solve`` spends ~100x longer in call overhead than in
    arithmetic, and this runs once per block and pass."""
    k = b.shape[0]
    for col in range(k):
        piv = col
        for i in range(col + 1, k):
            if abs(a[i, col]) > abs(a[piv, col]):
                piv = i
        if a[piv, col] == 0.0:
            return np.full(k, np.nan)
        if piv != col:
            for j in range(k):
                a[col, j], a[piv, j] = a[piv, j], a[col, j]
            b[col], b[piv] = b[piv], b[col]
        for i in range(col + 1, k):
            f = a[i, col] / a[col, col]
            if f != 0.0:
                for j in range(col, k):
                    a[i, j] -= f * a[col, j]
                b[i] -= f * b[col]
    out = np.empty(k)
    for i in range(k - 1, -1, -1):
        acc = b[i]
        for j in range(i + 1, k):
            acc -= a[i, j] * out[j]
        out[i] = acc / a[i, i]
    return out


@njit(cache=True, nogil=True)
def _block_prediction(xp, yp, pad, t0, m, p, use_cross, a, pred):  # pragma: no cover - compiled
    """``pred[i]``: the float predictor ``a`` at frame ``t0 + i`` of a channel padded by
    ``pad`` zeros (``xp``) and its reference padded by one (``yp``): cross taps first, then
    lags 1..p. One tap is applied over the whole block at a time so the loop runs on vector
    units; each frame still sums its terms in that fixed order, and the padding's zeros stand
    for the history before the start."""
    pred[:] = 0.0
    k = 0
    if use_cross:
        for i in range(m):
            pred[i] += a[0] * yp[t0 + i + 1]
        for i in range(m):
            pred[i] += a[1] * yp[t0 + i]
        k = 2
    for j in range(1, p + 1):
        tap = a[k + j - 1]
        base = pad + t0 - j
        for i in range(m):
            pred[i] += tap * xp[base + i]


@njit(cache=True, nogil=True)
def _features(x, c, r, t, p, use_cross, z):  # pragma: no cover - compiled
    k = 0
    if use_cross:
        z[0] = float(x[r, t])
        z[1] = _gx(x, r, t - 1)
        k = 2
    for j in range(1, p + 1):
        z[k + j - 1] = _gx(x, c, t - j)
    return k + p


@njit(cache=True, nogil=True, parallel=True)
def trimmed_refit(x, refidx, block, orders, cross, coefs, g, iters, factor):  # pragma: no cover
    """Refit each block's predictor without the samples it predicts worst (trimmed LS).

    Spikes and artefacts are rare, large and unpredictable; least squares bends the predictor
    towards them and worsens the bulk of the residuals, which dominate the bit count. Each pass
    drops samples whose residual exceeds ``factor`` × the block's median absolute residual by
    subtracting their outer products from the block's Gram matrix, then solves again.
    """
    n_ch, n = x.shape
    n_blocks = orders.shape[1]
    out = coefs.copy()
    width = coefs.shape[2]
    for c in prange(n_ch):
        r = refidx[c]
        z = np.zeros(width)
        xp = _padded(x, c, width)  # xp[width + t] = x[c, t], zeros before
        yp = _padded(x, r, 1) if r >= 0 else xp
        for b in range(n_blocks):
            p = orders[c, b]
            if p == 0:
                continue
            use_cross = cross[c, b] == 1
            k = p + (2 if use_cross else 0)
            first = 1 if use_cross else 3
            t0 = b * block
            t1 = min(n, t0 + block)
            a = out[c, b, :k].copy()
            m = t1 - t0
            res = np.empty(m)
            pred = np.empty(m)
            for _ in range(iters):
                _block_prediction(xp, yp, width, t0, m, p, use_cross, a, pred)
                for i in range(m):
                    res[i] = abs(xp[width + t0 + i] - pred[i])
                half = (t1 - t0) // 2
                limit = factor * max(np.partition(res, half)[half], 0.5)
                gm = g[c, b, first : first + k, first : first + k].copy()
                h = g[c, b, 0, first : first + k].copy()
                kept = t1 - t0
                for t in range(t0, t1):
                    if res[t - t0] > limit:
                        _features(x, c, r, t, p, use_cross, z)
                        xt = float(x[c, t])
                        for i in range(k):
                            h[i] -= z[i] * xt
                            for j in range(i, k):
                                gm[i, j] -= z[i] * z[j]
                        kept -= 1
                for i in range(k):
                    for j in range(i):
                        gm[i, j] = gm[j, i]
                if kept < 4 * k:
                    break
                ridge = 1e-9 * np.trace(gm) + 1e-9
                for i in range(k):
                    gm[i, i] += ridge
                sol = _solve_small(gm, h)
                if not np.all(np.isfinite(sol)) or np.abs(sol).max() > 60.0:
                    break
                a = sol
            out[c, b, :k] = a
    return out


# the same kernels on one thread, for chunk workers (ratecraft.codecs.threads): a pool of chunk
# threads already keeps the cores busy, and numba's thread pools must not be entered from
# several threads at once
_serial_gram = njit(cache=True, nogil=True)(gram_matrices.py_func)
_serial_refit = njit(cache=True, nogil=True)(trimmed_refit.py_func)


def _difference_correlation(x: np.ndarray, stride: int) -> np.ndarray:
    """Correlations of the channels' first differences (every ``stride``-th), lower triangle.

    One BLAS product (``d @ d.T``): at 384 channels the pairwise loop it replaces took half of
    a chunk's encode time.
    """
    t = np.arange(0, x.shape[1] - 1, stride)[: (x.shape[1] - 1) // stride]
    d = x[:, t + 1].astype(np.float64) - x[:, t]
    d -= d.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.einsum("ij,ij->i", d, d))
    den = np.outer(norm, norm)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(den > 0, (d @ d.T) / den, 0.0)
    return np.tril(corr, -1)


def choose_references(x: np.ndarray, use_neighbours: bool) -> np.ndarray:
    """For each channel, the earlier channel whose first differences correlate most with it."""
    n_ch, n = x.shape
    refidx = np.full(n_ch, -1, dtype=np.int64)
    if not use_neighbours or n_ch < 2 or n < 8:
        return refidx
    corr = _difference_correlation(x, max(1, n // _CORR_SAMPLES))
    for c in range(1, n_ch):
        best = int(np.argmax(np.abs(corr[c, :c])))
        if abs(corr[c, best]) > 0.1:
            refidx[c] = best
    return refidx


def fit_predictors(
    x: np.ndarray,
    refidx: np.ndarray,
    block: int,
    max_order: int,
    robust_passes: int = 2,
    trim_factor: float = 3.0,
    noise_var: float = 0.0,
) -> Predictors:
    """Pick, per (channel, block), order and cross-channel use by estimated bits, then refit
    robustly (see :func:`trimmed_refit`).

    ``noise_var`` is the variance of the quantization noise a lossy coder adds to the samples the
    predictor will see: the fit then treats the inputs as noisy (a ridge of n·noise_var), which
    keeps closed-loop prediction from amplifying coarse quantization.
    """
    n_ch, n = x.shape
    serial = in_chunk_worker()
    g = (_serial_gram if serial else gram_matrices)(x, refidx, block, max_order)
    n_blocks = g.shape[1]
    lengths = np.minimum(block, n - np.arange(n_blocks) * block).astype(np.float64)
    if noise_var > 0:  # features (not the target x_t) carry the reconstruction's noise
        diag = np.arange(1, g.shape[2])
        g[:, :, diag, diag] += (lengths * noise_var)[None, :, None]
    width = N_CROSS + max_order
    best_cost = np.full((n_ch, n_blocks), np.inf)
    orders = np.zeros((n_ch, n_blocks), dtype=np.int64)
    cross = np.zeros((n_ch, n_blocks), dtype=np.int64)
    coefs = np.zeros((n_ch, n_blocks, width))
    energy0 = g[:, :, 0, 0]
    # order 0 (predict zero) costs nothing and is the baseline
    best_cost[:] = 0.5 * lengths * np.log2(np.maximum(energy0, 1e-3 * lengths) / lengths)
    has_ref = (refidx >= 0)[:, None] & np.ones((1, n_blocks), dtype=bool)
    for use_cross in (False, True):
        for p in (o for o in ORDERS if o <= max_order):
            k = p + (N_CROSS if use_cross else 0)
            sel = np.arange(1 if use_cross else 1 + N_CROSS, 1 + N_CROSS + p)
            a_mat = g[:, :, sel[:, None], sel[None, :]]
            rhs = g[:, :, 0, sel]
            ridge = 1e-9 * np.trace(a_mat, axis1=2, axis2=3)[..., None, None] + 1e-9
            sol = np.linalg.solve(a_mat + ridge * np.eye(k), rhs[..., None])[..., 0]
            energy = energy0 - (sol * rhs).sum(axis=2)
            energy = np.maximum(energy, 1e-3 * lengths)
            cost = 0.5 * lengths * np.log2(energy / lengths) + _COEF_BITS * k
            ok = np.isfinite(cost) & (np.abs(sol).max(axis=2) < 60.0)
            if use_cross:
                ok &= has_ref
            better = ok & (cost < best_cost)
            if not better.any():
                continue
            best_cost[better] = cost[better]
            orders[better] = p
            cross[better] = int(use_cross)
            row = np.zeros((n_ch, n_blocks, width))
            row[:, :, :k] = sol  # cross taps first (when used), then temporal taps
            coefs[better] = row[better]
    if robust_passes:
        refit = _serial_refit if serial else trimmed_refit
        coefs = refit(x, refidx, block, orders, cross, coefs, g, robust_passes, trim_factor)
    coefs = np.rint(coefs * (1 << COEF_SHIFT)).astype(np.int64)
    return Predictors(refidx=refidx, orders=orders, cross=cross, coefs=coefs, block=block)
