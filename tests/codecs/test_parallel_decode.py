"""Decoding chunks on several threads (codecs with ``parallel_decode``): the same blocks in the
same order as one thread, a bounded number in flight, and a corrupt chunk still refused."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ratecraft.bitstream.container import ContainerReader
from ratecraft.codecs import Budget, get_codec
from ratecraft.codecs.base import decode_blocks
from ratecraft.codecs.threads import ordered_map
from ratecraft.data.synthetic import simulate_recording
from ratecraft.errors import CorruptStreamError


@pytest.fixture(scope="module")
def long_recording():
    rec, _ = simulate_recording(n_channels=128, duration_s=1.5, seed=5)
    return rec  # 128 ch → 16,384-frame chunks: three chunks


@pytest.mark.parametrize(
    "name, budget", [("predictive", Budget(lossless=True)), ("quant", Budget(ratio=8))]
)
def test_threads_give_the_same_blocks_in_order(long_recording, name, budget):
    codec = get_codec(name).fit(long_recording, budget)
    assert type(codec).parallel_decode
    blob = codec.encode(long_recording)
    reader = ContainerReader(blob)
    assert len(reader.entries) >= 3
    for start, stop in ((None, None), (10_000, 40_000)):
        one = list(decode_blocks(reader, codec, start=start, stop=stop, workers=1))
        two = list(decode_blocks(reader, codec, start=start, stop=stop, workers=3))
        assert [f for f, _ in one] == [f for f, _ in two]
        for (_, a), (_, b) in zip(one, two, strict=True):
            np.testing.assert_array_equal(a, b)


def test_at_most_workers_plus_one_items_are_in_flight():
    started, taken, peak = [], [], [0]
    lock = threading.Lock()

    def work(i):
        with lock:
            started.append(i)
            peak[0] = max(peak[0], len(started) - len(taken))
        return i

    for value in ordered_map(work, range(50), 2):
        taken.append(value)
    assert taken == list(range(50)) and peak[0] <= 3


def test_a_corrupt_chunk_is_refused_on_the_threaded_path(long_recording):
    codec = get_codec("predictive").fit(long_recording, Budget(lossless=True))
    blob = bytearray(codec.encode(long_recording))
    reader = ContainerReader(bytes(blob))
    entry = reader.entries[1]
    blob[entry.offset + 40] ^= 0xFF  # inside chunk 1's payload: its checksum no longer holds
    with pytest.raises(CorruptStreamError):
        list(decode_blocks(ContainerReader(bytes(blob)), codec, workers=2))
