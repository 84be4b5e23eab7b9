"""Golden files: every container format version ever released keeps decoding, bit for bit.

``tests/golden/v1`` holds files of format 1 written by ratecraft 0.1 (with the model folders
of that version for trained codecs); ``tests/golden/v2`` files of today's format 2, written by
``tests/golden/make_golden.py``; ``tests/golden/<codec>-v<N>`` a codec's newer payload version
inside today's container. Each must decode to the array its manifest names.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ratecraft.bitstream.container import ContainerReader
from ratecraft.codecs import Codec, decode
from ratecraft.data.types import Recording
from ratecraft.errors import BadInputError

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _cases(version: str) -> list[tuple[str, dict]]:
    manifest = json.loads((GOLDEN / version / "manifest.json").read_text())
    return sorted(manifest.items())


def _expected(folder: Path, ref: str) -> np.ndarray:
    file, _, key = ref.partition(":")
    with np.load(folder / file) as z:
        return z[key]


def _array(data) -> np.ndarray:
    return data.samples if isinstance(data, Recording) else data.values


def _same(out: np.ndarray, want: np.ndarray, learned: bool) -> bool:
    """Bit-exact for classical codecs; a trained network's float math (torch and BLAS builds
    differ between installs) is held to 1e-3 of the data's range, which is far below any
    codec's distortion and far above rounding noise."""
    if not learned:
        return bool(np.array_equal(out, want, equal_nan=True))
    if not np.array_equal(np.isnan(out), np.isnan(want)):
        return False
    scale = float(np.nanmax(np.abs(want))) if np.isfinite(want).any() else 1.0
    return bool(np.allclose(out, want, rtol=0.0, atol=1e-3 * scale, equal_nan=True))


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_golden_files_decode(version: str) -> None:
    folder = GOLDEN / version
    assert len(_cases(version)) >= 17  # one file per registered codec, at least
    for name, case in _cases(version):
        path = folder / f"{name}.rcz"
        with ContainerReader(path) as reader:
            assert reader.version == int(version[1:]), name
        model = folder / case["model"] if case["model"] else None
        out = _array(decode(path, model))
        want = _expected(folder, case["expected"])
        assert out.dtype == want.dtype and out.shape == want.shape, name
        assert _same(out, want, bool(case["model"])), name


@pytest.mark.parametrize("folder", ["predictive-v2", "predictive-v3", "quant-v3", "spike-lfp-v2"])
def test_codec_payload_versions_decode(folder: str) -> None:
    """A codec's newer payload version inside today's container (``<codec>-v<N>``); trained
    codecs' files name their model folder."""
    path = GOLDEN / folder
    codec, _, version = folder.rpartition("-v")
    for name, case in _cases(folder):
        with ContainerReader(path / f"{name}.rcz") as reader:
            assert reader.header.codec == codec and reader.header.codec_version == int(version)
        model = path / case["model"] if case.get("model") else None
        out = _array(decode(path / f"{name}.rcz", model))
        want = _expected(path, case["expected"])
        assert out.dtype == want.dtype and np.array_equal(out, want), name


def test_v1_trained_files_refuse_without_their_model() -> None:
    folder = GOLDEN / "v1"
    for name, case in _cases("v1"):
        if case["model"]:
            with pytest.raises(BadInputError, match="trained model"):
                decode(folder / f"{name}.rcz")


def test_v1_models_load_and_keep_encoding(tmp_path: Path) -> None:
    """A ratecraft 0.1 model folder loads (migrated), re-saves in today's store, and a model
    that was re-saved still decodes the files the old one wrote."""
    folder = GOLDEN / "v1"
    for name, case in _cases("v1"):
        if not case["model"]:
            continue
        codec = Codec.load(folder / case["model"])
        codec.save(tmp_path / name)
        again = Codec.load(tmp_path / name)
        assert again.model_sha256() == codec.model_sha256()
        out = _array(decode(folder / f"{name}.rcz", again))
        assert _same(out, _expected(folder, case["expected"]), learned=True), name
