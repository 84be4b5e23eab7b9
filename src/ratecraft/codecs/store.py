"""The one save/load of codecs: ``codec.json`` (+ ``weights.safetensors`` for trained ones).

``codec.json`` holds the store version, the codec's name, payload version and **config
version** (checked exactly: an older one is migrated by the codec's
:meth:`~ratecraft.codecs.base.Codec.migrate_config` or refused, a newer one refused), the config,
the budget it was fitted to, the JSON part of its trained state, the SHA-256 of the weights file
and the model's content hash (what containers name it by), and its fit report. Tensors are in
``weights.safetensors``; nothing is ever unpickled, and a weights file that does not match its
hash is refused. Both files are written through a temporary file and a rename (weights first,
so a ``codec.json`` never points at weights that are not there).

Model folders of ratecraft 0.1 (a ``codec.json`` without ``store_version``) are read through the
codec's :meth:`~ratecraft.codecs.base.Codec.migrate_legacy`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import ratecraft
from ratecraft.atomic import atomic_write
from ratecraft.codecs.budget import Budget
from ratecraft.codecs.registry import codec_class
from ratecraft.codecs.state import ModelState
from ratecraft.config import validated
from ratecraft.errors import BadInputError
from ratecraft.jsonsafe import json_safe

if TYPE_CHECKING:
    from ratecraft.codecs.base import Codec

__all__ = ["CODEC_JSON", "STORE_VERSION", "WEIGHTS", "load", "read_doc", "save"]

STORE_VERSION = 1
CODEC_JSON = "codec.json"
WEIGHTS = "weights.safetensors"
FORMAT = "ratecraft.codec"

PathLike = str | os.PathLike[str]


def _tensor_bytes(tensors: dict[str, Any]) -> bytes:
    """Safetensors bytes of NumPy arrays or torch tensors (contiguous, unshared copies)."""
    if all(isinstance(t, np.ndarray) for t in tensors.values()):
        from safetensors.numpy import save as save_np

        return save_np({k: np.ascontiguousarray(v) for k, v in tensors.items()})
    import torch
    from safetensors.torch import save as save_pt

    arrays = {
        k: (torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v)
        for k, v in tensors.items()
    }
    return save_pt({k: v.detach().cpu().contiguous().clone() for k, v in arrays.items()})


def read_tensors(path: Path, framework: str) -> dict[str, Any]:
    """Every tensor of a safetensors file, as NumPy arrays (``np``) or torch tensors (``pt``)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework=framework) as fh:
            return {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    except FileNotFoundError:
        raise BadInputError(f"{path}: no such file") from None
    except (SafetensorError, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInputError(f"{path}: not a readable safetensors file ({first})") from None


def save(codec: Codec, directory: PathLike) -> None:
    """Write ``codec`` (config, budget, trained state) into ``directory``."""
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise BadInputError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    state = codec.model_state()
    weights: dict[str, Any] | None = None
    if state is not None and state.tensors:
        blob = _tensor_bytes(state.tensors)
        atomic_write(out / WEIGHTS, blob)
        weights = {"file": WEIGHTS, "sha256": hashlib.sha256(blob).hexdigest()}
    elif (out / WEIGHTS).exists():
        (out / WEIGHTS).unlink()  # a stale file from an earlier save must not be picked up
    doc = {
        "format": FORMAT,
        "store_version": STORE_VERSION,
        "ratecraft_version": ratecraft.__version__,
        "codec": codec.name,
        "codec_version": codec.version,
        "config_version": codec.config_version,
        "config": codec.config.model_dump(mode="json"),
        "budget": codec.budget.model_dump(mode="json"),
        "state": None if state is None else state.doc,
        "legacy_stream_params": codec.legacy_stream_params,
        "weights": weights,
        "model_sha256": codec.model_sha256(),
        "fit_report": codec.fit_report,
    }
    text = json.dumps(json_safe(doc), indent=1, allow_nan=False)
    atomic_write(out / CODEC_JSON, text.encode("utf-8"))


def read_doc(directory: PathLike) -> dict[str, Any]:
    """The parsed ``codec.json`` of a model folder (one-line error if there is none)."""
    path = Path(directory) / CODEC_JSON
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInputError(f"{directory}: not a codec folder (no {CODEC_JSON})") from None
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{path}: cannot read codec description ({exc})") from None
    if not isinstance(doc, dict):
        raise BadInputError(f"{path}: codec description is not a JSON object")
    return doc


def load(directory: PathLike, expect: type[Codec] | None = None) -> Codec:
    """The codec saved in ``directory`` (``expect``: refuse a folder holding another class)."""
    folder = Path(directory)
    doc = read_doc(folder)
    name = doc.get("codec")
    if not isinstance(name, str):
        raise BadInputError(f"{folder}/{CODEC_JSON}: names no codec")
    cls = codec_class(name)
    if expect is not None and not issubclass(cls, expect):
        raise BadInputError(f"{folder}: holds codec {name!r}, not {expect.__name__}")
    if "store_version" not in doc:
        return _load_legacy(cls, doc, folder)
    version = doc.get("store_version")
    if not isinstance(version, int) or version > STORE_VERSION or version < 1:
        raise BadInputError(
            f"{folder}: codec folder store version {version!r} is not one this ratecraft reads "
            f"({STORE_VERSION}); upgrade ratecraft"
        )
    payload_version = doc.get("codec_version")
    if not isinstance(payload_version, int) or payload_version > cls.version:
        raise BadInputError(
            f"{folder}: {name} version {payload_version!r} is newer than this ratecraft "
            f"supports ({cls.version}); upgrade ratecraft"
        )
    cfg_version = doc.get("config_version")
    if not isinstance(cfg_version, int) or cfg_version > cls.config_version:
        raise BadInputError(
            f"{folder}: {name} config version {cfg_version!r} is newer than this ratecraft "
            f"reads ({cls.config_version}); upgrade ratecraft"
        )
    if cfg_version < cls.config_version:
        doc = cls.migrate_config(doc, cfg_version)
    codec = _configured(cls, doc, folder)
    state_doc = doc.get("state")
    if state_doc is not None:
        if not isinstance(state_doc, dict):
            raise BadInputError(f"{folder}/{CODEC_JSON}: state is not a JSON object")
        tensors = _weights(folder, doc.get("weights"), cls.tensor_framework)
        _restore(codec, ModelState(tensors, state_doc), folder)
    legacy = doc.get("legacy_stream_params")
    codec.legacy_stream_params = legacy if isinstance(legacy, dict) else None
    want = doc.get("model_sha256")
    if codec.model_sha256() != want:
        raise BadInputError(f"{folder}: the model does not match its content hash in {CODEC_JSON}")
    return codec


def _configured(cls: type[Codec], doc: dict[str, Any], folder: Path) -> Codec:
    config = doc.get("config", {})
    if not isinstance(config, dict):
        raise BadInputError(f"{folder}/{CODEC_JSON}: config is not a JSON object")
    codec = cls(config)
    budget = doc.get("budget")
    if budget:
        codec.budget = validated(Budget, budget, f"{folder}/{CODEC_JSON}: budget")
    report = doc.get("fit_report")
    codec.fit_report = dict(report) if isinstance(report, dict) else {}
    return codec


def _weights(folder: Path, spec: Any, framework: str) -> dict[str, Any]:
    if spec is None:
        return {}
    if not isinstance(spec, dict) or spec.get("file") != WEIGHTS:
        raise BadInputError(f"{folder}/{CODEC_JSON}: malformed weights entry")
    path = folder / WEIGHTS
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise BadInputError(f"{folder}: {WEIGHTS} is missing") from None
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror})") from None
    if hashlib.sha256(blob).hexdigest() != spec.get("sha256"):
        raise BadInputError(f"{folder}: {WEIGHTS} does not match its sha256 in {CODEC_JSON}")
    return read_tensors(path, framework)


def _restore(codec: Codec, state: ModelState, folder: Path) -> None:
    try:
        codec.load_model_state(state)
    except BadInputError as exc:
        text = str(exc)
        raise BadInputError(text if text.startswith(str(folder)) else f"{folder}: {text}") from None
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInputError(
            f"{folder}: trained state does not fit {codec.name} ({first})"
        ) from None


def _load_legacy(cls: type[Codec], doc: dict[str, Any], folder: Path) -> Codec:
    """A model folder written by ratecraft 0.1, migrated by its codec class."""
    version = doc.get("version", 1)
    if not isinstance(version, int) or version > cls.version:
        raise BadInputError(f"{folder}: {cls.name} version {version!r} is too new")
    codec = _configured(cls, doc, folder)
    try:
        state = cls.migrate_legacy(doc, folder)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInputError(f"{folder}: malformed ratecraft 0.1 codec folder ({exc})") from None
    if state is not None:
        legacy = state.doc.pop("legacy_stream_params", None)
        _restore(codec, state, folder)
        codec.legacy_stream_params = legacy
    return codec
