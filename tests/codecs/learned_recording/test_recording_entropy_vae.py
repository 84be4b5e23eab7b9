"""Recording losses and the VAE's error-bound layer."""

import numpy as np
import pytest
import torch

from ratecraft.codecs import Budget, get_codec
from ratecraft.codecs.learned.losses import LossConfig, RecordingLoss
from ratecraft.data.synthetic_recording import simulate_recording


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_loss_terms():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64) * 0.1
    x[0, 1, 30] = -5.0  # one spike
    loss = RecordingLoss(3, 64, np.full(3, 0.1), LossConfig(spike_halfwidth=4))
    mask = loss.spike_mask(x)
    assert mask[0, 1, 26:35].all() and mask.sum() < 30
    assert float(loss(x.reshape(2, -1), x.reshape(2, -1))) == 0.0
    y = x.clone()
    y[0, 1, 30] = 0.0
    terms = loss.terms(y, x)
    assert terms["spike"] > terms["mse"] * 10 and terms["spectral"] > 0


def test_vae_error_bound_holds_with_a_residual_layer():
    rec = simulate_recording(n_channels=2, duration_s=0.6, seed=2)[0]
    cfg = {"train": {"epochs": 2, "batch_size": 16}, "window": 64, "hidden": 8}
    codec = get_codec("vae", cfg).fit(rec, Budget(max_error=40))
    assert codec.config.error_bound == 40 and codec.calibration > 0
    blob = codec.encode(rec)
    out = codec.decode(blob)
    err = np.abs(out.samples.astype(int) - rec.samples.astype(int))
    assert err.max() <= 40
    assert np.array_equal(out.samples, codec.reconstruct(rec).samples)
    plain = get_codec("vae", cfg).fit(rec, Budget(ratio=30))
    assert np.abs(plain.decode(plain.encode(rec)).samples.astype(int) - rec.samples).max() > 40


def test_vae_predicts_uncertainty():
    torch.manual_seed(0)
    codec = get_codec("vae", {"window": 64, "hidden": 8, "latent_channels": 2})
    model = codec._build_model(2)
    y = torch.randn(4, 2, model.steps)
    std = model.predict_std(y, mc_samples=4)
    assert std.shape == (2, 2, 64) and (std > 0).all()
