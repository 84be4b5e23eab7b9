"""Calibrated LLM steps on tiny Llama models: codes, tying, artifacts, install hints."""

from __future__ import annotations

import copy
import sys

import pytest
import torch

from ratecraft.errors import BadInputError, MissingExtraError
from ratecraft.shrink import Calibration, get_step, load_artifact, save_artifact
from ratecraft.shrink.measure import artifact_bytes

pytest.importorskip("transformers")
pytest.importorskip("torchao")

from ratecraft.shrink.lm import calibration_ids, codes_to_torchao, lm_spec, tiny_llama

IDS = torch.arange(32).reshape(2, 16) % 128


def _sqnr_db(ref: torch.Tensor, out: torch.Tensor) -> float:
    ref, out = ref.detach(), out.detach()
    return float(10 * torch.log10(ref.pow(2).mean() / (ref - out).pow(2).mean()))


@pytest.mark.parametrize("zero", ["int", "float", "none"])
def test_codes_to_torchao_reproduces_the_fake_quantized_weight(zero) -> None:
    g = torch.Generator().manual_seed(0)
    out_f, in_f, group, bits = 8, 64, 32, 4
    scale = torch.rand(out_f, in_f // group, generator=g) * 0.1 + 0.01
    rep = scale.repeat_interleave(group, 1)
    if zero == "none":
        q = torch.randint(-8, 8, (out_f, in_f), generator=g).float()
        zp = None
        w = q * rep
    else:
        zp = torch.rand(out_f, in_f // group, generator=g) * 13 + 1
        if zero == "int":
            zp = zp.round()
        # AutoRound: q = clamp(round(w/s) + zp, 0, 15), w_hat = s·(q − zp); unclamped values
        # are integer multiples of s even for a fractional zp
        zr = zp.repeat_interleave(group, 1)
        int_w = torch.randint(-8, 8, (out_f, in_f), generator=g).float()
        int_w = torch.maximum(torch.minimum(int_w, 15 - zr.ceil()), -zr.floor())
        w = int_w * rep
    t = codes_to_torchao(w, scale, zp, bits, group, torch.float32)
    assert int(t.qdata.min()) >= -8 and int(t.qdata.max()) <= 7
    assert t.zero_point.dtype == torch.int8
    torch.testing.assert_close(t.dequantize(), w, rtol=0, atol=1e-5)


def test_codes_out_of_range_are_refused() -> None:
    scale = torch.ones(2, 1)
    w = torch.full((2, 32), 40.0)
    with pytest.raises(BadInputError, match="range"):
        codes_to_torchao(w, scale, torch.zeros(2, 1), 4, 32, torch.float32)
    with pytest.raises(BadInputError):
        codes_to_torchao(w, torch.ones(2, 2), torch.zeros(2, 2), 4, 32, torch.float32)


def test_calibration_ids_cuts_rows_of_seqlen() -> None:
    calib = Calibration.from_tensors(torch.arange(200).reshape(4, 50), batch_size=2)
    rows = calibration_ids(calib, seqlen=30, nsamples=5)
    assert len(rows) == 5 and all(r.shape == (1, 30) for r in rows)
    assert torch.equal(rows[0][0], torch.arange(30))
    with pytest.raises(BadInputError, match="token"):
        calibration_ids(Calibration.from_tensors(torch.randn(4, 50)), 30, 2)
    with pytest.raises(BadInputError, match="fewer"):
        calibration_ids(calib, seqlen=500, nsamples=2)


@pytest.mark.parametrize("bits", [8, 4])
def test_embedding_quant_keeps_tying_shrinks_and_reloads(tmp_path, bits) -> None:
    model = tiny_llama(vocab_size=256, hidden_size=64, layers=1)
    ref = model(IDS).logits
    save_artifact(model, tmp_path / "float", spec=lm_spec(model))
    q = get_step("embedding-quant")(copy.deepcopy(model), {"bits": bits, "group_size": 32}, None)
    assert q.lm_head.weight is q.model.embed_tokens.weight
    out = q(IDS).logits
    assert _sqnr_db(ref, out) > (30 if bits == 8 else 10)
    save_artifact(q, tmp_path / "q", spec=lm_spec(model))
    assert artifact_bytes(tmp_path / "q") < artifact_bytes(tmp_path / "float")
    assert torch.equal(load_artifact(tmp_path / "q").model(IDS).logits, out)


def test_embedding_quant_refuses_a_bad_group() -> None:
    with pytest.raises(BadInputError, match="multiple"):
        get_step("embedding-quant")(tiny_llama(hidden_size=48, heads=4), {"group_size": 32}, None)


@pytest.mark.slow  # ~25 s on 2 shared cores; benchmarks/_shrink_lm.py runs autoround for real
def test_autoround_on_a_tiny_llama(tmp_path) -> None:
    pytest.importorskip("auto_round")
    model = tiny_llama(vocab_size=128, hidden_size=64, layers=1)
    ref = model(IDS).logits
    calib = Calibration.from_tensors(torch.randint(0, 128, (4, 32)), batch_size=2)
    cfg = {"iters": 1, "nsamples": 4, "seqlen": 32, "batch_size": 2, "zero_point": "float"}
    q = get_step("autoround")(copy.deepcopy(model), cfg, calib)
    w = q.model.layers[0].mlp.up_proj.weight
    assert type(w).__name__ == "IntxUnpackedToInt8Tensor" and w.zero_point.is_floating_point()
    assert q.lm_head.weight is q.model.embed_tokens.weight  # tying survives AutoRound
    out = q(IDS).logits
    assert _sqnr_db(ref, out) > 10
    save_artifact(q, tmp_path / "ar", spec=lm_spec(model))
    assert torch.equal(load_artifact(tmp_path / "ar").model(IDS).logits, out)


def test_autoround_needs_calibration_and_a_hf_model() -> None:
    pytest.importorskip("auto_round")
    with pytest.raises(BadInputError, match="calibration"):
        get_step("autoround")(tiny_llama(), {}, None)
    calib = Calibration.from_tensors(torch.randint(0, 10, (2, 16)))
    with pytest.raises(BadInputError, match="Hugging Face"):
        get_step("autoround")(torch.nn.Sequential(torch.nn.Linear(32, 32)), {}, calib)


def test_missing_auto_round_gives_the_install_hint(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "auto_round", None)
    calib = Calibration.from_tensors(torch.randint(0, 10, (2, 16)))
    with pytest.raises(MissingExtraError, match=r"ratecraft\[llm\]"):
        get_step("autoround")(tiny_llama(), {}, calib)


def test_missing_bitsandbytes_gives_the_install_hint(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)
    with pytest.raises(MissingExtraError, match=r"ratecraft\[llm\]"):
        get_step("bnb")(tiny_llama(), {}, None)


def test_bnb_int8_runs_on_cpu_when_installed() -> None:
    pytest.importorskip("bitsandbytes")
    model = tiny_llama(layers=1)
    ref = model(IDS).logits
    q = get_step("bnb")(copy.deepcopy(model), {"kind": "int8"}, None)
    assert q.model.layers[0].mlp.up_proj.weight.dtype == torch.int8
    assert _sqnr_db(ref, q(IDS).logits) > 20


def test_bad_config_is_one_line() -> None:
    with pytest.raises(BadInputError, match="bits"):
        get_step("autoround").parse({"bits": 1})
