"""An optional proposer that asks an OpenAI-compatible chat endpoint for the next strategy.

Off by default; nothing else depends on it. It POSTs to ``{base_url}/v1/chat/completions`` with
the standard library only (``urllib``), sends the search space, the objectives and the recent
history, and expects one JSON object ``{"method": ..., "params": {...}}`` back. The answer is
validated against the search space; an invalid or unusable answer is rejected (logged and
counted in ``rejected``) and the trial falls back to the TPE sampler, so a confused model can
never run a strategy outside the space.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from typing import Any

from ratecraft.autopilot.proposers import Context, LLMSettings, Proposer, TPEProposer
from ratecraft.autopilot.space import Strategy
from ratecraft.errors import BadInputError

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You tune a compression pipeline. Propose the next strategy to try. Answer with one JSON "
    'object {"method": NAME, "params": {...}} whose method and parameters lie inside the given '
    "search space (every parameter of the method and the shared ones, values within range). "
    "No prose."
)


def _brief(record: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    metrics = record.get("metrics") or {}
    return {
        "strategy": record.get("strategy"),
        "metrics": {k: metrics.get(k) for k in keys},
        "feasible": record.get("feasible"),
    }


def extract_json(text: str) -> Any:
    """The first JSON object in ``text`` (models often wrap it in prose or a code fence)."""
    fence = re.search(r"```(?:json)?\s*(\{.*?\})\s*```", text, re.S)
    candidate = fence.group(1) if fence else text
    start = candidate.find("{")
    if start < 0:
        raise BadInputError("the answer holds no JSON object")
    try:
        obj, _ = json.JSONDecoder().raw_decode(candidate[start:])
    except ValueError as exc:
        raise BadInputError(f"the answer is not valid JSON ({exc})") from None
    return obj


class LLMProposer(TPEProposer):
    """Chat-model proposals, validated against the space; TPE when the answer is rejected."""

    name = "llm"

    @classmethod
    def build(cls, seed: int, startup: int, llm: LLMSettings | None, **kw: Any) -> Proposer:
        if llm is None:
            raise BadInputError("the llm proposer needs --llm-url (an OpenAI-compatible server)")
        return cls(llm, seed=seed, startup=startup)

    def __init__(self, settings: LLMSettings, seed: int = 0, startup: int = 4) -> None:
        super().__init__(seed=seed, startup=startup)
        if not settings.base_url.startswith(("http://", "https://")):
            raise BadInputError(
                f"--llm-url must start with http:// or https://: {settings.base_url}"
            )
        self.settings = settings
        self.accepted = 0
        self.rejected: list[str] = []

    def _messages(self, ctx: Context, objectives: list[str]) -> list[dict[str, str]]:
        history = [_brief(r, objectives) for r in ctx.records[-self.settings.history :]]
        user = {
            "search_space": ctx.space.to_dict(),
            "objectives": objectives,
            "history": history,
            "pareto_front": [_brief(r, objectives) for r in ctx.front],
        }
        return [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": json.dumps(user, default=str)},
        ]

    def ask_model(self, messages: list[dict[str, str]]) -> str:
        """POST a chat completion and return the first choice's message content."""
        body = {"model": self.settings.model, "messages": messages, "temperature": 0.7}
        body.update(self.settings.extra)
        headers = {"Content-Type": "application/json"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        url = self.settings.base_url.rstrip("/") + "/v1/chat/completions"
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_s) as response:
                doc = json.loads(response.read().decode("utf-8", "replace"))
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise BadInputError(f"chat endpoint {url} failed: {exc}") from None
        except ValueError:
            raise BadInputError(f"chat endpoint {url} did not answer JSON") from None
        try:
            return str(doc["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError):
            raise BadInputError("chat answer has no choices[0].message.content") from None

    def propose(self, ctx: Context, objectives: list[str]) -> Strategy | None:
        """A validated strategy from the model, or None (the reason goes to ``rejected``)."""
        try:
            answer = self.ask_model(self._messages(ctx, objectives))
            strategy = ctx.space.validate(extract_json(answer))
        except BadInputError as exc:
            self.rejected.append(str(exc))
            log.warning("llm proposal rejected: %s", exc)
            return None
        self.accepted += 1
        return strategy

    def before_ask(self, study: Any, ctx: Context) -> str:
        objectives = [str(n) for n in study.user_attrs.get("objective_names", [])]
        strategy = self.propose(ctx, objectives)
        if strategy is None:
            return "sampler"
        study.enqueue_trial(ctx.space.to_optuna_params(strategy))
        return "llm"

    def state(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": len(self.rejected)}
