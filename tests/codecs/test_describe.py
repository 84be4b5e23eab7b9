"""What the codec listing says is what the codecs do; the options reference is in sync."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ratecraft.codecs import Budget, available_codecs, get_codec
from ratecraft.codecs.base import codec_class
from ratecraft.codecs.describe import describe_codec, describe_codecs, options_reference
from ratecraft.data.synthetic import simulate_recording
from ratecraft.data.types import FeatureTable
from ratecraft.errors import BadInputError

DOC = Path(__file__).resolve().parents[2] / "docs" / "options.md"
BUDGETS = {
    "lossless": Budget(lossless=True),
    "ratio": Budget(ratio=4),
    "max_error": Budget(max_error=2),
}


def test_options_reference_is_in_sync_with_the_configs():
    infos = describe_codecs()
    if any(i.missing for i in infos):
        pytest.skip("an optional codec is not installed; the reference lists every codec")
    assert DOC.read_text() == options_reference(), (
        "docs/options.md is stale: run `ratecraft codecs --markdown > docs/options.md`"
    )


def test_every_option_of_every_codec_has_help():
    for info in describe_codecs():
        missing = [o.name for o in info.options if not o.help]
        assert not missing, (info.name, missing)


@pytest.mark.parametrize("name", available_codecs())
def test_a_codec_refuses_every_budget_it_does_not_declare(name):
    cls = codec_class(name)
    rec, _ = simulate_recording(n_channels=2, duration_s=0.1, seed=0)
    table = FeatureTable(values=np.random.default_rng(0).integers(0, 9, (64, 4)).astype(float))
    data = rec if "recording" in cls.kinds else table
    for mode, budget in BUDGETS.items():
        if mode in cls.budgets:
            continue
        with pytest.raises(BadInputError):
            get_codec(name).fit(data, budget)


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in available_codecs()
        if not codec_class(n).learned and "recording" in codec_class(n).kinds
    ],
)
def test_a_classical_codec_meets_every_budget_it_declares(name):
    """(Table-only codecs: ``tests/codecs/test_columnar.py``.)"""
    rec, _ = simulate_recording(n_channels=2, duration_s=0.2, seed=1)
    for mode in codec_class(name).budgets:
        codec = get_codec(name).fit(rec, BUDGETS[mode])
        back = codec.decode(codec.encode(rec))
        if mode == "lossless":
            assert np.array_equal(back.samples, rec.samples), name
        elif mode == "max_error":
            assert np.abs(back.samples.astype(int) - rec.samples).max() <= 2, name


def test_lossy_means_a_lossy_budget():
    for name in available_codecs():
        cls = codec_class(name)
        assert cls.supports_lossy == any(b != "lossless" for b in cls.budgets), name
        assert describe_codec(name).mode in ("lossless", "lossy", "lossless or lossy")
