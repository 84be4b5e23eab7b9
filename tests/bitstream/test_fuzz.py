"""A few thousand structure-aware fuzz inputs over every codec: decoded or refused, never a
crash or a hang (``benchmarks/fuzz_decoders.py`` runs 100,000)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from ratecraft.bitstream.container import ContainerReader
from ratecraft.bitstream.fuzz import classify, mutate, split
from ratecraft.codecs import Codec, decode
from ratecraft.errors import CorruptStreamError

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


@pytest.fixture(scope="module")
def cases() -> list[tuple[str, bytes, Codec | None]]:
    out = []
    for folder in sorted(p for p in GOLDEN.iterdir() if p.is_dir()):
        manifest = json.loads((folder / "manifest.json").read_text())
        for name, case in sorted(manifest.items()):
            model = Codec.load(folder / case["model"]) if case["model"] else None
            out.append((f"{folder.name}/{name}", (folder / f"{name}.rcz").read_bytes(), model))
    return out


def test_split_and_assemble_give_back_the_same_container(cases):
    for name, blob, model in cases:
        again = split(blob).assemble()
        a, b = decode(blob, model), decode(again, model)
        x = a.samples if hasattr(a, "samples") else a.values
        y = b.samples if hasattr(b, "samples") else b.values
        assert np.array_equal(x, y, equal_nan=True), name


def test_mutations_reach_the_decoders(cases):
    """Most mutated files still parse as containers (checksums and index recomputed)."""
    rng = np.random.default_rng(1)
    parsed = 0
    for i in range(300):
        blob = mutate(cases[i % len(cases)][1], rng)
        try:
            _ = ContainerReader(blob).entries
            parsed += 1
        except CorruptStreamError:
            pass
    assert parsed > 100


def test_classify_names_each_outcome():
    assert classify(lambda b: None, b"")[0] == "decoded"
    assert classify(lambda b: decode(b), b"junk")[0] == "clean"

    def broken(b):
        raise TypeError("codec_params is not a mapping")

    assert classify(broken, b"") == ("crash", "TypeError: codec_params is not a mapping")

    def forever(b):
        while True:
            pass

    assert classify(forever, b"", timeout_s=0.2)[0] == "hang"


def test_no_decoder_crashes_or_hangs(cases, caplog):
    caplog.set_level(logging.ERROR)
    rng = np.random.default_rng(0)
    outcomes: dict[str, int] = {}
    bad = []
    for i in range(1500):
        name, blob, model = cases[i % len(cases)]
        outcome, detail = classify(lambda b, m=model: decode(b, m), mutate(blob, rng), 10.0)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if outcome in ("crash", "hang"):
            bad.append((i, name, detail))
    assert not bad, bad[:5]
    assert outcomes.get("decoded", 0) > 50 and outcomes.get("clean", 0) > 500
