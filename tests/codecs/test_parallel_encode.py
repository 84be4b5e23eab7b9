"""Encoding chunks on several threads (codecs with ``parallel_encode``): the same container
byte for byte as one thread, one thread whenever a running rate control makes chunks depend on
each other, parallel kernels serial inside a worker, and bad input still refused."""

from __future__ import annotations

import io

import numpy as np
import pytest

from ratecraft.codecs import Budget, get_codec
from ratecraft.codecs.base import BlockContext, BlockResult
from ratecraft.codecs.classical.lpc import _solve_small
from ratecraft.codecs.threads import in_chunk_worker, ordered_map
from ratecraft.data.synthetic import simulate_recording
from ratecraft.data.types import Recording
from ratecraft.errors import BadInputError


@pytest.fixture(scope="module")
def long_recording() -> Recording:
    rec, _ = simulate_recording(n_channels=128, duration_s=1.5, seed=7)
    return rec  # 128 ch → 16,384-frame chunks: three chunks


def _container(codec, data, workers: int) -> bytes:
    buf = io.BytesIO()
    codec.encode_to(data, buf, workers=workers)
    return buf.getvalue()


@pytest.mark.parametrize(
    "name, config, budget",
    [
        ("predictive", {"level": "fast"}, Budget(lossless=True)),
        ("predictive", {"level": "max"}, Budget(lossless=True)),
        ("quant", {}, Budget(ratio=8)),
        ("quant", {}, Budget(max_error=3)),
    ],
)
def test_threads_write_the_same_container(long_recording, name, config, budget):
    codec = get_codec(name, config).fit(long_recording, budget)
    assert type(codec).parallel_encode
    one = _container(codec, long_recording, 1)
    assert one == _container(codec, long_recording, 3)
    np.testing.assert_array_equal(
        get_codec(name).decode(one).samples if budget.lossless else codec.decode(one).samples,
        codec.decode(_container(codec, long_recording, 2)).samples,
    )


def test_a_running_rate_control_keeps_one_thread(long_recording, monkeypatch):
    """quant fitted to a ratio on an excerpt adjusts its step chunk by chunk: each chunk needs
    the bytes of the ones before, so the encode must not run them at once."""
    short = Recording(long_recording.samples[:, :16_384], long_recording.sample_rate)
    codec = get_codec("quant").fit(short, Budget(ratio=8))
    seen: list[int] = []
    encode_block = codec.encode_block

    def spy(block: np.ndarray, ctx: BlockContext) -> BlockResult:
        assert not in_chunk_worker()
        seen.append(ctx.index)
        return encode_block(block, ctx)

    monkeypatch.setattr(codec, "encode_block", spy)
    _, stats = codec.encode_with_stats(long_recording)
    assert seen == [0, 1, 2]
    assert [("step" in b) for b in stats.blocks] == [True] * 3  # the control set each chunk


def test_workers_know_they_are_workers():
    assert not in_chunk_worker()
    assert all(ordered_map(lambda _: in_chunk_worker(), range(6), 2))
    assert not in_chunk_worker()


def test_bad_input_in_a_later_chunk_is_still_refused(long_recording):
    x = long_recording.samples.astype(np.float64)
    x[3, 40_000] = np.nan
    codec = get_codec("predictive")
    with pytest.raises(BadInputError):
        _container(codec, Recording(x, long_recording.sample_rate), 2)


def test_small_solver_matches_lapack_and_flags_singular_systems():
    rng = np.random.default_rng(11)
    for k in (1, 2, 5, 18):
        z = rng.normal(size=(4 * k, k))
        a = z.T @ z + 1e-6 * np.eye(k)
        b = rng.normal(size=k)
        np.testing.assert_allclose(
            _solve_small(a.copy(), b.copy()), np.linalg.solve(a, b), rtol=1e-8, atol=1e-10
        )
    assert np.isnan(_solve_small(np.zeros((3, 3)), np.ones(3))).all()
