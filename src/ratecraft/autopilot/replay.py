"""Strategy files: what an autopilot trial was, written so that one command replays it.

A codec strategy file (``best/<preset>/strategy.json``) names the codec, its budget and its
options; ``ratecraft encode INPUT --config strategy.json -o OUT.rcz`` reads it and runs exactly
what the autopilot ran to build ``stream.rcz`` (fit on the same excerpt, stream the whole
input), so the two containers are the same bytes. A shrink strategy is replayed through its
``recipe.json`` with ``ratecraft shrink``. The search's own ``{"method", "params"}`` form is
kept inside the file under ``autopilot`` for provenance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ratecraft.codecs.budget import Budget
from ratecraft.errors import BadInputError

__all__ = ["STRATEGY_KIND", "CodecPlan", "is_strategy", "read_codec_plan", "strategy_document"]

STRATEGY_KIND = "ratecraft-strategy"
_VERSION = 1
_KEYS = {"kind", "version", "codec", "budget", "options", "autopilot"}

CodecPlan = tuple[str, Budget, dict[str, Any]]


def is_strategy(doc: Mapping[str, Any]) -> bool:
    """Whether a mapping read from ``--config`` is a strategy file rather than codec options."""
    return doc.get("kind") == STRATEGY_KIND


def strategy_document(
    codec: str, budget: Budget, options: Mapping[str, Any], provenance: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON body of a codec strategy file."""
    return {
        "kind": STRATEGY_KIND,
        "version": _VERSION,
        "codec": codec,
        "budget": budget.model_dump(exclude_defaults=True),
        "options": dict(options),
        "autopilot": dict(provenance),
    }


def read_codec_plan(doc: Mapping[str, Any], where: str) -> CodecPlan:
    """``(codec, budget, options)`` of a strategy file, or a one-line error saying what is off."""
    unknown = set(doc) - _KEYS
    if unknown:
        raise BadInputError(f"{where}: unknown strategy keys {', '.join(sorted(unknown))}")
    if doc.get("version") != _VERSION:
        raise BadInputError(
            f"{where}: strategy version {doc.get('version')!r}; this ratecraft reads {_VERSION}"
        )
    codec, budget, options = doc.get("codec"), doc.get("budget"), doc.get("options", {})
    if not isinstance(codec, str) or not codec:
        raise BadInputError(f"{where}: the strategy names no codec")
    if not isinstance(budget, Mapping) or not isinstance(options, Mapping):
        raise BadInputError(f"{where}: 'budget' and 'options' must be mappings")
    try:
        parsed = Budget(**budget)
    except ValidationError as exc:
        msg = exc.errors()[0].get("msg")
        raise BadInputError(f"{where}: bad budget {dict(budget)!r} ({msg})") from None
    return codec, parsed, dict(options)
