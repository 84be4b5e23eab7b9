"""Saving and loading trained recording codecs: ``weights.safetensors`` + ``codec.json``.

``codec.json`` holds everything besides the weights that decoding needs — config (with the
latent step rate control chose), per-channel normalization, channel layout, sample rate, the
integer entropy tables, the package version and the weights' SHA-256 — so loading never
unpickles anything and a tampered weights file is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

import ratecraft
from ratecraft.atomic import atomic_write
from ratecraft.codecs.base import codec_class
from ratecraft.codecs.budget import Budget
from ratecraft.codecs.learned.recording_codec import LearnedRecordingCodec
from ratecraft.errors import BadInputError
from ratecraft.train import checkpoint as ckpt

__all__ = ["load_codec", "save_codec"]


def save_codec(codec: LearnedRecordingCodec, directory: str | Path) -> None:
    """``weights.safetensors`` + ``codec.json`` (config, normalization, layout, tables)."""
    model = codec._need_model()
    assert codec.mean is not None and codec.std is not None
    meta = {
        "codec": codec.name,
        "version": codec.version,
        "package_version": ratecraft.__version__,
        "config": codec.config.model_dump(mode="json"),
        "budget": None if codec.budget.lossless else codec.budget.model_dump(mode="json"),
        "layout": codec.layout,
        "normalization": {"mean": codec.mean.tolist(), "std": codec.std.tolist()},
        "spike_sigma": None if codec.spike_sigma is None else codec.spike_sigma.tolist(),
        "entropy_tables": model.entropy.tables_doc,
        "weights_sha256": codec.weights_hash,
        "parameters": codec.parameter_count(),
        "fit_report": codec.fit_report,
        **codec._extra_meta(),
    }
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "weights.safetensors", ckpt.safetensors_bytes(model.state_dict()))
    atomic_write(out / "codec.json", json.dumps(meta, indent=1).encode())


def load_codec(cls: type[LearnedRecordingCodec], directory: str | Path) -> LearnedRecordingCodec:
    """Rebuild a trained codec from its saved directory (hashes checked, no pickle)."""
    path = Path(directory) / "codec.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{path}: cannot read codec description ({exc})") from None
    name = str(meta.get("codec")) if isinstance(meta, dict) else ""
    target = codec_class(name) if cls is LearnedRecordingCodec else cls
    if not issubclass(target, LearnedRecordingCodec) or target.name != name:
        raise BadInputError(f"{directory}: holds codec {name!r}, not {cls.__name__}")
    if int(meta.get("version", 0)) > target.version:
        raise BadInputError(f"{directory}: {name} version {meta['version']} is too new")
    try:
        codec = target(meta["config"])
        codec.layout = dict(meta["layout"])
        codec.mean = np.asarray(meta["normalization"]["mean"], dtype=np.float64)
        codec.std = np.asarray(meta["normalization"]["std"], dtype=np.float64)
        sigma = meta.get("spike_sigma")
        codec.spike_sigma = None if sigma is None else np.asarray(sigma, np.float64)
        n_channels = int(codec.layout["n_channels"])
        tables = meta["entropy_tables"]
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInputError(f"{path}: malformed codec description ({exc})") from None
    if len(codec.mean) != n_channels or len(codec.std) != n_channels:
        raise BadInputError(f"{path}: normalization does not match {n_channels} channels")
    if meta.get("budget"):
        codec.budget = Budget.model_validate(meta["budget"])
    codec.fit_report = dict(meta.get("fit_report", {}))
    torch.manual_seed(codec.config.seed)
    codec.model = codec._build_model(n_channels)
    weights = ckpt.read_safetensors(Path(directory) / "weights.safetensors")
    try:
        codec.model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise BadInputError(f"{directory}: weights do not fit the model ({first})") from None
    codec.model.eval()
    codec.weights_hash = ckpt.tensors_digest(codec.model.state_dict())
    if codec.weights_hash != meta.get("weights_sha256"):
        raise BadInputError(f"{directory}: weights.safetensors does not match codec.json")
    codec.model.entropy.load_tables(tables)
    if codec.model.entropy.step != codec.config.latent_step:
        raise BadInputError(f"{path}: entropy tables do not match the latent step")
    codec._load_extra(meta)
    return codec
