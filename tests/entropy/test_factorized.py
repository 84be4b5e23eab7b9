"""Entropy bottleneck: likelihoods train, integer tables code exactly, escapes are lossless,
and the tables travel in the state dict."""

import numpy as np
import pytest
import torch

from ratecraft.entropy.factorized import EntropyBottleneck
from ratecraft.entropy.tables import CountTables
from ratecraft.errors import BadInputError, CorruptStreamError


def test_likelihoods_have_gradients_and_bounds():
    torch.manual_seed(0)
    eb = EntropyBottleneck(3)
    y = (torch.randn(50, 3) * 4).requires_grad_()
    y_hat, lik = eb(y)
    assert y_hat.shape == lik.shape == (50, 3)
    assert torch.equal(y_hat, torch.round(y.detach()))
    (-torch.log2(lik).sum() + y_hat.sum()).backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()
    assert all(p.grad is not None for p in eb.parameters())
    assert float(lik.detach().min()) >= 1e-9 and float(lik.detach().max()) <= 1.0


def test_round_trip_with_escapes_is_exact():
    torch.manual_seed(1)
    eb = EntropyBottleneck(4).eval()
    tables = eb.update(max_support=64)
    rng = np.random.default_rng(0)
    ints = np.rint(rng.normal(0, 5, (200, 4))).astype(np.int64)
    ints[3, 1], ints[7, 2] = 10**6, -(10**7)  # far outside the support: escaped, not clamped
    blob, est = eb.compress(ints)
    assert est > 64
    assert np.array_equal(eb.decompress(blob, 200), ints)
    again = CountTables.from_json(tables.to_json())
    assert np.array_equal(again.decompress(blob, 200), ints)


def test_corrupt_and_bad_inputs_fail_cleanly():
    eb = EntropyBottleneck(2).eval()
    with pytest.raises(BadInputError, match="update"):
        eb.compress(np.zeros((3, 2), np.int64))
    eb.update(max_support=16)
    blob, _ = eb.compress(np.zeros((5, 2), np.int64))
    with pytest.raises(CorruptStreamError):
        eb.decompress(blob[:-3], 5)
    with pytest.raises(BadInputError, match="integer"):
        eb.compress(np.zeros((5, 2)))
    with pytest.raises(BadInputError):
        EntropyBottleneck(0)


def test_tables_travel_in_the_state_dict_and_resize_on_load():
    torch.manual_seed(2)
    eb = EntropyBottleneck(3).eval()
    eb.update(step=0.5, max_support=256)
    ints = np.rint(np.random.default_rng(3).normal(0, 8, (64, 3))).astype(np.int64)
    blob, est = eb.compress(ints)
    fresh = EntropyBottleneck(3)
    assert fresh.table_buffers.empty
    fresh.load_state_dict(eb.state_dict(), strict=True)
    assert np.array_equal(fresh.decompress(blob, 64), ints)
    assert fresh.estimated_bits(ints) == pytest.approx(est)


def test_a_coarser_step_gives_fewer_bytes():
    torch.manual_seed(4)
    eb = EntropyBottleneck(2).eval()
    y = torch.randn(500, 2) * 6
    sizes = []
    for step in (0.5, 1.0, 4.0):
        eb.update(step=step)
        sizes.append(len(eb.compress(eb.quantize(y, step).to(torch.int64).numpy())[0]))
    assert sizes[0] > sizes[1] > sizes[2]
