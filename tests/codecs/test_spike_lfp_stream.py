"""`spike-lfp` streamed windows: bit-exact decode, state across windows, rate, corrupt input."""

import numpy as np
import pytest

from ratecraft.codecs import Budget, get_codec
from ratecraft.codecs.learned.spike_lfp_stream import StreamDecoder, StreamEncoder
from ratecraft.data.synthetic import simulate_recording
from ratecraft.errors import BadInputError, CorruptStreamError
from ratecraft.metrics import spike_metrics

SIM = dict(n_channels=16, duration_s=0.5, sample_rate=20000.0)
FAST = dict(codebook_sizes=[8], spike_step_scales=[0.5])
WINDOW = 400  # 20 ms at 20 kHz


@pytest.fixture(scope="module")
def pair():
    return simulate_recording(seed=1001, **SIM)[0], simulate_recording(seed=1, **SIM)[0]


@pytest.fixture(scope="module", params=[True, False], ids=["residual", "lfp"])
def codec(request, pair):
    return get_codec("spike-lfp", FAST, residual=request.param, step=20.0).fit(pair[0])


def _stream(codec, x, window=WINDOW, **options):
    enc = StreamEncoder(codec, **options)
    blob, recs = b"", []
    for i in range(0, x.shape[1], window):
        b, r = enc.push(x[:, i : i + window], reconstruction=True)
        blob += b
        recs += [] if r is None else [r]
    b, r = enc.flush(reconstruction=True)
    return enc, blob + b, np.concatenate(recs + ([] if r is None else [r]), axis=1)


def _decode(codec, blob, piece=997):
    dec = StreamDecoder(codec)
    out = []
    for i in range(0, len(blob), piece):  # the bytes may arrive in any pieces
        out += dec.push(blob[i : i + piece])
    dec.finish()
    return np.concatenate(out, axis=1)


def test_decode_equals_the_encoders_reconstruction_bit_for_bit(codec, pair):
    x = pair[1].samples
    _, blob, recon = _stream(codec, x)
    out = _decode(codec, blob)
    assert out.shape == x.shape and out.dtype == x.dtype
    np.testing.assert_array_equal(out, recon)


def test_windows_of_any_length_make_the_same_recording(codec, pair):
    x = pair[1].samples[:, :3000]
    for window in (1, 37, 999):
        _, blob, recon = _stream(codec, x, window=window, ratio=None)
        assert recon.shape == x.shape
        np.testing.assert_array_equal(_decode(codec, blob, piece=5000), recon)


def test_state_carries_across_windows(pair):
    codec = get_codec("spike-lfp", FAST, residual=False, step=20.0).fit(pair[0])
    x = pair[1].samples
    ref = spike_metrics(x, codec.decode(codec.encode(pair[1])).samples, SIM["sample_rate"])
    streamed = spike_metrics(x, _stream(codec, x, ratio=None)[2], SIM["sample_rate"])
    # a detector that restarted every window would lose the spikes at the window edges
    assert streamed["spike_f1"] >= ref["spike_f1"] - 0.05
    # the same data cut differently: events and filter state continue, so nearly the same
    a = _stream(codec, x, window=400, ratio=None)[2]
    b = _stream(codec, x, window=250, ratio=None)[2]
    assert spike_metrics(x, b, SIM["sample_rate"])["spike_f1"] >= (
        spike_metrics(x, a, SIM["sample_rate"])["spike_f1"] - 0.03
    )


def test_rate_control_across_windows_holds_the_ratio(pair):
    train, test = pair
    codec = get_codec("spike-lfp", FAST).fit(train, Budget(ratio=20))
    x = np.tile(test.samples, (1, 2))  # 1 s: 50 windows
    enc, blob, _ = _stream(codec, x)
    assert 0.95 * 20 <= x.nbytes / len(blob) <= 1.1 * 20
    assert len(set(enc.steps_used)) > 1  # the step moves between windows, searched only once


def test_channel_names_are_sent_once(codec, pair):
    x = pair[1].samples
    names = [f"electrode-{i:04d}" for i in range(x.shape[0])]
    enc = StreamEncoder(codec, channel_names=names, ratio=None)
    first = enc.push(x[:, :WINDOW])
    later = enc.push(x[:, WINDOW : 2 * WINDOW])
    head = enc.head(x.dtype)
    assert first.startswith(head) and not later.startswith(head[:4])  # sent once, up front
    dec = StreamDecoder(codec)
    dec.push(first + later)
    assert dec.names == names


def test_corrupt_streams_are_refused(codec, pair):
    x = pair[1].samples[:, :2000]
    _, blob, _ = _stream(codec, x, ratio=None)
    rng = np.random.default_rng(0)
    for _ in range(40):
        bad = bytearray(blob)
        pos = int(rng.integers(0, len(bad)))
        bad[pos] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises(CorruptStreamError):
            _decode(codec, bytes(bad))
    with pytest.raises(CorruptStreamError):
        _decode(codec, blob[:-3])  # truncated
    with pytest.raises(CorruptStreamError):
        _decode(codec, b"XXXX" + blob[4:])
    other = get_codec("spike-lfp", FAST, residual=codec.config.residual, seed=3).fit(pair[1])
    with pytest.raises(CorruptStreamError):
        _decode(other, blob)  # written by another model


def test_bad_windows_are_refused(codec, pair):
    enc = StreamEncoder(codec)
    with pytest.raises(BadInputError):
        enc.push(np.zeros((3, 10), np.int16))
    with pytest.raises(BadInputError):
        enc.push(np.full((16, 10), np.nan))
    enc.push(np.zeros((16, 10), np.int16))
    with pytest.raises(BadInputError):
        enc.push(np.zeros((16, 10), np.float32))  # dtype changed mid-stream
    enc.flush()
    with pytest.raises(BadInputError):
        enc.push(np.zeros((16, 10), np.int16))
