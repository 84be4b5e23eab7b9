"""The numba binary range coder: exact round trips, as small as constriction on static models."""

import numpy as np
import pytest
from constriction import stream

from ratecraft.entropy.binary_coder import PROB_BITS, decode_static, encode_static

ONE = 1 << PROB_BITS


def _binarized(symbols: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each symbol as binary decisions "is it k?" for k = 0, 1, ... with the exact conditional
    probabilities of the static categorical model (quantized to 16 bits)."""
    tails = np.cumsum(probs[::-1])[::-1]  # P(symbol >= k)
    bits, p1 = [], []
    for s in symbols:
        for k in range(len(probs) - 1):
            p = probs[k] / tails[k]
            bits.append(int(s == k))
            p1.append(int(np.clip(round(p * ONE), 1, ONE - 1)))
            if s == k:
                break
    return np.array(bits, dtype=np.int64), np.array(p1, dtype=np.int64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_static_model_costs_what_constriction_costs(seed):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(12, 0.7))
    symbols = rng.choice(len(probs), size=40_000, p=probs)
    bits, p1 = _binarized(symbols, probs)
    ours = encode_static(bits, p1)
    assert np.array_equal(decode_static(ours, p1), bits)
    encoder = stream.queue.RangeEncoder()
    encoder.encode(symbols.astype(np.int32), stream.model.Categorical(probs, perfect=False))
    theirs = 4 * len(encoder.get_compressed())
    assert abs(len(ours) - theirs) / theirs < 1e-3


def test_extreme_probabilities_round_trip():
    rng = np.random.default_rng(7)
    p1 = rng.choice([1, 2, ONE // 2, ONE - 2, ONE - 1], size=20_000)
    bits = (rng.random(p1.size) < p1 / ONE).astype(np.int64)
    bits[::97] ^= 1  # some very unlikely bits
    blob = encode_static(bits, p1)
    assert np.array_equal(decode_static(blob, p1), bits)


def test_truncated_stream_decodes_without_reading_out_of_bounds():
    rng = np.random.default_rng(8)
    p1 = np.full(5000, ONE // 2, dtype=np.int64)
    bits = rng.integers(0, 2, p1.size)
    blob = encode_static(bits, p1)
    out = decode_static(blob[: len(blob) // 2], p1)
    assert out.shape == bits.shape and not np.array_equal(out, bits)
