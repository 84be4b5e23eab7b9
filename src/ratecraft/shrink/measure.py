"""Measure a shrunk model for real: bytes on disk, parameters, bits/weight, latency, peak RSS.

Every figure comes from the saved artifact or a timed run of the loaded model:

- :func:`artifact_bytes` — bytes of every file in the artifact folder (weights + JSON);
- :func:`parameter_count` — logical weights (a quantized tensor counts its elements, a pruned
  zero still counts; structured pruning really lowers it), :func:`sparsity` — zero fraction
  of the weight matrices, :func:`bits_per_weight` — 8 × weights-file bytes / parameters;
- :func:`measure_latency` — p50/p95/mean milliseconds per batch after warm-up, with the number
  of threads fixed for the run and recorded;
- :func:`peak_memory` — peak RSS of a fresh subprocess that loads the artifact and runs it
  (``python -m ratecraft.shrink.measure``), beside the RSS it had before loading;
- :func:`count_macs` — multiply-accumulates of one forward pass (dense, and counting only
  non-zero weights), from the shapes the layers really see.

The memory pre-flight of a step before it runs is :mod:`ratecraft.shrink.preflight`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ratecraft.errors import BadInputError
from ratecraft.shrink.steps import Batch, _call

__all__ = [
    "artifact_bytes",
    "bits_per_weight",
    "count_macs",
    "measure_latency",
    "parameter_count",
    "peak_memory",
    "percentiles_ms",
    "sparsity",
]


def artifact_bytes(directory: str | Path) -> int:
    """Total bytes of the files in an artifact folder (what a user would copy)."""
    path = Path(directory)
    if not path.is_dir():
        raise BadInputError(f"{path}: not an artifact folder")
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def parameter_count(model: nn.Module) -> int:
    """Logical elements of all parameters (shared tensors once; quantized ones by shape).

    A model held by another runtime (:mod:`ratecraft.shrink.runtime`) reports the weights of
    its file.
    """
    from ratecraft.shrink.runtime import is_runtime

    if is_runtime(model):
        return int(model.logical_parameters())
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += int(np.prod(p.shape)) if p.dim() else 1
    return total


def _weights(model: nn.Module) -> list[torch.Tensor]:
    return [
        m.weight.detach()
        for m in model.modules()
        if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d) and isinstance(m.weight, torch.Tensor)
    ]


def sparsity(model: nn.Module) -> float:
    """Fraction of exact zeros in the Linear/Conv weights (quantized ones dequantized)."""
    zeros = total = 0
    for w in _weights(model):
        dense = w.dequantize() if type(w) is not torch.Tensor and hasattr(w, "dequantize") else w
        zeros += int((dense == 0).sum())
        total += dense.numel()
    return zeros / total if total else 0.0


def bits_per_weight(directory: str | Path, model: nn.Module) -> float:
    """8 × bytes of the weights file (``model.safetensors`` or the runtime file) / parameters."""
    from ratecraft.shrink.artifact import WEIGHTS
    from ratecraft.shrink.runtime import is_runtime

    n = parameter_count(model)
    name = f"model{model.suffix}" if is_runtime(model) else WEIGHTS
    return 8.0 * (Path(directory) / name).stat().st_size / max(n, 1)


def measure_latency(
    model: nn.Module,
    batch: Batch,
    *,
    forward: Any = None,
    warmup: int = 5,
    repeats: int = 30,
    threads: int = 1,
) -> dict[str, float]:
    """Milliseconds per batch (p50, p95, mean) after ``warmup`` runs, on ``threads`` threads."""
    if warmup < 0 or repeats < 1 or threads < 1:
        raise BadInputError("latency needs warmup ≥ 0, repeats ≥ 1 and threads ≥ 1")
    run = forward or _call
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    times = []
    try:
        model.eval()
        with torch.inference_mode():
            for _ in range(warmup):
                run(model, batch)
            for _ in range(repeats):
                t0 = time.perf_counter()
                run(model, batch)
                times.append((time.perf_counter() - t0) * 1e3)
    finally:
        torch.set_num_threads(previous)
    return {
        **percentiles_ms(times, "latency_{}_ms"),
        "threads": float(threads),
        "repeats": float(repeats),
    }


def percentiles_ms(times_ms: list[float], key: str) -> dict[str, float]:
    """p50, p95, mean and min of timings in ms, named ``key.format(stat)``."""
    arr = np.asarray(times_ms, dtype=np.float64)
    stats = {
        "p50": np.percentile(arr, 50),
        "p95": np.percentile(arr, 95),
        "mean": arr.mean(),
        "min": arr.min(),
    }
    return {key.format(name): float(value) for name, value in stats.items()}


def _layer_macs(module: nn.Module, args: tuple[Any, ...], out: Any) -> int:
    """Dense multiply-accumulates of one call of a Conv / Linear / LSTM / GRU layer."""
    y = out[0] if isinstance(out, tuple) else out
    if isinstance(module, nn.Linear):
        return int(y.numel() * module.in_features)
    if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d):
        k = int(np.prod(module.kernel_size))
        return int(y.numel() * (module.in_channels // module.groups) * k)
    if isinstance(module, nn.ConvTranspose1d | nn.ConvTranspose2d):
        x = args[0]
        k = int(np.prod(module.kernel_size))
        return int(x.numel() * (module.out_channels // module.groups) * k)
    if isinstance(module, nn.LSTM | nn.GRU):
        gates = 4 if isinstance(module, nn.LSTM) else 3
        x = args[0]
        steps = x.numel() // x.shape[-1]  # batch × time
        dirs = 2 if module.bidirectional else 1
        total, width = 0, module.input_size
        for _ in range(module.num_layers):
            total += dirs * gates * (width + module.hidden_size) * module.hidden_size * steps
            width = module.hidden_size * dirs
        return int(total)
    return 0


def count_macs(model: nn.Module, example: Batch) -> dict[str, int]:
    """Multiply-accumulates of ``model`` on ``example``: ``macs`` (dense) and ``nonzero_macs``
    (each layer's count scaled by the fraction of its weights that are not zero — what a
    sparse kernel would do after pruning)."""
    dense: list[int] = []
    nonzero: list[float] = []

    def hook(module: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        n = _layer_macs(module, args, out)
        weights = [p.detach() for k, p in module.named_parameters() if "weight" in k]
        weights = [w.dequantize() if type(w) is not torch.Tensor else w for w in weights]
        total = sum(w.numel() for w in weights)
        kept = sum(int((w != 0).sum()) for w in weights)
        dense.append(n)
        nonzero.append(n * kept / max(total, 1))

    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d,
             nn.ConvTranspose2d, nn.LSTM, nn.GRU)  # fmt: skip
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    try:
        with torch.inference_mode():
            _call(model.eval(), example)
    finally:
        for h in handles:
            h.remove()
    return {"macs": int(sum(dense)), "nonzero_macs": round(sum(nonzero))}


def _rss() -> int:
    """Current resident set size in bytes (psutil, else Linux's /proc/self/statm)."""
    try:
        import psutil
    except ImportError:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    return int(psutil.Process().memory_info().rss)


def _save_batch(batch: Batch, path: Path) -> None:
    if isinstance(batch, torch.Tensor):
        np.savez(path, x=batch.numpy())
    elif isinstance(batch, dict):
        np.savez(path, **{f"kw_{k}": v.numpy() for k, v in batch.items()})
    else:
        raise BadInputError("peak memory needs a tensor or a dict of tensors as input")


def _load_batch(path: Path) -> Batch:
    with np.load(path, allow_pickle=False) as z:
        if "x" in z.files:
            return torch.from_numpy(z["x"])
        return {k[3:]: torch.from_numpy(z[k]) for k in z.files if k.startswith("kw_")}


def peak_memory(
    directory: str | Path, batch: Batch, *, repeats: int = 3, threads: int = 1, timeout: float = 600
) -> dict[str, int]:
    """Peak RSS of a fresh process loading the artifact and running ``batch`` through it.

    Returns ``peak_rss_bytes`` (the process high-water mark), ``baseline_rss_bytes`` (after
    importing torch, ratecraft and the quantization libraries, before loading) and their
    difference ``model_rss_bytes`` (the model and its inference).
    """
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "batch.npz"
        _save_batch(batch, inp)
        cmd = [
            sys.executable, "-m", "ratecraft.shrink.measure", str(directory), str(inp),
            "--repeats", str(repeats), "--threads", str(threads),
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BadInputError(f"peak-memory run failed: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _warm_imports(directory: Path) -> None:
    """Import the libraries loading this artifact will import (they belong to the baseline)."""
    import importlib

    from ratecraft.shrink.artifact import ARTIFACT_JSON

    try:
        doc = json.loads((directory / ARTIFACT_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # the loader will report the problem
    if not isinstance(doc, dict):
        return
    modules = []
    if doc.get("torchao"):
        modules.append("torchao.prototype.safetensors.safetensors_support")
    if doc.get("quanto"):
        modules.append("optimum.quanto")
    for module in modules:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    if doc.get("recipe"):
        from ratecraft.shrink.steps import available_steps

        available_steps()  # imports every step module, as loading the artifact will
    from ratecraft.shrink.models import build_model

    # the builder's own imports (a codec, transformers) happen here; on the meta device the
    # skeleton allocates nothing, and a builder that cannot run there has imported by then
    with contextlib.suppress(Exception), torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_model(doc.get("spec") or {})


def _child(argv: list[str]) -> None:
    import resource

    parser = argparse.ArgumentParser(prog="ratecraft.shrink.measure")
    parser.add_argument("artifact")
    parser.add_argument("batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from ratecraft.shrink.artifact import load_artifact

    batch = _load_batch(Path(args.batch))
    _warm_imports(
        Path(args.artifact)
    )  # libraries the loader may import count in the baseline, not the model
    baseline = _rss()
    model = load_artifact(args.artifact).model
    with torch.inference_mode():
        for _ in range(max(1, args.repeats)):
            _call(model, batch)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    doc = {"peak_rss_bytes": peak, "baseline_rss_bytes": baseline}
    doc["model_rss_bytes"] = max(0, peak - baseline)
    sys.stdout.write(json.dumps(doc) + "\n")


if __name__ == "__main__":
    _child(sys.argv[1:])
