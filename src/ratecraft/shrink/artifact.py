"""Save and load a shrunk model: ``model.safetensors`` + ``shrink.json``; nothing is unpickled.

``shrink.json`` holds the model spec (which builder makes the float skeleton, see
:mod:`ratecraft.shrink.models`), the recipe and its hash, the simple attributes of every module
(``in_features``, ``num_heads``… — what structured pruning changes), the child classes of every
``Sequential``/``ModuleList`` (what dropping layers changes), how each tensor is stored
(:mod:`ratecraft.shrink.tensorpack`: plain, bit-packed or bitmask-sparse), torchao's JSON
description of its quantized tensors and optimum-quanto's quantization map.

Loading builds the skeleton, drops the children the saved model no longer has, restores the
attributes, then puts every saved tensor in place with its saved shape: torchao tensors are
rebuilt by torchao's own allowlisted safetensors support (``torchao.prototype.safetensors``,
which only instantiates a fixed set of classes from JSON) and quanto modules by
``optimum.quanto.requantize``. The reloaded model computes exactly what the saved one did.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

import ratecraft
from ratecraft.errors import BadInputError, MissingExtraError
from ratecraft.shrink.models import build_model
from ratecraft.shrink.recipe import Recipe
from ratecraft.shrink.runtime import is_runtime, open_runtime
from ratecraft.shrink.tensorpack import MASK_SUFFIX, decode_tensor, encode_tensor

__all__ = [
    "ARTIFACT_JSON",
    "WEIGHTS",
    "Artifact",
    "is_artifact",
    "load_artifact",
    "payload_bytes",
    "save_artifact",
]

log = logging.getLogger(__name__)

ARTIFACT_JSON = "shrink.json"
WEIGHTS = "model.safetensors"
FORMAT = "ratecraft-shrink"
VERSION = 1
_MAX_JSON = 64 << 20
_SIMPLE = (bool, int, float, str)


@dataclass
class Artifact:
    """A loaded artifact: the model plus what ``shrink.json`` says about it."""

    model: nn.Module
    spec: dict[str, Any]
    recipe: Recipe | None
    recipe_hash: str | None
    info: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def is_artifact(directory: str | Path) -> bool:
    """Whether ``directory`` holds a saved shrink artifact."""
    return (Path(directory) / ARTIFACT_JSON).is_file()


def _is_subclass_tensor(t: torch.Tensor) -> bool:
    return type(t) not in (torch.Tensor, nn.Parameter)


def _quanto_map(model: nn.Module) -> dict[str, Any]:
    if not any(type(m).__module__.startswith("optimum.quanto") for m in model.modules()):
        return {}
    from optimum.quanto import quantization_map

    return quantization_map(model)


def _streamlined(model: nn.Module) -> list[str]:
    """quanto modules whose output quantization calibration switched off (not in state)."""
    out = []
    for name, m in model.named_modules():
        if getattr(m, "activation_qtype", None) is None:
            continue
        handle = getattr(m, "_quantize_hooks", {}).get("output")
        if handle is None or handle.id not in m._forward_hooks:
            out.append(name)
    return out


def _module_attrs(model: nn.Module) -> dict[str, dict[str, Any]]:
    """Simple public attributes per module (shapes, head counts) as JSON values."""
    out: dict[str, dict[str, Any]] = {}
    for name, module in model.named_modules():
        attrs: dict[str, Any] = {}
        for key, value in vars(module).items():
            if key.startswith("_") or key == "training":
                continue
            if isinstance(value, _SIMPLE):
                attrs[key] = value
            elif isinstance(value, tuple | list) and all(isinstance(v, int) for v in value):
                attrs[key] = list(value)
        if attrs:
            out[name] = attrs
    return out


def _kind(module: nn.Module) -> str:
    """Class name with quantized wrappers folded onto the float class (quanto's QLinear)."""
    name = type(module).__name__
    return name[1:] if name.startswith("Q") and name[1:2].isupper() else name


def _containers(model: nn.Module) -> dict[str, list[str]]:
    return {
        name: [_kind(child) for child in module]
        for name, module in model.named_modules()
        if isinstance(module, nn.Sequential | nn.ModuleList)
    }


def _reference(spec: dict[str, Any]) -> nn.Module | None:
    """The skeleton ``spec`` builds (on the meta device when the builder allows it).

    Only what differs from it is written to ``shrink.json``; any failure just means that
    everything is written.
    """
    for device in ("meta", "cpu"):
        try:
            with torch.device(device), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return build_model(spec)
        except Exception as exc:  # a builder may not support the meta device
            log.debug("reference skeleton on %s failed: %s", device, exc)
    return None


def _changed(now: dict[str, Any], ref: dict[str, Any] | None) -> dict[str, Any]:
    if ref is None:
        return now
    return {k: v for k, v in now.items() if ref.get(k) != v}


def _aliases(model: nn.Module) -> dict[str, str]:
    """``alias name -> first name`` for tensors shared between modules (tied weights)."""
    first: dict[int, str] = {}
    aliases: dict[str, str] = {}
    named = list(model.named_parameters(remove_duplicate=False))
    named += list(model.named_buffers(remove_duplicate=False))
    for name, tensor in named:
        key = id(tensor)
        if key in first:
            aliases[name] = first[key]
        else:
            first[key] = name
    return aliases


def save_artifact(
    model: nn.Module,
    directory: str | Path,
    *,
    spec: dict[str, Any],
    recipe: Recipe | None = None,
    info: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` to ``directory`` all or nothing (a temp folder renamed into place)."""
    target = Path(directory)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise BadInputError(f"{target}: folder {parent} does not exist")
    if target.exists() and (
        not target.is_dir() or (any(target.iterdir()) and not is_artifact(target))
    ):
        raise BadInputError(f"{target}: exists and is not a shrink artifact; choose another")
    if is_runtime(model):
        return _save_runtime(model, target, parent, spec=spec, recipe=recipe, info=info)
    _refuse_unsavable(model)
    ref = _reference(spec)
    aliases = _aliases(model)
    state = {k: v for k, v in model.state_dict().items() if k not in aliases}
    quanto_map = _quanto_map(model)
    plain, torchao_meta = _flatten(state)
    stored: dict[str, torch.Tensor] = {}
    encodings: dict[str, Any] = {}
    for name, tensor in plain.items():
        parts, meta = encode_tensor(name, tensor)
        stored.update(parts)
        if meta["form"] != "plain":  # plain tensors are described by safetensors itself
            encodings[name] = meta
    doc = {
        **_header(spec, recipe, info),
        "tensors": encodings,
        "aliases": aliases,
        "torchao": {k: json.loads(v) for k, v in torchao_meta.items()},
        "quanto": quanto_map,
        "quanto_streamlined": _streamlined(model),
        "modules": _changed(_module_attrs(model), None if ref is None else _module_attrs(ref)),
        "containers": _changed(_containers(model), None if ref is None else _containers(ref)),
    }
    return _commit(target, parent, doc, lambda staged: (staged / WEIGHTS).write_bytes(save(stored)))


def _flatten(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Plain tensors of ``state``: torchao tensors split into their parts (codes, scales, zero
    points) with the metadata that rebuilds them."""
    subclass = {k: v for k, v in state.items() if _is_subclass_tensor(v)}
    plain = {k: v for k, v in state.items() if k not in subclass}
    if not subclass:
        return plain, {}
    try:
        from torchao.prototype.safetensors.safetensors_support import flatten_tensor_state_dict
    except ImportError:
        raise MissingExtraError("torchao", "shrink") from None
    try:
        data, torchao_meta = flatten_tensor_state_dict(subclass)
    except ValueError as exc:
        raise BadInputError(f"cannot save quantized tensors: {exc}") from None
    plain.update(data)
    return plain, torchao_meta


def payload_bytes(state: dict[str, torch.Tensor]) -> int:
    """Bytes the tensors of ``state`` take in an artifact's weights file, each in the stored
    form :func:`save_artifact` gives it (without the file's headers): a search can add up its
    layers' sizes this way without writing a file per trial."""
    plain, _ = _flatten(state)
    total = 0
    for name, tensor in plain.items():
        parts, _meta = encode_tensor(name, tensor)
        total += sum(t.numel() * t.element_size() for t in parts.values())
    return total


def _header(spec: dict[str, Any], recipe: Recipe | None, info: dict[str, Any] | None) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "package_version": ratecraft.__version__,
        "spec": spec,
        "recipe": None if recipe is None else recipe.to_dict(),
        "recipe_hash": None if recipe is None else recipe.hash(),
        "info": info or {},
    }


def _commit(target: Path, parent: Path, doc: dict[str, Any], write: Any) -> Path:
    """Stage the folder (``write(staged)`` plus ``shrink.json``), then rename it into place."""
    staged = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    try:
        write(staged)
        (staged / ARTIFACT_JSON).write_text(json.dumps(doc, separators=(",", ":"), allow_nan=False))
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    finally:
        if staged.exists():
            shutil.rmtree(staged)
    return target


def _save_runtime(
    model: nn.Module,
    target: Path,
    parent: Path,
    *,
    spec: dict[str, Any],
    recipe: Recipe | None,
    info: dict[str, Any] | None,
) -> Path:
    """An artifact whose model is a runtime file (GGUF, ONNX): that file plus ``shrink.json``."""
    doc = {**_header(spec, recipe, info), "tensors": {}, "aliases": {}, "modules": {}}
    runtime: dict[str, Any] = {}
    return _commit(target, parent, {**doc, "runtime": runtime},
                   lambda staged: runtime.update(model.save_into(staged)))  # fmt: skip


def _refuse_unsavable(model: nn.Module) -> None:
    """One line for models whose quantized layers have no safe on-disk form here."""
    for name, module in model.named_modules():
        if type(module).__module__.startswith("bitsandbytes"):
            raise BadInputError(
                f"cannot save {name or 'the model'}: bitsandbytes {type(module).__name__} "
                "layers have no pickle-free form here; use int8-weight / int4-weight / "
                "autoround (saved as torchao codes) or a gguf step instead"
            )


def _read_doc(directory: Path) -> dict[str, Any]:
    path = directory / ARTIFACT_JSON
    try:
        if path.stat().st_size > _MAX_JSON:
            raise BadInputError(f"{path}: artifact description is implausibly large")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInputError(f"{directory}: not a shrink artifact ({exc.strerror})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BadInputError(f"{path}: not a ratecraft shrink artifact")
    if not isinstance(doc.get("version"), int) or doc["version"] > VERSION:
        raise BadInputError(f"{path}: artifact version {doc.get('version')} is not supported")
    for key, kind in (("tensors", dict), ("aliases", dict), ("modules", dict), ("spec", dict)):
        if not isinstance(doc.get(key), kind):
            raise BadInputError(f"{path}: '{key}' is missing or malformed")
    return doc


def _match_containers(model: nn.Module, saved: dict[str, Any]) -> None:
    """Drop skeleton children so every Sequential/ModuleList has the saved child classes."""
    if not isinstance(saved, dict):
        raise BadInputError("artifact 'containers' is malformed")
    for name in sorted(saved, key=lambda n: -n.count(".")):
        want = saved[name]
        try:
            module = model.get_submodule(name) if name else model
        except AttributeError:
            continue
        if not isinstance(module, nn.Sequential | nn.ModuleList) or not isinstance(want, list):
            continue
        have = [_kind(c) for c in module]
        if len(have) == len(want):
            continue
        keep, j = [], 0
        for i, cls in enumerate(have):
            if j < len(want) and cls == want[j]:
                keep.append(i)
                j += 1
        if j != len(want):
            raise BadInputError(f"artifact layer list {name or 'model'} does not fit the skeleton")
        for i in sorted(set(range(len(have))) - set(keep), reverse=True):
            del module[i]


def _restore_attrs(model: nn.Module, saved: dict[str, Any]) -> None:
    """Set the saved simple attributes that the skeleton's modules already have."""
    modules = dict(model.named_modules())
    for name, attrs in saved.items():
        module = modules.get(name)
        if module is None or not isinstance(attrs, dict):
            continue
        for key, value in attrs.items():
            if not hasattr(module, key) or key.startswith("_"):
                continue
            current = getattr(module, key)
            if isinstance(current, tuple) and isinstance(value, list):
                value = tuple(value)
            if type(current) is type(value) or (
                isinstance(current, float) and isinstance(value, int)
            ):
                setattr(module, key, value)


def _place(model: nn.Module, name: str, tensor: torch.Tensor) -> None:
    prefix, _, leaf = name.rpartition(".")
    try:
        module = model.get_submodule(prefix) if prefix else model
    except AttributeError:
        raise BadInputError(f"artifact tensor {name} has no module in the model") from None
    if leaf in module._parameters:
        if not isinstance(tensor, nn.Parameter):  # a tied alias is the same Parameter object
            grad = tensor.is_floating_point() and not _is_subclass_tensor(tensor)
            tensor = nn.Parameter(tensor, requires_grad=grad)
        module._parameters[leaf] = tensor
    elif leaf in module._buffers:
        module._buffers[leaf] = tensor
    else:
        raise BadInputError(f"artifact tensor {name} has no place in the model")


def load_artifact(directory: str | Path) -> Artifact:
    """Rebuild the shrunk model saved by :func:`save_artifact` (eval mode)."""
    path = Path(directory)
    doc = _read_doc(path)
    recipe = Recipe.from_dict(doc["recipe"]) if doc.get("recipe") else None
    if doc.get("runtime"):
        return Artifact(
            model=open_runtime(path, doc["runtime"]).eval(),
            spec=doc["spec"],
            recipe=recipe,
            recipe_hash=doc.get("recipe_hash"),
            info=doc.get("info") or {},
            path=path,
        )
    try:
        stored = load_file(path / WEIGHTS)
    except (OSError, SafetensorError) as exc:
        raise BadInputError(f"{path / WEIGHTS}: cannot read weights ({exc})") from None
    plain = {name: decode_tensor(name, stored, meta) for name, meta in doc["tensors"].items()}
    for name, tensor in stored.items():
        if name not in plain and not name.endswith(MASK_SUFFIX):
            plain[name] = tensor
    model = build_model(doc["spec"])
    _match_containers(model, doc.get("containers", {}))
    _restore_attrs(model, doc["modules"])
    torchao_doc = doc.get("torchao") or {}
    if not isinstance(torchao_doc, dict):
        raise BadInputError(f"{path}: 'torchao' is malformed")
    torchao_meta = {k: json.dumps(v) for k, v in torchao_doc.items()}
    if torchao_meta:
        try:
            from torchao.prototype.safetensors.safetensors_support import (
                unflatten_tensor_state_dict,
            )
        except ImportError:
            raise MissingExtraError("torchao", "shrink") from None
        try:
            rebuilt, plain = unflatten_tensor_state_dict(plain, torchao_meta)
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInputError(f"{path}: bad quantized-tensor description ({exc})") from None
        plain.update(rebuilt)
    quanto_map = doc.get("quanto") or {}
    if quanto_map:
        _requantize(model, plain, quanto_map)
        modules = dict(model.named_modules())
        for name in doc.get("quanto_streamlined") or []:
            if hasattr(modules.get(name), "disable_output_quantization"):
                modules[name].disable_output_quantization()
    else:
        for name, tensor in plain.items():
            _place(model, name, tensor)
    for alias, source in doc["aliases"].items():
        _place(model, alias, _lookup(model, source))
    missing = set(model.state_dict()) - set(plain) - set(doc["aliases"])
    if missing:
        raise BadInputError(f"{path}: weights missing for {sorted(missing)[:3]}")
    return Artifact(
        model=model.eval(),
        spec=doc["spec"],
        recipe=recipe,
        recipe_hash=doc.get("recipe_hash"),
        info=doc.get("info") or {},
        path=path,
    )


def _lookup(model: nn.Module, name: str) -> torch.Tensor:
    prefix, _, leaf = name.rpartition(".")
    module = model.get_submodule(prefix) if prefix else model
    found = module._parameters.get(leaf)
    if found is None:
        found = module._buffers.get(leaf)
    if found is None:
        raise BadInputError(f"artifact alias target {name} does not exist")
    return found


def _requantize(model: nn.Module, state: dict[str, torch.Tensor], qmap: dict[str, Any]) -> None:
    try:
        from optimum.quanto import requantize
    except ImportError:
        raise MissingExtraError("optimum-quanto", "shrink") from None
    modules = dict(model.named_modules())
    for name, tensor in state.items():  # float tensors first, so shapes follow the artifact
        prefix, _, leaf = name.rpartition(".")
        owner = modules.get(prefix)
        if owner is not None and (leaf in owner._parameters or leaf in owner._buffers):
            _place(model, name, tensor)
    for name in qmap:  # weights to be quantized take the shape their module's attributes give
        module = modules.get(name)
        if isinstance(module, nn.Linear):
            shape: tuple[int, ...] = (module.out_features, module.in_features)
        elif isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d):
            shape = (module.out_channels, module.in_channels // module.groups, *module.kernel_size)
        else:
            continue
        module.weight = nn.Parameter(torch.zeros(shape), requires_grad=False)
    try:
        requantize(model, state, qmap)
    except (RuntimeError, KeyError, ValueError) as exc:
        raise BadInputError(f"quantized weights do not fit the model ({exc})") from None
