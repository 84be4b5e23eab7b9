"""`spike-lfp`: round trips, bit-exact decode, rate control, spikes kept at 200x, clear errors."""

import itertools

import numpy as np
import pytest

from ratecraft.bench import truth_f1
from ratecraft.bitstream.container import iter_chunks
from ratecraft.codecs import (
    Budget,
    available_codecs,
    codec_class,
    decode,
    default_codecs,
    get_codec,
)
from ratecraft.codecs.base import BlockContext
from ratecraft.codecs.learned.spike_lfp import SpikeLfpCodec, lfp_sndr_db
from ratecraft.data.synthetic import simulate_recording
from ratecraft.data.types import FeatureTable, Recording
from ratecraft.errors import BadInputError, CorruptStreamError
from ratecraft.metrics import spike_f1

SIM = dict(n_channels=4, duration_s=1.0, sample_rate=30000.0)
FAST = dict(codebook_sizes=[8], spike_step_scales=[0.5])  # a small search: fast fits


@pytest.fixture(scope="module")
def train():
    return simulate_recording(seed=1001, **SIM)[0]


@pytest.fixture(scope="module")
def test_pair():
    return simulate_recording(seed=1, **SIM)


@pytest.fixture(scope="module")
def codec200(train):
    return get_codec("spike-lfp", FAST).fit(train, Budget(ratio=200))


def test_registered_as_learned():
    assert "spike-lfp" in available_codecs() and codec_class("spike-lfp").learned
    assert "spike-lfp" not in default_codecs()  # it trains: bench runs it only when named


@pytest.mark.parametrize("frames", [7, 600, 30000])
def test_round_trip_shape_and_dtype(codec200, test_pair, frames):
    rec = test_pair[0].slice_time(0, frames)
    out = codec200.decode(codec200.encode(rec))
    assert isinstance(out, Recording)
    assert out.samples.shape == rec.samples.shape and out.samples.dtype == rec.samples.dtype
    assert out.sample_rate == rec.sample_rate


def test_float_round_trip(train):
    rec = Recording(train.samples.astype(np.float32) * 0.5, train.sample_rate)
    codec = get_codec("spike-lfp", FAST).fit(rec, Budget(ratio=50))
    out = codec.decode(codec.encode(rec))
    assert out.samples.dtype == np.float32 and np.isfinite(out.samples).all()


def test_decode_equals_own_reconstruction(codec200, test_pair):
    rec = test_pair[0]
    assert np.array_equal(
        codec200.decode(codec200.encode(rec)).samples, codec200.reconstruct(rec).samples
    )


def test_ratio_met_on_unseen_data(codec200, test_pair):
    _, stats = codec200.encode_with_stats(test_pair[0])
    assert 0.95 * 200 <= stats.ratio <= 1.05 * 200, stats.ratio
    # the estimated rate (−Σ log2 p) is reported beside the real one and close to the payload
    assert 0.8 * 8 * stats.payload_bytes <= stats.estimated_bits <= 8 * stats.payload_bytes


def test_fit_report_and_knobs(codec200):
    chosen = codec200.fit_report["chosen"]
    assert chosen["ratio"] >= 0.95 * 200
    assert codec200.config.codebook_size == chosen["codebook_size"]
    assert len(codec200.fit_report["candidates"]) == 2  # one LFP-mode, one residual-mode try


def test_size_falls_as_ratio_rises(train, test_pair):
    sizes = []
    for r in (20, 60, 200):
        codec = get_codec("spike-lfp", FAST).fit(train, Budget(ratio=r))
        sizes.append(len(codec.encode(test_pair[0])))
    assert all(b < a for a, b in itertools.pairwise(sizes)), sizes


def test_spikes_and_lfp_survive_200x(codec200, test_pair):
    rec, truth = test_pair
    out = codec200.decode(codec200.encode(rec))
    assert spike_f1(rec.samples, out.samples, rec.sample_rate) >= 0.9
    assert truth_f1(rec, out, truth) >= 0.85  # the simulator's own spikes, not the detector's
    assert lfp_sndr_db(rec.samples, out.samples, rec.sample_rate) >= 10.0


def test_save_load_decodes_the_same(codec200, test_pair, tmp_path):
    blob = codec200.encode(test_pair[0])
    codec200.save(tmp_path / "m")
    again = SpikeLfpCodec.load(tmp_path / "m")
    assert np.array_equal(again.decode(blob).samples, codec200.decode(blob).samples)
    assert again.encode(test_pair[0]) == blob


def test_generic_decode_asks_for_the_model(codec200, test_pair):
    with pytest.raises(BadInputError, match="--model"):
        decode(codec200.encode(test_pair[0].slice_time(0, 3000)))


def test_corrupt_and_truncated_streams(codec200, test_pair):
    blob = bytearray(codec200.encode(test_pair[0].slice_time(0, 9000)))
    for cut in (10, len(blob) // 2, len(blob) - 3):
        with pytest.raises(CorruptStreamError):
            codec200.decode(bytes(blob[:cut]))
    rng = np.random.default_rng(0)
    for pos in rng.integers(len(blob) - 200, len(blob) - 20, 5):
        bad = bytearray(blob)
        bad[pos] ^= 0x5A
        with pytest.raises(CorruptStreamError):
            codec200.decode(bytes(bad))


def test_bad_input(codec200, train):
    with pytest.raises(BadInputError):
        codec200.encode(FeatureTable(np.zeros((10, 3)), ["a", "b", "c"]))
    with pytest.raises(BadInputError, match="channels"):
        codec200.encode(Recording(train.samples[:2], train.sample_rate))
    with pytest.raises(BadInputError, match="Hz"):
        codec200.encode(Recording(train.samples, 20000.0))
    nan = train.samples.astype(np.float64)
    nan[0, 5] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        get_codec("spike-lfp").fit(Recording(nan, train.sample_rate))
    with pytest.raises(BadInputError, match="not fitted"):
        get_codec("spike-lfp").encode(train)
    with pytest.raises(BadInputError, match="lossy"):
        get_codec("spike-lfp").fit(train, Budget(lossless=True))
    with pytest.raises(BadInputError):
        get_codec("spike-lfp", wavelet="bior2.2")
    with pytest.raises(BadInputError):
        get_codec("spike-lfp", codebook_sizes=[])


def test_a_recording_without_spikes_still_fits_and_round_trips():
    """A silent probe (or LFP): the codebook is one impulse and the signal comes back."""
    silent = Recording(np.zeros((2, 3000), np.int16), 30000.0)
    codec = get_codec("spike-lfp").fit(silent)
    assert np.array_equal(codec.decode(codec.encode(silent)).samples, silent.samples)


def test_corrupt_payloads_fail_cleanly(codec200, test_pair):
    """Past the container's CRCs: damaged chunk payloads decode or raise CorruptStreamError."""
    blob = codec200.encode(test_pair[0].slice_time(0, 9000))
    ((frames, payload),) = list(iter_chunks(blob))
    rng = np.random.default_rng(5)
    for i in range(60):
        bad = bytearray(payload)
        for _ in range(int(rng.integers(1, 4))):
            bad[int(rng.integers(len(bad)))] ^= int(rng.integers(1, 256))
        if i % 3 == 0:
            bad = bad[: int(rng.integers(len(bad)))]
        try:
            out = codec200.decode_block(
                memoryview(bytes(bad)), BlockContext.of(4, frames, "int16", sample_rate=codec200.fs)
            )
        except CorruptStreamError:
            continue
        assert out.shape == (4, frames) and out.dtype == np.int16


def test_chunks_crowded_by_events_use_the_coarse_event_code(codec200, train, test_pair):
    rec = test_pair[0]
    blob, stats = codec200.encode_with_stats(rec)
    assert all(b["coarse_events"] for b in stats.blocks)  # 200x: events take most of it
    np.testing.assert_array_equal(codec200.decode(blob).samples, codec200.reconstruct(rec).samples)
    codec200._coarse = True  # the coarse code spends fewer bits per event on the same events
    coarse = codec200._code_events(codec200._event_symbols(*codec200._events(rec.samples * 1.0)))
    codec200._coarse = False
    fine = codec200._code_events(codec200._event_symbols(*codec200._events(rec.samples * 1.0)))
    assert len(coarse[0]) < 0.95 * len(fine[0])  # (FAST: 8 shapes, only the gains merge)
    codec20 = get_codec("spike-lfp", FAST).fit(train, Budget(ratio=20))
    assert not any(b["coarse_events"] for b in codec20.encode_with_stats(rec)[1].blocks)
