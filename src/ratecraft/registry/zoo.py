"""The model zoo shipped with ratecraft: codecs pre-trained on the project's own simulators.

Each zoo model is a codec folder (``codec.json`` + ``weights.safetensors``, the one codec store)
plus ``card.json`` under ``ratecraft/registry/zoo/<name>/`` in the installed package: nothing is
downloaded at run time. ``benchmarks/zoo.py`` trains them again and rewrites these folders and
their cards. Zoo models are named ``zoo:<name>`` wherever a model reference is taken, and a
container written by one finds it by its content hash.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from ratecraft.codecs.base import Codec
from ratecraft.codecs.store import CODEC_JSON
from ratecraft.errors import BadInputError
from ratecraft.registry.names import check_name

__all__ = ["ZOO_DIR", "find_zoo_model", "load_zoo", "zoo_card", "zoo_folder", "zoo_models"]

ZOO_DIR = Path(__file__).with_name("zoo")
CARD_JSON = "card.json"


def zoo_models() -> list[str]:
    """Names of the shipped zoo models."""
    if not ZOO_DIR.is_dir():
        return []
    return sorted(p.name for p in ZOO_DIR.iterdir() if (p / CODEC_JSON).is_file())


def zoo_folder(name: str) -> Path:
    check_name(name)
    folder = ZOO_DIR / name
    if not (folder / CODEC_JSON).is_file():
        known = ", ".join(zoo_models()) or "none"
        raise BadInputError(f"no zoo model {name!r}; the zoo has: {known}")
    return folder


def zoo_card(name: str) -> dict[str, Any]:
    path = zoo_folder(name) / CARD_JSON
    if not path.is_file():
        return {}
    doc = json.loads(path.read_text(encoding="utf-8"))
    return doc if isinstance(doc, dict) else {}


def load_zoo(name: str) -> Codec:
    return Codec.load(zoo_folder(name))


@cache
def _hashes() -> dict[str, str]:
    out = {}
    for name in zoo_models():
        doc = json.loads((ZOO_DIR / name / CODEC_JSON).read_text(encoding="utf-8"))
        sha = doc.get("model_sha256")
        if isinstance(sha, str):
            out[sha] = name
    return out


def find_zoo_model(model_sha256: str) -> str | None:
    """The zoo model whose content hash is ``model_sha256`` (None: not in the zoo)."""
    return _hashes().get(model_sha256)
