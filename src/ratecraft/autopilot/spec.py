"""Spec inference: what the target is, and from that a default space, evaluators and objectives.

From data (via :func:`ratecraft.data.io.read_data`): a recording's channels, rate, duration,
dtype, bit depth actually used and value alphabet (distinct values, the grid step of integer
data); a table's features and groups. From a PyTorch model: architecture family, parameter
count, layer types, dtype and memory. :func:`derive_defaults` turns a spec into the objectives,
constraints and evaluator keys a run starts from when the user gives none.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ratecraft.errors import BadInputError

_ALPHABET_SAMPLE = 1 << 20  # values looked at when counting the alphabet


@dataclass
class DataSpec:
    """What a data file holds, as far as choosing codecs goes."""

    kind: str
    shape: list[int]
    dtype: str
    raw_bytes: int
    channels: int | None = None
    sample_rate: float | None = None
    duration_s: float | None = None
    bit_depth: int | None = None  # bits spanned by the values actually present
    alphabet_size: int | None = None  # distinct values (in a sample of at most 1 Mi values)
    alphabet_bits: int | None = None  # bits needed to index the alphabet (< bit_depth: sparse)
    grid_step: float | None = None  # common step of integer values (sparse ADC grids)
    features: int | None = None
    groups: dict[str, int] | None = None
    nan_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ModelSpec:
    """What a PyTorch model is, as far as choosing shrink steps goes."""

    family: str
    parameters: int
    layer_types: dict[str, int]
    dtype: str
    memory_bytes: int
    linear_parameters: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _alphabet(array: np.ndarray) -> tuple[int | None, int | None, float | None]:
    flat = array.reshape(-1)
    finite = flat[np.isfinite(flat)] if flat.dtype.kind == "f" else flat
    if finite.size == 0:
        return None, None, None
    if finite.size > _ALPHABET_SAMPLE:
        idx = np.random.default_rng(0).choice(finite.size, _ALPHABET_SAMPLE, replace=False)
        finite = finite[idx]
    values = np.unique(finite).astype(np.int64 if flat.dtype.kind in "iu" else np.float64)
    step: float | None = None
    if values.size > 1:
        diffs = np.diff(values)
        if flat.dtype.kind in "iu" or np.all(np.mod(values, 1) == 0):
            step = float(np.gcd.reduce(diffs.astype(np.int64)))
    span = float(values[-1] - values[0])
    unit = step or 1.0
    bits = (
        max(1, math.ceil(math.log2(span / unit + 1))) if flat.dtype.kind in "iu" or step else None
    )
    return int(values.size), bits, step


def infer_data_spec(data: Any) -> DataSpec:
    """Describe a :class:`Recording` or :class:`FeatureTable`."""
    from ratecraft.data.io import describe
    from ratecraft.data.types import FeatureTable, Recording

    if not isinstance(data, Recording | FeatureTable):
        raise BadInputError(f"cannot infer a spec from {type(data).__name__}")
    d = describe(data)
    array = data.samples if isinstance(data, Recording) else data.values
    alphabet, bits, step = _alphabet(array)
    spec = DataSpec(
        kind=d["kind"],
        shape=d["shape"],
        dtype=d["dtype"],
        raw_bytes=d["raw_bytes"],
        alphabet_size=alphabet,
        bit_depth=bits,
        grid_step=step,
        alphabet_bits=max(1, math.ceil(math.log2(alphabet))) if alphabet else None,
        nan_count=d["nan_count"],
    )
    if isinstance(data, Recording):
        spec.channels, spec.sample_rate, spec.duration_s = (
            d["n_channels"],
            d["sample_rate"],
            d["duration_s"],
        )
    else:
        spec.features = d["n_features"]
        spec.groups = dict(Counter(data.families)) if data.families else {"all": data.n_features}
    return spec


def infer_file_spec(path: str | Path) -> tuple[DataSpec, Any]:
    """Read ``path`` with :func:`ratecraft.data.io.read_data`; return its spec and the data."""
    from ratecraft.data.io import read_data

    data = read_data(path)
    return infer_data_spec(data), data


def _family(types: Counter[str], module: Any) -> str:
    from torch import nn

    names = " ".join(types)
    attention = any(isinstance(m, nn.MultiheadAttention) for m in module.modules()) or (
        "Attention" in names or "Transformer" in names
    )
    if attention:
        return "transformer"
    if any(isinstance(m, nn.LSTM | nn.GRU | nn.RNN) for m in module.modules()):
        return "rnn"
    if any(isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d) for m in module.modules()):
        return "cnn"
    if any(isinstance(m, nn.Linear) for m in module.modules()):
        return "mlp"
    return "other"


def infer_model_spec(model: Any) -> ModelSpec:
    """Describe a ``torch.nn.Module``: family, parameter count, leaf layer types, dtype, bytes."""
    from torch import nn

    if not isinstance(model, nn.Module):
        raise BadInputError(f"expected a torch.nn.Module, got {type(model).__name__}")
    leaves = [m for m in model.modules() if not list(m.children()) or _is_fused(m)]
    types = Counter(type(m).__name__ for m in leaves)
    params = list(model.parameters())
    buffers = list(model.buffers())
    n_params = sum(p.numel() for p in params)
    memory = sum(p.numel() * p.element_size() for p in params + buffers)
    dtypes = Counter(str(p.dtype).replace("torch.", "") for p in params)
    linear = sum(
        m.weight.numel()
        for m in model.modules()
        if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d)
    )
    notes = []
    if n_params == 0:
        notes.append("the model has no parameters")
    if linear < 0.5 * n_params:
        notes.append("most parameters are outside Linear/Conv layers (embeddings, norms)")
    return ModelSpec(
        family=_family(types, model),
        parameters=int(n_params),
        layer_types=dict(types),
        dtype=dtypes.most_common(1)[0][0] if dtypes else "none",
        memory_bytes=int(memory),
        linear_parameters=int(linear),
        notes=notes,
    )


def _is_fused(module: Any) -> bool:
    from torch import nn

    return isinstance(module, nn.MultiheadAttention)


def derive_defaults(spec: DataSpec | ModelSpec) -> dict[str, Any]:
    """Objectives, constraints and evaluator keys that make sense for ``spec``."""
    if isinstance(spec, ModelSpec):
        return {
            "problem": "shrink",
            "objectives": ["accuracy:max", "size_bytes:min", "latency_ms:min"],
            "constraints": [],
            "evaluators": ["accuracy", "size_bytes", "latency_ms", "peak_memory_bytes"],
            "steps": _default_steps(spec),
        }
    if spec.kind == "recording":
        spikes = bool(spec.sample_rate and spec.sample_rate >= 12000)
        quality = "spike_f1" if spikes else "sndr_db"
        return {
            "problem": "codec",
            "objectives": [f"{quality}:max", "ratio:max"],
            "constraints": ["spike_f1>=0.9"] if spikes else ["sndr_db>=10"],
            "evaluators": ["spike_f1", "sndr_db", "spike_window_sndr_db", "ratio", "throughput"],
            "notes": [] if spikes else ["sample rate too low for the spike band: scoring SNDR"],
        }
    return {
        "problem": "table",
        "objectives": ["nmse:min", "ratio:max"],
        "constraints": ["nmse<=0.1"],
        "evaluators": ["nmse", "worst_group_nmse", "ratio"],
        "groups": spec.groups,
    }


def _default_steps(spec: ModelSpec) -> list[str]:
    steps = ["int8 weight quantization", "magnitude / structured pruning"]
    if spec.family == "transformer":
        steps += ["int4 weight-only quantization", "LoRA recovery after pruning"]
    if spec.family in ("cnn", "mlp"):
        steps += ["distillation into a narrower copy"]
    return steps
