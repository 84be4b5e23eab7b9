"""Data and deliberately broken codecs shared by the bench tests."""

from __future__ import annotations

import numpy as np
import pytest

from ratecraft.codecs import base as codec_base
from ratecraft.codecs.base import BlockContext, BlockResult, Codec, CodecConfig
from ratecraft.data.synthetic import simulate_recording
from ratecraft.data.types import FeatureTable, Recording, as_block


@pytest.fixture(scope="session")
def recording() -> Recording:
    return simulate_recording(n_channels=3, duration_s=0.2, seed=3)[0]


@pytest.fixture(scope="session")
def nan_table() -> FeatureTable:
    values = np.random.default_rng(2).standard_normal((120, 6))
    values[::7, 2] = np.nan
    return FeatureTable(values=values, families=["a", "a", "b", "b", "b", "c"])


class _Raw(Codec):
    """Stores the raw bytes; subclasses damage the decoded block."""

    version = 1

    def encode_block(self, block: np.ndarray, ctx: BlockContext) -> BlockResult:
        return BlockResult(block.tobytes())

    def decode_block(self, payload, ctx: BlockContext) -> np.ndarray:
        out = np.frombuffer(bytes(payload), dtype=ctx.dtype).reshape(ctx.rows, ctx.frames)
        return self.damage(out.copy())

    def damage(self, block: np.ndarray) -> np.ndarray:
        return block


class OffByOne(_Raw):
    name = "test-off-by-one"

    def damage(self, block):
        block[0, 0] += 1
        return block


class TooLossy(_Raw):
    name = "test-too-lossy"
    supports_lossy = True

    def damage(self, block):
        block[0, :10] += 1000
        return block


class Unstable(_Raw):
    """Writes one more byte of padding on every call: the same input, different bytes."""

    name = "test-unstable"
    calls = 0

    def encode_block(self, block: np.ndarray, ctx: BlockContext) -> BlockResult:
        Unstable.calls += 1
        return BlockResult(block.tobytes() + b"\0" * Unstable.calls)

    def decode_block(self, payload, ctx: BlockContext) -> np.ndarray:
        n = ctx.rows * ctx.frames * np.dtype(ctx.dtype).itemsize
        return super().decode_block(memoryview(bytes(payload)[:n]), ctx)


class FitSpyConfig(CodecConfig):
    level: int = 0


class FitSpy(_Raw):
    """Remembers the shape of the data it was fitted on."""

    name = "test-fit-spy"
    supports_lossy = True
    config_cls = FitSpyConfig

    def fit(self, data, budget=None, **kw):
        self.fitted_on = list(as_block(data).shape)
        return super().fit(data, budget, **kw)


@pytest.fixture
def fake_codecs(monkeypatch):
    for cls in (OffByOne, TooLossy, Unstable, FitSpy):
        monkeypatch.setitem(codec_base.CODECS._loaded, cls.name, cls)
