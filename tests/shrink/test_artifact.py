"""Artifacts: lossless tensor packing, exact reloads, tied weights, and refusing bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from shrink_helpers import MLP, TX, make, outputs, roundtrip

from ratecraft.errors import BadInputError
from ratecraft.shrink import Recipe, build_model, load_artifact, save_artifact
from ratecraft.shrink.artifact import ARTIFACT_JSON, WEIGHTS
from ratecraft.shrink.tensorpack import MASK_SUFFIX, decode_tensor, encode_tensor


@pytest.mark.parametrize("seed", range(6))
def test_tensor_packing_round_trips(seed):
    g = torch.Generator().manual_seed(seed)
    lo = int(torch.randint(-8, 0, (1,), generator=g))
    span = [2, 4, 16, 200][seed % 4]
    cases = [
        torch.randint(lo, lo + span, (37, 5), generator=g).to(torch.int8),
        torch.randn(300, generator=g) * (torch.rand(300, generator=g) > 0.8),
        torch.randn(4, 4, generator=g).to(torch.bfloat16),
        torch.rand(70, generator=g) > 0.5,
        torch.zeros(0, 3),
        torch.tensor(3.5),
    ]
    for t in cases:
        stored, meta = encode_tensor("t", t)
        back = decode_tensor("t", stored, json.loads(json.dumps(meta)))
        assert back.dtype == t.dtype and back.shape == t.shape
        assert torch.equal(back, t)


def test_small_integers_are_packed_and_sparse_floats_masked():
    codes = torch.randint(-8, 8, (64, 64), dtype=torch.int8)
    stored, meta = encode_tensor("w", codes)
    assert meta["pack"]["bits"] == 4 and stored["w"].numel() == 64 * 64 // 2
    sparse = torch.randn(64, 64) * (torch.rand(64, 64) > 0.9)
    stored, meta = encode_tensor("s", sparse)
    assert meta["form"] == "sparse" and "s" + MASK_SUFFIX in stored


@pytest.mark.parametrize(
    "change",
    [{"count": 5}, {"shape": [10**12]}, {"dtype": "object"}, {"form": "zip"},
     {"pack": {"bits": 3, "offset": 0}}],
)  # fmt: skip
def test_tampered_tensor_descriptions_are_refused(change):
    t = torch.randint(-2, 2, (100,), dtype=torch.int8) * (torch.rand(100) > 0.5)
    stored, meta = encode_tensor("t", t)
    with pytest.raises(BadInputError):
        decode_tensor("t", stored, {**meta, **change})


def test_tied_weights_stay_tied(tmp_path, tx_calib):
    model = make(TX)
    model.head.weight = model.embed.weight  # tie, as language models do
    art = roundtrip(model, TX, tmp_path / "tied")
    assert art.model.head.weight is art.model.embed.weight
    assert torch.equal(outputs(tx_calib, art.model), outputs(tx_calib, model))


def test_recipe_and_info_are_recorded(tmp_path):
    recipe = Recipe.of("int8-weight")
    from ratecraft.shrink import get_step

    model = get_step("int8-weight")(make(MLP))
    art = roundtrip(model, MLP, tmp_path / "a", recipe=recipe, info={"note": "x"})
    assert art.recipe == recipe and art.recipe_hash == recipe.hash()
    assert art.info == {"note": "x"}


def test_no_pickle_anywhere(tmp_path):
    roundtrip(make(MLP), MLP, tmp_path / "a")
    raw = (tmp_path / "a" / WEIGHTS).read_bytes()
    assert b"\x80\x04" not in raw[:16]  # a pickle protocol header would start here
    assert json.loads((tmp_path / "a" / ARTIFACT_JSON).read_text())["format"] == "ratecraft-shrink"


def test_bad_folders_are_refused(tmp_path):
    with pytest.raises(BadInputError):
        load_artifact(tmp_path)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "keep.txt").write_text("mine")
    with pytest.raises(BadInputError, match="not a shrink artifact"):
        save_artifact(make(MLP), tmp_path / "junk", spec=MLP)
    assert (tmp_path / "junk" / "keep.txt").exists()
    roundtrip(make(MLP), MLP, tmp_path / "a")
    doc = json.loads((tmp_path / "a" / ARTIFACT_JSON).read_text())
    doc["spec"] = {"builder": "mlp", "sizes": [64, 10]}
    (tmp_path / "a" / ARTIFACT_JSON).write_text(json.dumps(doc))
    with pytest.raises(BadInputError):
        load_artifact(tmp_path / "a")
    (tmp_path / "a" / ARTIFACT_JSON).write_text("{not json")
    with pytest.raises(BadInputError, match="JSON"):
        load_artifact(tmp_path / "a")


def test_truncated_weights_are_refused(tmp_path):
    roundtrip(make(MLP), MLP, tmp_path / "a")
    path = tmp_path / "a" / WEIGHTS
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(BadInputError, match="cannot read weights"):
        load_artifact(tmp_path / "a")


def test_unknown_builder_is_refused():
    with pytest.raises(BadInputError, match="unknown model builder"):
        build_model({"builder": "resnet-9000"})
    with pytest.raises(BadInputError):
        build_model({"builder": "mlp", "sizes": [3]})


def test_overwriting_an_artifact_replaces_it(tmp_path):
    roundtrip(make(MLP), MLP, tmp_path / "a")
    spec = {"builder": "mlp", "sizes": [64, 8, 10]}
    art = roundtrip(build_model(spec), spec, tmp_path / "a")
    assert art.model[0].out_features == 8
    assert np.all([p.name != ".a" for p in tmp_path.iterdir()])


def test_bitsandbytes_layers_are_refused_with_one_line(tmp_path):
    pytest.importorskip("bitsandbytes", reason="bitsandbytes comes with the llm extra")
    from ratecraft.shrink import get_step

    try:
        model = get_step("bnb")(make(MLP), {"skip": []})
    except BadInputError as exc:  # its kernels may not run on this CPU
        pytest.skip(f"bitsandbytes does not run here: {exc}")
    with pytest.raises(BadInputError, match="bitsandbytes") as err:
        save_artifact(model, tmp_path / "a", spec=MLP)
    assert "\n" not in str(err.value) and not (tmp_path / "a").exists()
