"""`predictive --level max`: per-sample adaptive prediction and context-mixing coding (numba).

Every sample of a channel is predicted by a cascade that adapts after each sample, as the
record-holding lossless audio coders do (Monkey's Audio, OptimFROG) instead of a block LPC with
coefficients in the stream:

1. the first difference ``d = x[t] − x[t−1]`` is predicted by a normalized LMS filter over the
   last ``ORDER1`` differences (plus the current and previous difference of a correlated,
   already coded reference channel);
2. a second NLMS filter (``ORDER2`` taps) predicts what stage 1 missed from its past errors;
3. a sign-sign LMS filter (``ORDER3`` taps) does the same for stage 2;
4. bias cancellation by context (CALIC / LOCO-I): the mean error seen in the context of the
   last two residuals' signs and the local energy is added back.

The residual against the rounded prediction is coded bit by bit (zero flag, sign, Elias-gamma
length in unary, then the mantissa: its leading bits and its last bit modelled, any middle bits
of long residuals raw) with adaptive binary models: each decision mixes three context models
(count-based adaptive probabilities) in a logistic mixer, PAQ style. The contexts are the fast
and slow running residual energy, the last residual's size, the fractional part of the
prediction, and the code itself: the predicted code for the zero flag and sign, the code the
last mantissa bit picks between. The implant's ADC has strong differential non-linearity (some
codes occur half as often as their neighbours, a few never), which models keyed by the code
learn and no linear predictor can. Contexts are hashed into one table of ``2^TABLE_BITS``
entries (at 2^18 it costs under 0.01% against dense tables on the implant files).

All arithmetic is integer (fixed point), so decoding is bit-exact on every platform, and the same
loop serves the encoder and the decoder (one function, a flag), so the two cannot drift apart.
Coding uses the numba binary range coder of :mod:`ratecraft.entropy.binary_coder`; why not
constriction is written there. Each channel of a chunk is coded on its own (models start afresh
per chunk), after its reference channel.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ratecraft.entropy.binary_coder import (
    decode_bit,
    decoder_state,
    encode_bit,
    encoder_state,
    finish,
    room,
)
from ratecraft.errors import CorruptStreamError

__all__ = [
    "ORDER1",
    "ORDER2",
    "ORDER3",
    "count_decisions",
    "decode_channels",
    "encode_channels",
    "state_figures",
]

ORDER1 = 16  # NLMS taps on the channel's own differences
ORDER2 = 16  # NLMS taps on stage 1's errors
ORDER3 = 8  # sign-sign LMS taps on stage 2's errors
N_REF = 4  # taps on the reference channel (its current difference and the last ones)
MU1 = 40  # NLMS step sizes (× 2^-16 per unit of normalized input power)
MU2 = 80
MU_SS = 2  # sign-sign step (weights are Q14)
_CLIP = 1 << 15  # filter inputs and errors are clipped to this (keeps products in 64 bits)

N_LEVEL = 32  # energy levels (half octaves)
_MANTISSA = 26  # first mantissa node: zero, sign and 24 unary length bits come before
N_NODE = _MANTISSA + 17 * 5  # then 4 leading mantissa bits and the last one, per length
N_CODE_SUB = 32
CODE_SPAN = 4096  # alphabets up to 12-bit ADCs get per-code contexts
N_INPUT = 4  # mixer inputs: three models and a bias
_MAX_LENGTH = 34  # Elias-gamma lengths beyond this only come from a corrupt stream
_COUNT_LIMIT = 1023
_BIAS_CONTEXTS = 36

TABLE_BITS = 18  # one hashed table of 2^20 (probability, count) pairs holds every context
# key spaces of the three context models (keys are hashed into the table)
_MODEL1 = 1 << 60  # key offsets of models 1 and 2 (model 0 starts at 0)
_MODEL2 = 2 << 60
_Q_STRIDE = 1 << 40  # model 1 keys: the code-width ratio level above the rest

OK, CORRUPT = 0, 1


def _logistic_tables() -> tuple[np.ndarray, np.ndarray]:
    """``squash`` (stretch domain −2047..2047 in 1/256 → 16-bit probability) and ``stretch``
    (12-bit probability → stretch domain), as integer tables computed once at import.

    Every table entry is the floor of a logistic value that is an exact integer (at 0, where
    ``exp`` is exact everywhere) or lies at least 10^-6 from one (checked here), far beyond any
    libm's error in ``exp``, so every platform builds the same tables and decodes the same
    bits."""
    xs = (np.arange(4096) - 2048) / 256.0
    exact = 65536.0 / (1.0 + np.exp(-xs))
    off = np.abs(exact - np.rint(exact))
    if ((off > 0) & (off < 1e-6)).any():  # pragma: no cover - a fixed table
        raise RuntimeError("logistic table entry too close to an integer to floor reliably")
    squash = np.clip(np.floor(exact).astype(np.int64), 16, 65535 - 16)
    stretch = np.zeros(4096, dtype=np.int64)
    prev = 0
    for x in range(-2047, 2048):
        v = int(squash[x + 2048]) >> 4
        stretch[prev : v + 1] = x
        prev = v + 1
    stretch[prev:] = 2047
    return squash, stretch


SQUASH, STRETCH = _logistic_tables()
RECIP = np.array([int(65536 / (n + 1.5)) for n in range(_COUNT_LIMIT + 1)], dtype=np.int64)


@njit(cache=True, nogil=True, inline="always")
def _bit_length(v):  # pragma: no cover - compiled
    n = 0
    while v > 0:
        n += 1
        v >>= 1
    return n


@njit(cache=True, nogil=True, inline="always")
def _level(e):  # pragma: no cover - compiled
    """Half-octave level of a non-negative magnitude, capped at ``N_LEVEL − 1``."""
    b = _bit_length(e)
    if b >= 2:
        b = 2 * b - 2 + ((e >> (b - 2)) & 1)
    return min(b, N_LEVEL - 1)


@njit(cache=True, nogil=True, inline="always")
def _clip(v):  # pragma: no cover - compiled
    return max(-_CLIP, min(_CLIP, v))


@njit(cache=True, nogil=True, inline="always")
def _sign3(v):  # pragma: no cover - compiled
    return 1 if v > 0 else (2 if v < 0 else 0)


@njit(cache=True, nogil=True, inline="always")
def _count(hist, i):  # pragma: no cover - compiled
    return hist[i] if 0 <= i < hist.shape[0] else 0


@njit(cache=True, nogil=True, inline="always")
def _ratio_level(hist, a, other, per_code):  # pragma: no cover - compiled
    """Half-octave level of how often code ``a`` occurred so far against code ``a + other``
    (``other == 0``: against the mean of both neighbours of ``a``): the ADC's relative code
    widths, learnt once for all codes instead of code by code."""
    if not per_code:
        return 0
    ha = _count(hist, a)
    both = (_count(hist, a - 1) + _count(hist, a + 1)) >> 1
    hb = both if other == 0 else _count(hist, a + other)
    return _level(((ha + 1) << 6) // (hb + 1))


@njit(cache=True, nogil=True, inline="always")
def _nlms_update(w, h, n, err, energy, mu):  # pragma: no cover - compiled
    """Normalized LMS step: ``w += mu·err·h / |h|²`` in fixed point (Q14 weights, Q4 error)."""
    if energy > 0:
        g = min((mu << 30) // (energy + 1), 1 << 30)
        ec = _clip(err)
        for j in range(n):
            w[j] += (ec * h[j] * g + (1 << 31)) >> 32


@njit(cache=True, nogil=True, inline="always")
def _slot(key):  # pragma: no cover - compiled
    """The table slot of a context key (Fibonacci hashing: the contexts in use are a sparse
    subset of all keys, so one hashed table replaces dense tables hundreds of times larger)."""
    h = np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
    return np.int64(h >> np.uint64(64 - TABLE_BITS))


@njit(cache=True, nogil=True)
def _code_bit(bit, c0, c1, c2, node, m, st, buf, decoding):  # pragma: no cover
    """Mix three context models for one decision, code (or decode) it, update everything."""
    prob, count, weights, squash, stretch, recip = m
    c0 = _slot(c0)
    c1 = _slot(c1)
    c2 = _slot(c2)
    s0 = stretch[prob[c0] >> 4]
    s1 = stretch[prob[c1] >> 4]
    s2 = stretch[prob[c2] >> 4]
    dot = weights[node, 0] * s0 + weights[node, 1] * s1 + weights[node, 2] * s2
    dot += weights[node, 3] * 256
    dot >>= 16
    p16 = squash[max(-2047, min(2047, dot)) + 2048]
    if decoding:
        bit = decode_bit(st, buf, p16)
    else:
        encode_bit(st, buf, bit, p16)
    err = ((bit << 12) - (p16 >> 4)) * 2
    weights[node, 0] += (s0 * err) >> 14
    weights[node, 1] += (s1 * err) >> 14
    weights[node, 2] += (s2 * err) >> 14
    weights[node, 3] += (256 * err) >> 14
    target = bit << 16
    for c in (c0, c1, c2):
        n = count[c]
        prob[c] += ((target - prob[c]) * recip[n]) >> 16
        if n < _COUNT_LIMIT:
            count[c] = n + 1
    return bit


@njit(cache=True, nogil=True)
def _fresh_models(squash, stretch, recip):  # pragma: no cover - compiled
    prob = np.full(1 << TABLE_BITS, 32768, dtype=np.uint16)
    count = np.zeros(1 << TABLE_BITS, dtype=np.uint16)
    weights = np.full((N_NODE, N_INPUT), 1 << 14, dtype=np.int64)
    weights[:, 3] = 0
    return (prob, count, weights, squash, stretch, recip)


@njit(cache=True, nogil=True)
def _code_channel(
    x, ref, has_ref, lo, hi, st, buf, decoding, squash, stretch, recip
):  # pragma: no cover
    """Encode (or, with ``decoding``, fill in) the integer samples ``x`` of one channel."""
    n = x.shape[0]
    per_code = 1 if hi - lo < CODE_SPAN else 0  # else too few visits per code to learn
    hist = np.zeros(hi - lo + 1 if per_code else 1, dtype=np.int64)
    m = _fresh_models(squash, stretch, recip)
    n1 = ORDER1 + (N_REF if has_ref else 0)
    h1 = np.zeros(n1, dtype=np.int64)
    w1 = np.zeros(n1, dtype=np.int64)
    h2 = np.zeros(ORDER2, dtype=np.int64)
    w2 = np.zeros(ORDER2, dtype=np.int64)
    h3 = np.zeros(ORDER3, dtype=np.int64)
    w3 = np.zeros(ORDER3, dtype=np.int64)
    en1 = 0
    en2 = 0
    bias_sum = np.zeros(_BIAS_CONTEXTS, dtype=np.int64)
    bias_n = np.zeros(_BIAS_CONTEXTS, dtype=np.int64)
    e_fast = 256
    e_slow = 256
    r1 = 0
    r2 = 0
    prev = 0
    ref_prev = 0
    for t in range(n):
        if has_ref:  # the reference channel's current and last N_REF − 1 differences
            rd = ref[t] - ref_prev
            ref_prev = ref[t]
            last = ORDER1 + N_REF - 1
            en1 -= h1[last] * h1[last]
            for j in range(last, ORDER1, -1):
                h1[j] = h1[j - 1]
            h1[ORDER1] = _clip(rd)
            en1 += h1[ORDER1] * h1[ORDER1]
        acc = 0
        for j in range(n1):
            acc += w1[j] * h1[j]
        p1 = acc >> 10  # Q14 weights on integers → Q4
        acc = 0
        for j in range(ORDER2):
            acc += w2[j] * h2[j]
        p2 = acc >> 14
        acc = 0
        for j in range(ORDER3):
            acc += w3[j] * h3[j]
        p3 = acc >> 14
        lf = _level(e_fast)
        bctx = (_sign3(r1) * 3 + _sign3(r2)) * 4 + min(3, lf >> 3)
        bias = bias_sum[bctx] // bias_n[bctx] if bias_n[bctx] > 0 else 0
        pq4 = p1 + p2 + p3 + bias
        pred = (pq4 + 8) >> 4
        frac = pq4 - (pred << 4) + 8  # 0..15
        kh = max(lo, min(hi, prev + pred))
        code_ctx = (kh - lo) * N_CODE_SUB * per_code
        ls = _level(e_slow)
        l1 = _level(abs(r1) << 4)
        base0 = (lf * 64 + ls) * N_NODE
        base1 = _MODEL1 + (lf * 64 + l1) * N_NODE
        base2 = _MODEL2
        r = 0 if decoding else x[t] - kh
        # zero flag
        z = _code_bit(
            1 if r == 0 else 0,
            base0,
            base1 + _ratio_level(hist, kh - lo, 0, per_code) * _Q_STRIDE,
            base2 + (code_ctx + (frac >> 3)) * N_NODE,
            0,
            m,
            st,
            buf,
            decoding,
        )
        if z == 0:
            sc = frac * 3 + _sign3(r1)
            neg = _code_bit(
                1 if r < 0 else 0,
                (lf * 64 + sc) * N_NODE + 1,
                _MODEL1
                + (ls * 64 + sc) * N_NODE
                + 1
                + _ratio_level(hist, kh - lo + 1, -2, per_code) * _Q_STRIDE,
                base2 + (code_ctx + (frac >> 3)) * N_NODE + 1,
                1,
                m,
                st,
                buf,
                decoding,
            )
            mag = abs(r)
            length = _bit_length(mag)
            code2 = base2 + (code_ctx + 16 + neg * 8) * N_NODE
            k = 1
            while True:
                node = 1 + min(k, 24)
                b = _code_bit(
                    1 if length > k else 0,
                    base0 + node,
                    base1 + node,
                    code2 + min(1, lf >> 4) * N_NODE + node,
                    node,
                    m,
                    st,
                    buf,
                    decoding,
                )
                if b == 0:
                    break
                k += 1
                if k > _MAX_LENGTH:
                    return CORRUPT
            length = k
            if decoding:
                mag = 1
            for i in range(length - 2, -1, -1):
                pos = length - 2 - i
                prefix = (mag >> (i + 1)) if not decoding else mag  # bits known so far
                if pos < 4 or i == 0:
                    slot = 4 if i == 0 else pos
                    node = _MANTISSA + min(length, 16) * 5 + slot
                    pre = prefix & 3
                    q1 = 0
                    if i == 0:  # the last bit picks one of two adjacent codes: key by the code
                        cand = kh + (prefix << 1) * (-1 if neg else 1)
                        cand_ctx = max(cand - lo, 0) * N_CODE_SUB * per_code
                        q1 = _ratio_level(hist, cand - lo, -1 if neg else 1, per_code)
                        c2 = base2 + (cand_ctx + 16 + neg * 8 + min(1, lf >> 4)) * N_NODE
                    else:
                        c2 = code2 + (pre * 2 + min(1, lf >> 4)) * N_NODE
                    b = _code_bit(
                        (mag >> i) & 1,
                        (lf * 64 + pre) * N_NODE + node,
                        _MODEL1 + (ls * 64 + pre) * N_NODE + node + q1 * _Q_STRIDE,
                        c2 + node,
                        node,
                        m,
                        st,
                        buf,
                        decoding,
                    )
                elif decoding:
                    b = decode_bit(st, buf, 32768)
                else:
                    b = (mag >> i) & 1
                    encode_bit(st, buf, b, 32768)
                if decoding:
                    mag = (mag << 1) | b
            r = -mag if neg else mag
        if decoding:
            v = kh + r
            if v < lo or v > hi:
                return CORRUPT
            x[t] = v
        v = x[t]
        # ---- adapt ----
        d = v - prev
        e_bias = (d << 4) - pq4
        bias_sum[bctx] += e_bias
        bias_n[bctx] += 1
        if bias_n[bctx] >= 256:
            bias_sum[bctx] >>= 1
            bias_n[bctx] >>= 1
        e1 = (d << 4) - p1
        _nlms_update(w1, h1, n1, e1, en1, MU1)
        e2 = e1 - p2
        _nlms_update(w2, h2, ORDER2, e2, en2, MU2)
        e3 = e2 - p3
        sg = 1 if e3 > 0 else (-1 if e3 < 0 else 0)
        for j in range(ORDER3):
            hj = h3[j]
            w3[j] += MU_SS * sg * (1 if hj > 0 else (-1 if hj < 0 else 0))
        en1 -= h1[ORDER1 - 1] * h1[ORDER1 - 1]
        for j in range(ORDER1 - 1, 0, -1):
            h1[j] = h1[j - 1]
        h1[0] = _clip(d)
        en1 += h1[0] * h1[0]
        en2 -= h2[ORDER2 - 1] * h2[ORDER2 - 1]
        for j in range(ORDER2 - 1, 0, -1):
            h2[j] = h2[j - 1]
        h2[0] = _clip(e1)
        en2 += h2[0] * h2[0]
        for j in range(ORDER3 - 1, 0, -1):
            h3[j] = h3[j - 1]
        h3[0] = _clip(e2)
        a = min(abs(v - kh), _CLIP) << 4
        e_fast += (a - e_fast) >> 2
        e_slow += (a - e_slow) >> 5
        r2 = r1
        r1 = v - kh
        if per_code:
            hist[v - lo] += 1
        prev = v
    return OK


@njit(cache=True, nogil=True)
def _encode_all(x, refidx, lo, hi, buf, st, squash, stretch, recip):  # pragma: no cover
    rows = x.shape[0]
    for c in range(rows):
        r = refidx[c]
        ref = x[r] if r >= 0 else x[c]
        _code_channel(x[c], ref, r >= 0, lo, hi, st, buf, False, squash, stretch, recip)
        if st[4] > 0:
            break
    return finish(st, buf)


@njit(cache=True, nogil=True)
def _decode_all(x, refidx, lo, hi, buf, squash, stretch, recip):  # pragma: no cover
    st = decoder_state(buf)
    rows = x.shape[0]
    for c in range(rows):
        r = refidx[c]
        ref = x[r] if r >= 0 else x[c]
        if _code_channel(x[c], ref, r >= 0, lo, hi, st, buf, True, squash, stretch, recip):
            return CORRUPT
        if st[4] > 4:
            return CORRUPT
    return OK if st[4] == 0 else CORRUPT


def encode_channels(x: np.ndarray, refidx: np.ndarray, lo: int, hi: int) -> bytes:
    """Range-coded bytes of the integer samples ``x`` (channels × frames, every value in
    ``lo..hi``), each channel after its reference channel ``refidx[c] < c`` (or −1)."""
    return _encode(x, refidx, lo, hi)[0]


def count_decisions(x: np.ndarray, refidx: np.ndarray, lo: int, hi: int) -> int:
    """How many binary decisions :func:`encode_channels` codes for ``x`` (for cost figures)."""
    return _encode(x, refidx, lo, hi)[1]


def _encode(x: np.ndarray, refidx: np.ndarray, lo: int, hi: int) -> tuple[bytes, int]:
    x = np.ascontiguousarray(x, dtype=np.int64)
    refidx = np.ascontiguousarray(refidx, dtype=np.int64)
    size = max(1024, x.size)
    while True:
        buf = np.zeros(size, dtype=np.uint8)
        st = encoder_state()
        n = _encode_all(x, refidx, lo, hi, buf, st, SQUASH, STRETCH, RECIP)
        if room(st):
            return buf[:n].tobytes(), int(st[5])
        size *= 4


def decode_channels(
    buf: bytes | memoryview, refidx: np.ndarray, rows: int, n: int, lo: int, hi: int
) -> np.ndarray:
    """Inverse of :func:`encode_channels`."""
    x = np.zeros((rows, n), dtype=np.int64)
    arr = np.frombuffer(buf, dtype=np.uint8).copy()  # the shared loop types a writable buffer
    refidx = np.ascontiguousarray(refidx, dtype=np.int64)
    if _decode_all(x, refidx, lo, hi, arr, SQUASH, STRETCH, RECIP) != OK:
        raise CorruptStreamError("adaptive predictive stream is corrupt or truncated")
    return x


def state_figures(with_reference: bool = True) -> dict[str, int]:
    """An implant-side cost sketch of one channel: multiply-accumulates per sample in the
    predictor (prediction and update of each filter), per binary decision in the coder (mixer
    dot product and update, three probability updates) and bytes of state (filters and bias
    tables as 32-bit words; the hashed context table as 16-bit probabilities with 16-bit
    counts; mixer weights 32-bit)."""
    n1 = ORDER1 + (N_REF if with_reference else 0)
    return {
        "predictor_macs_per_sample": 2 * n1 + 2 * ORDER2 + ORDER3,  # sign-sign: no multiply
        "mixer_macs_per_decision": 2 * N_INPUT + 3,
        "filter_state_bytes": 4 * (2 * n1 + 2 * ORDER2 + 2 * ORDER3 + 2 * _BIAS_CONTEXTS),
        "model_bytes": 4 * (1 << TABLE_BITS) + 4 * N_NODE * N_INPUT,
    }
