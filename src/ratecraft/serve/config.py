"""The service's settings (``ratecraft serve`` options), validated, plus A/B splits and API keys.

The service listens on loopback only (127.0.0.1): it has no TLS and is meant to sit behind a
proxy that a site runs, so there is no option to bind another address.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ratecraft.errors import BadInputError
from ratecraft.registry.names import ModelRef, check_alias, parse_ref

__all__ = ["HOST", "ABSplit", "ApiKeys", "ServeConfig", "parse_ab"]

HOST = "127.0.0.1"


class ServeConfig(BaseModel):
    """Limits and wiring of one service process."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: int = Field(default=8765, ge=0, le=65535)
    registry: str | None = None  # folder or mlflow:URI; None: $RATECRAFT_REGISTRY / _HOME
    api_keys_file: Path | None = None
    max_body_bytes: int = Field(default=256 << 20, ge=1)
    request_timeout_s: float = Field(default=120.0, gt=0)
    max_concurrency: int = Field(default=4, ge=1, le=256)
    retry_after_s: int = Field(default=1, ge=1)
    quality_excerpt_s: float = Field(default=1.0, gt=0)
    ab: tuple[str, ...] = ()  # "N@alias:share"
    ab_seed: int = 0
    ab_flush_every: int = Field(default=50, ge=1)  # registry event every N A/B requests


@dataclass(frozen=True)
class ABSplit:
    """Route ``share`` of the requests for model ``name`` to ``name@candidate``."""

    name: str
    candidate: str
    share: float


def parse_ab(text: str) -> ABSplit:
    """``N@candidate:0.1`` → an :class:`ABSplit` (one-line error otherwise)."""
    ref_text, sep, share_text = text.rpartition(":")
    if not sep:
        raise BadInputError(f"--ab {text!r}: write NAME@ALIAS:SHARE (e.g. probe@candidate:0.1)")
    ref: ModelRef = parse_ref(ref_text)
    if ref.zoo or ref.alias is None:
        raise BadInputError(f"--ab {text!r}: the candidate is a registry alias (NAME@ALIAS)")
    try:
        share = float(share_text)
    except ValueError:
        raise BadInputError(f"--ab {text!r}: share {share_text!r} is not a number") from None
    if not 0.0 < share < 1.0:
        raise BadInputError(f"--ab {text!r}: share must be between 0 and 1")
    return ABSplit(ref.name, check_alias(ref.alias), share)


class ApiKeys:
    """API keys from a file: one per line, ``#`` comments and blank lines ignored.

    Keys are kept as SHA-256 digests and compared with :func:`hmac.compare_digest` against
    every key (no early exit), so neither a key's content nor its position leaks by timing.
    """

    def __init__(self, path: Path) -> None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise BadInputError(f"{path}: cannot read API keys ({exc.strerror})") from None
        keys = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        if not keys:
            raise BadInputError(f"{path}: no API keys in the file")
        if any(len(k) < 16 for k in keys):
            raise BadInputError(f"{path}: every API key needs at least 16 characters")
        self._digests = [hashlib.sha256(k.encode()).digest() for k in keys]

    def __len__(self) -> int:
        return len(self._digests)

    def accepts(self, key: str | None) -> bool:
        if not key:
            return False
        given = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
        ok = False
        for digest in self._digests:
            ok |= hmac.compare_digest(given, digest)
        return ok
