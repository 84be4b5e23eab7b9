"""Latent entropy models of the recording codecs: factorized and hyperprior, tables as buffers."""

import pytest
import torch

from ratecraft.entropy.latent import LatentEntropy
from ratecraft.errors import BadInputError


@pytest.mark.parametrize("kind", ["factorized", "hyperprior"])
def test_latent_entropy_round_trip_and_step_changes_rate(kind):
    torch.manual_seed(0)
    ent = LatentEntropy(3, kind, hyper=4).eval()
    y = torch.randn(5, 3, 9) * 4
    sizes = []
    for step in (0.5, 2.0):
        ent.set_step(step)
        with torch.no_grad():
            payload, est, y_int = ent.compress(y)
            back = ent.decompress(payload, (5, 3, 9))
        assert torch.equal(back, y_int) and est > 0
        sizes.append(len(payload))
    assert sizes[1] < sizes[0]


def test_latent_tables_and_step_survive_the_state_dict():
    torch.manual_seed(1)
    ent = LatentEntropy(3, "hyperprior", hyper=4).eval()
    ent.set_step(0.75)
    y = torch.randn(4, 3, 8) * 3
    with torch.no_grad():
        payload, _, y_int = ent.compress(y)
    fresh = LatentEntropy(3, "hyperprior", hyper=4)
    fresh.load_state_dict(ent.state_dict(), strict=True)
    assert fresh.step == 0.75
    with torch.no_grad():
        assert torch.equal(fresh.decompress(payload, (4, 3, 8)), y_int)


def test_coding_before_a_step_is_refused():
    with pytest.raises(BadInputError, match="step"):
        LatentEntropy(2).compress(torch.zeros(1, 2, 4))
