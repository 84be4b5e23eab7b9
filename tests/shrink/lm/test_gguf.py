"""GGUF export, llama.cpp's quantizer and runtime, on tiny Llama models (no download)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("gguf", reason="GGUF export needs the gguf extra (make install)")
pytest.importorskip("llama_cpp", reason="llama.cpp needs the gguf extra (make install)")

import gguf

from ratecraft.errors import BadInputError
from ratecraft.shrink import Calibration, Recipe, load_artifact, run_recipe, save_artifact
from ratecraft.shrink.lm import lm_spec, tiny_llama
from ratecraft.shrink.lm.gguf_file import pack_blocks, write_gguf
from ratecraft.shrink.lm.gguf_runtime import LlamaCppLM
from ratecraft.shrink.lm.llamacpp import importance_matrix, quantize_gguf

IDS = (torch.arange(40) * 7 % 128).reshape(1, 40)


def sqnr_db(ref: torch.Tensor, test: torch.Tensor) -> float:
    noise = (ref - test).pow(2).mean()
    return float(10 * torch.log10(ref.pow(2).mean() / noise.clamp_min(1e-20)))


@pytest.fixture
def model():
    return tiny_llama(hidden_size=64, heads=4, kv_heads=2, layers=2, intermediate_size=128)


def torch_logits(m: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return m(IDS).logits[0].float()


def tensor_types(path) -> dict[str, str]:
    return {t.name: t.tensor_type.name for t in gguf.GGUFReader(path).tensors}


def test_f16_file_loads_in_llama_cpp_and_computes_what_torch_does(model, tmp_path):
    path = write_gguf(model, tmp_path / "m.gguf")
    types = tensor_types(path)
    assert types["blk.0.attn_q.weight"] == "F16" and types["blk.0.attn_norm.weight"] == "F32"
    assert "output.weight" not in types  # tied head: llama.cpp reuses token_embd
    runtime = LlamaCppLM(path, n_ctx=64, threads=1)
    out = runtime(IDS).logits[0]
    assert out.shape == (40, 128)
    assert sqnr_db(torch_logits(model), out) > 40  # q/k rows permuted right, GQA included
    runtime.close()


def test_kv_cache_handle_continues_the_sequence(model, tmp_path):
    runtime = LlamaCppLM(write_gguf(model, tmp_path / "m.gguf"), n_ctx=64, threads=1)
    full = runtime(IDS).logits[0]
    head = runtime(IDS[:, :30])
    tail = runtime(IDS[:, 30:], use_cache=True, cache=head.cache).logits[0]
    assert torch.allclose(tail, full[30:], atol=1e-3)
    with pytest.raises(BadInputError, match="cache handle"):
        runtime(IDS[:, :2], use_cache=True, cache=head.cache)
    runtime.close()


def test_llama_cpp_quantizer_with_and_without_importance_matrix(model, tmp_path):
    f16 = write_gguf(model, tmp_path / "m.gguf")
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2)
    batches = [torch.randint(0, 128, (2, 32), generator=torch.Generator().manual_seed(i))
               for i in range(3)]  # fmt: skip
    imatrix = importance_matrix(model, batches, names=names)
    assert "blk.0.ffn_down.weight" in imatrix and imatrix["blk.0.ffn_down.weight"].shape == (128,)
    assert "token_embd.weight" in imatrix  # the tied output head, as llama.cpp sees it
    assert all((v > 0).all() for v in imatrix.values())
    ref = torch_logits(model)
    for weights in (None, imatrix):
        out = quantize_gguf(f16, tmp_path / "q8.gguf", "Q8_0", imatrix=weights, threads=1)
        assert tensor_types(out)["blk.1.ffn_up.weight"] == "Q8_0"
        runtime = LlamaCppLM(out, n_ctx=64, threads=1)
        assert sqnr_db(ref, runtime(IDS).logits[0]) > 25
        runtime.close()
    with pytest.raises(BadInputError, match="unknown GGUF type"):
        quantize_gguf(f16, tmp_path / "x.gguf", "Q3_X")


def test_quantized_codes_go_into_gguf_in_their_own_grid(model, tmp_path):
    q = run_recipe(copy.deepcopy(model), Recipe.of("int4-weight"))
    path = write_gguf(q, tmp_path / "q4.gguf")
    reader = gguf.GGUFReader(path)
    tensors = {t.name: t for t in reader.tensors}
    down = tensors["blk.0.ffn_down.weight"]
    assert down.tensor_type.name == "Q4_0"
    back = gguf.quants.dequantize(down.data, down.tensor_type)
    want = q.model.layers[0].mlp.down_proj.weight.dequantize().float().numpy()
    assert np.allclose(back, want, rtol=1e-3, atol=1e-6)  # only the f16 block scale rounds
    runtime = LlamaCppLM(path, n_ctx=64, threads=1)
    assert sqnr_db(torch_logits(q), runtime(IDS).logits[0]) > 30
    runtime.close()


def test_q4_1_blocks_hold_scale_and_minimum():
    g = np.random.default_rng(0)
    codes = g.integers(0, 16, (3, 64))
    d = g.uniform(0.01, 0.1, (3, 2)).astype(np.float32)
    m = g.uniform(-1, 0, (3, 2)).astype(np.float32)
    raw = pack_blocks("Q4_1", codes, d, m)
    assert raw.shape == (3, 2 * 20)
    back = gguf.quants.dequantize(raw, gguf.GGMLQuantizationType.Q4_1)
    want = codes * np.repeat(d.astype(np.float16), 32, 1) + np.repeat(m.astype(np.float16), 32, 1)
    assert np.allclose(back, want, atol=1e-6)
    with pytest.raises(BadInputError, match=r"0\.\.15"):
        pack_blocks("Q4_0", codes + 1, d)


def test_gguf_step_artifact_reloads_in_llama_cpp(model, tmp_path):
    calib = Calibration(inputs=[torch.randint(0, 128, (2, 32))])
    recipe = Recipe.of(("gguf", {"type": "Q8_0", "imatrix": True, "threads": 1, "n_ctx": 64}))
    shrunk = run_recipe(copy.deepcopy(model), recipe, calib)
    save_artifact(shrunk, tmp_path / "art", spec=lm_spec(model), recipe=recipe)
    assert (tmp_path / "art" / "model.gguf").is_file()
    art = load_artifact(tmp_path / "art")
    assert art.recipe_hash == recipe.hash()
    assert isinstance(art.model, LlamaCppLM)
    assert torch.allclose(art.model(IDS).logits, shrunk(IDS).logits)
    from ratecraft.shrink.measure import parameter_count

    assert parameter_count(art.model) == sum(p.numel() for p in model.parameters())
    art.model.close()
    shrunk.close()


def test_gguf_refuses_to_round_a_grid_twice(model):
    q = run_recipe(copy.deepcopy(model), Recipe.of("int4-weight"))
    with pytest.raises(BadInputError, match="already quantized as Q4_0"):
        run_recipe(q, Recipe.of(("gguf", {"type": "Q4_K_M"})))


def test_only_llama_models_are_exported(tmp_path):
    with pytest.raises(BadInputError, match="GGUF export supports"):
        write_gguf(torch.nn.Linear(2, 2), tmp_path / "x.gguf")
