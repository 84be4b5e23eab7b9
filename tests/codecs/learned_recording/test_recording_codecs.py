"""Learned recording codecs: shapes, gradients, exact round trips, rate control, checkpoints."""

import numpy as np
import pytest
import torch

from ratecraft.codecs import Budget, decode, get_codec
from ratecraft.codecs.learned.recording_codec import LearnedRecordingCodec
from ratecraft.data.synthetic_recording import simulate_recording
from ratecraft.data.types import FeatureTable
from ratecraft.errors import BadInputError

CODECS = ["conv-ae", "lstm-ae", "transformer", "spatial", "vae"]
FAST = {"train": {"epochs": 2, "batch_size": 16}, "window": 64, "hidden": 8}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def rec():
    return simulate_recording(n_channels=4, duration_s=1.0, seed=1)[0]


@pytest.fixture(scope="module")
def small():
    return simulate_recording(n_channels=2, duration_s=0.6, seed=3)[0]


@pytest.fixture(scope="module")
def fitted(rec):
    return {name: get_codec(name, FAST).fit(rec, Budget(ratio=20)) for name in CODECS}


@pytest.mark.parametrize("name", CODECS)
@pytest.mark.parametrize("entropy", ["factorized", "hyperprior"])
def test_forward_shapes_and_gradient_flow(name, entropy):
    torch.manual_seed(0)
    codec = get_codec(name, {**FAST, "entropy": entropy, "latent_channels": 3})
    model = codec._build_model(5)
    model.train()
    x = torch.randn(2, 5, 64)
    out = model(x)
    assert out["x_hat"].shape == x.shape
    lik = out["likelihoods"]["y"]
    assert lik.numel() == model.latents_per_window() * 2 and (lik > 0).all() and (lik <= 1).all()
    assert ("z" in out["likelihoods"]) == (entropy == "hyperprior")
    rows = x.reshape(2, -1)
    x_hat, rate, aux = model.train_terms(rows)
    assert x_hat.shape == rows.shape and rate.shape == () and aux.shape == ()
    (((x_hat - rows) ** 2).mean() + rate / rows.shape[1] + aux).backward()
    grads = [p.grad for p in model.encoder_module().parameters()]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::DeprecationWarning")
@pytest.mark.parametrize("name", CODECS)
def test_encoder_module_gives_the_latents_and_traces(fitted, name):
    codec = fitted[name]
    enc = codec.encoder_module().eval()
    x = torch.randn(3, 4, 64)
    with torch.no_grad():
        y = enc(x)
        traced = torch.jit.trace(enc, x, check_trace=False)
        assert torch.allclose(traced(x), y, atol=1e-5)
    model = codec.model
    n = 3 * 4 if model.per_channel else 3
    assert y.shape == (n, model.latent_channels, model.steps)


@pytest.mark.parametrize("name", CODECS)
def test_bitstream_reproduces_the_model_reconstruction(fitted, rec, name):
    codec = fitted[name]
    blob = codec.encode(rec)
    decoded = codec.decode(blob)
    assert decoded.samples.dtype == rec.samples.dtype and decoded.samples.shape == rec.samples.shape
    assert np.array_equal(decoded.samples, codec.reconstruct(rec).samples)
    assert decoded.sample_rate == rec.sample_rate
    # the fitted ratio is real and within ±5% of the target on the fitted recording
    assert abs(rec.samples.nbytes / len(blob) / 20 - 1) <= 0.05


def test_hyperprior_round_trip_and_odd_lengths(rec):
    codec = get_codec("conv-ae", {**FAST, "entropy": "hyperprior"}).fit(rec, Budget(ratio=12))
    part = rec.slice_time(0, 1000)  # not a whole number of windows
    decoded = codec.decode(codec.encode(part))
    assert np.array_equal(decoded.samples, codec.reconstruct(part).samples)
    assert abs(rec.samples.nbytes / len(codec.encode(rec)) / 12 - 1) <= 0.05


def test_rate_and_model_shrink_as_the_ratio_grows(small):
    sizes, params, blobs = [], [], []
    for ratio in (8, 30):
        codec = get_codec("conv-ae", FAST).fit(small, Budget(ratio=ratio))
        blob = codec.encode(small)
        sizes.append(len(blob))
        params.append(codec.parameter_count())
        blobs.append(blob)
    assert sizes[1] < sizes[0] and params[1] < params[0] and blobs[0] != blobs[1]


def test_save_load_decodes_identically(fitted, rec, tmp_path):
    for name in ("conv-ae", "spatial"):
        codec = fitted[name]
        blob = codec.encode(rec)
        codec.save(tmp_path / name)
        loaded = LearnedRecordingCodec.load(tmp_path / name)
        assert type(loaded) is type(codec) and loaded.encode(rec) == blob
        assert np.array_equal(loaded.decode(blob).samples, codec.decode(blob).samples)
    other = get_codec("conv-ae", {**FAST, "seed": 1}).fit(rec, Budget(ratio=20))
    with pytest.raises(BadInputError, match="needs conv-ae model sha256"):
        fitted["conv-ae"].decode(other.encode(rec))
    with pytest.raises(BadInputError, match="not the conv-ae model"):
        fitted["conv-ae"].decode(fitted["lstm-ae"].encode(rec))


def test_generic_decode_asks_for_the_model(fitted, rec):
    with pytest.raises(BadInputError, match="needs its trained model"):
        decode(fitted["conv-ae"].encode(rec))


def test_corrupt_weights_are_refused(fitted, tmp_path):
    fitted["conv-ae"].save(tmp_path)
    (tmp_path / "weights.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(BadInputError):
        LearnedRecordingCodec.load(tmp_path)


def test_resume_equals_uninterrupted_run(small, tmp_path):
    cfg = {**FAST, "train": {"epochs": 3, "batch_size": 16}}
    fit = get_codec("conv-ae", cfg).fit
    full = fit(small, Budget(ratio=20), train_dir=tmp_path / "a")
    get_codec("conv-ae", cfg).fit(small, Budget(ratio=20), train_dir=tmp_path / "b", stop_after=1)
    resumed = get_codec("conv-ae", cfg).fit(
        small, Budget(ratio=20), train_dir=tmp_path / "b", resume=True
    )
    assert resumed.model_sha256() == full.model_sha256()
    assert (tmp_path / "b" / "metrics.jsonl").read_text().count("\n") == 3


def test_tiny_training_lowers_validation_loss():
    rec = simulate_recording(n_channels=2, duration_s=2.0, seed=4)[0]
    cfg = {"window": 64, "hidden": 8, "latent_channels": 4, "train": {"epochs": 6}}
    codec = get_codec("conv-ae", cfg).fit(rec)
    val = [h["val_loss"] for h in codec.train_result.history]
    assert min(val[1:]) < val[0]
    assert codec.fit_report["ratio"] > 1


def test_bad_inputs(fitted, rec):
    table = FeatureTable(np.zeros((50, 3)))
    with pytest.raises(BadInputError, match="recordings"):
        get_codec("conv-ae", FAST).fit(table, Budget(ratio=10))
    with pytest.raises(BadInputError, match="lossless"):
        get_codec("conv-ae", FAST).fit(rec, Budget(lossless=True))
    with pytest.raises(BadInputError, match="max_error"):
        get_codec("conv-ae", FAST).fit(rec, Budget(max_error=3))
    with pytest.raises(BadInputError, match="channels"):
        fitted["conv-ae"].encode(simulate_recording(n_channels=3, duration_s=0.1, seed=0)[0])
    with pytest.raises(BadInputError, match="too short"):
        get_codec("conv-ae", FAST).fit(rec.slice_time(0, 100), Budget(ratio=10))
    with pytest.raises(BadInputError, match="not fitted"):
        get_codec("conv-ae").encode(rec)
    with pytest.raises(BadInputError, match="window"):
        get_codec("conv-ae", {"window": 100}).fit(rec, Budget(ratio=10))
    with pytest.raises(BadInputError, match="invalid conv-ae config"):
        get_codec("conv-ae", {"entropy": "laplace"})


def test_frame_encoder_option_round_trips(small):
    codec = get_codec("conv-ae", {**FAST, "encoder": "frame"}).fit(small, Budget(ratio=10))
    blob = codec.encode(small)
    assert np.array_equal(codec.decode(blob).samples, codec.reconstruct(small).samples)
    assert codec.encoder_module()(torch.zeros(1, 2, 64)).shape == (
        2,
        codec.model.latent_channels,
        8,
    )
