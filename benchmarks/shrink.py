"""Shrink benchmark: strategies → size on disk, bits/weight, latency, peak memory, quality.

Models: (a) a small CNN trained here on scikit-learn's digits (8x8 images; 60/20/20 split,
stratified, seed 0; quality = test accuracy); (b) the encoder of a trained table codec,
``adaptive-bottleneck`` fitted with ``Budget(ratio=8)`` on a ``simulate_table`` table (seed 1;
quality = reconstruction SNR in dB of a held-out table, seed 2, with the shrunk encoder plugged
into the codec; the decoder stays fp32). More codecs plug in through ``CODECS``; (c) with
``--lm``, the rows of ``benchmarks/_shrink_lm.py:run(args)`` when that file exists.

Every figure is measured on the artifact written to disk and loaded back: bytes of the
artifact folder (``model.safetensors`` + ``shrink.json``), ratio to the fp32 artifact, bits per
weight, parameters, sparsity, latency p50/p95 per batch (after warm-up, ``--threads`` torch
threads, recorded), peak RSS of a fresh process that loads the artifact and runs a batch
(``ratecraft.shrink.measure.peak_memory``: high-water mark and its rise over the process
before loading), quality and its delta to fp32. For the digits CNN, fp32 and the int8
strategies are also timed under ``torch.compile`` (inductor) to answer whether any int8 path is
no slower than fp32 on this CPU.

Run: ``.venv/bin/python benchmarks/shrink.py [--quick] [--lm]``; writes
``benchmarks/results/shrink.json``.
"""

from __future__ import annotations

import sys

from _pinning import pin_threads

CORES, AFFINITY = pin_threads(sys.argv[1:])

import argparse  # noqa: E402
import copy  # noqa: E402
import datetime as dt  # noqa: E402
import importlib.util  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import ratecraft  # noqa: E402
from ratecraft.bench import write_json  # noqa: E402
from ratecraft.codecs import Budget, available_codecs, get_codec  # noqa: E402
from ratecraft.errors import RatecraftError  # noqa: E402
from ratecraft.evaluate.classification import ClassificationEvaluator  # noqa: E402
from ratecraft.shrink import (  # noqa: E402  # noqa: E402
    Calibration,
    Recipe,
    build_model,
    load_artifact,
    run_recipe,
    save_artifact,
)
from ratecraft.shrink.measure import (  # noqa: E402
    artifact_bytes,
    bits_per_weight,
    count_macs,
    measure_latency,
    parameter_count,
    peak_memory,
    sparsity,
)
from ratecraft.shrink.models import codec_encoder_of  # noqa: E402
from ratecraft.shrink.runtime import is_runtime  # noqa: E402
from ratecraft.shrink.steps import frozen_copy  # noqa: E402

log = logging.getLogger("benchmarks.shrink")
LOAD = os.getloadavg()

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
LM_HOOK = Path(__file__).resolve().parent / "_shrink_lm.py"
CNN_SPEC = {"builder": "cnn", "in_channels": 1, "image_size": 8, "channels": [32, 64],
            "hidden": 128, "classes": 10}  # fmt: skip
# targets of issue 5
DIGITS_MAX_DROP = 0.01  # 50% structured pruning + distillation within 1 point of fp32
CODEC_MIN_RATIO, CODEC_MAX_SNR_LOSS = 3.5, 0.3  # int8 codec encoder
# issue 13: an int8 variant >= 1.2x faster than fp32 PyTorch eager at equal quality
ORT_MIN_SPEEDUP, ORT_MAX_ACC_DROP, ORT_MAX_DB_LOSS = 1.2, 0.005, 0.5


@dataclass
class Model:
    """One model to shrink: how to get it, calibrate it, time it and score it."""

    name: str
    spec: dict[str, Any]
    model: nn.Module
    calib: Calibration
    batch: torch.Tensor  # latency / peak-memory batch
    quality: Callable[[nn.Module], float]
    quality_name: str
    strategies: list[tuple[str, Recipe]]
    compile_strategies: tuple[str, ...] = ()


def ort_step(args: argparse.Namespace, quantize: str) -> tuple[str, dict[str, Any]]:
    """An ``onnxrt`` step on the benchmark's thread count (ONNX Runtime fixes it per session)."""
    return ("onnxrt", {"quantize": quantize, "threads": args.threads or args.cores})


def ort(args: argparse.Namespace, quantize: str) -> Recipe:
    return Recipe.of(ort_step(args, quantize))


ORT_LABELS = ("onnxrt fp32", "onnxrt int8 dynamic", "onnxrt int8 static")


def ort_strategies(args: argparse.Namespace) -> list[tuple[str, Recipe]]:
    return [
        (label, ort(args, q))
        for label, q in zip(ORT_LABELS, ("none", "dynamic", "static"), strict=True)
    ]


# ---- (a) digits CNN ---------------------------------------------------------------------------


def _digits(seed: int = 0) -> tuple[torch.Tensor, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    x_tr, x_rest, y_tr, y_rest = train_test_split(
        x, y, test_size=0.4, stratify=y, random_state=seed
    )
    x_va, x_te, y_va, y_te = train_test_split(
        x_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=seed
    )
    return tuple(torch.from_numpy(a) for a in (x_tr, y_tr, x_va, y_va, x_te, y_te))


def _train_cnn(x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = build_model(CNN_SPEC)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x), generator=g).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        sched.step()
    return model.eval()


def digits_model(args: argparse.Namespace) -> Model:
    x_tr, y_tr, x_va, y_va, x_te, y_te = _digits()
    model = _train_cnn(x_tr, y_tr, epochs=8 if args.quick else 30)
    val = ClassificationEvaluator(x_va, y_va).evaluate(model)["accuracy"]
    log.info("digits CNN trained: validation accuracy %.4f", val)
    calib = Calibration.from_tensors(x_tr, y_tr, batch_size=64, teacher=frozen_copy(model))
    test = ClassificationEvaluator(x_te, y_te)
    kd = {"epochs": 6 if args.quick else 30, "lr": 2e-3, "alpha": 0.7, "temperature": 4.0}
    pruned = ("prune-structured", {"ratio": 0.5})
    strategies = [
        ("fp32", Recipe.of()),
        ("int8-weight", Recipe.of("int8-weight")),
        ("int8-dynamic", Recipe.of("int8-dynamic")),
        ("quanto w8 (conv+linear)", Recipe.of("quanto")),
        ("quanto w8a8", Recipe.of(("quanto", {"activations": "qint8"}))),
        ("int4-weight g32", Recipe.of("int4-weight")),
        ("int4-weight g32 + lora", Recipe.of("int4-weight", ("lora", {"steps": 60, "lr": 2e-3}))),
        ("fp16 (round-fp16 all)", Recipe.of(("round-fp16", {"scope": "all"}))),
        ("magnitude 50%", Recipe.of(("prune-magnitude", {"sparsity": 0.5, "conv": True}))),
        ("sparsegpt 2:4", Recipe.of(("prune-sparsegpt", {"pattern": "2:4"}))),
        ("structured 50%", Recipe.of(pruned)),
        ("structured 50% + distill", Recipe.of(pruned, ("distill", kd))),
        ("distill student w0.5, 2 stages",
         Recipe.of(("distill", {**kd, "width": 0.5, "stages": 2}))),
        ("structured 50% + distill + int8-dyn + fp16",
         Recipe.of(pruned, ("distill", kd), "int8-dynamic", "round-fp16")),
        *ort_strategies(args),
    ]  # fmt: skip
    return Model(
        name="digits-cnn",
        spec=CNN_SPEC,
        model=model,
        calib=calib,
        batch=x_te[:256].contiguous(),
        quality=lambda m: test.evaluate(m)["accuracy"],
        quality_name="accuracy",
        strategies=strategies,
        compile_strategies=(
            "fp32",
            "int8-weight",
            "int8-dynamic",
            "quanto w8 (conv+linear)",
            *ORT_LABELS,
        ),
    )


# ---- (b) learned codec encoders -------------------------------------------------------------


def _table_snr_db(x: np.ndarray, x_hat: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(x_hat)
    return float(10 * np.log10((x[ok] ** 2).sum() / max(((x[ok] - x_hat[ok]) ** 2).sum(), 1e-300)))


def table_codec_model(name: str, args: argparse.Namespace, workdir: Path) -> Model:
    """A trained table codec; its encoder branches are shrunk and plugged back in."""
    from ratecraft.data.synthetic_table import simulate_table

    train, test = simulate_table(seed=1), simulate_table(seed=2)
    epochs = 6 if args.quick else 20
    codec = get_codec(name, {"train": {"epochs": epochs}}).fit(train, Budget(ratio=8))
    source = workdir / f"codec-{name}"
    codec.save(source)
    encoder = codec_encoder_of(codec)
    z_train = torch.from_numpy(codec._z_of(train.values)[0].astype(np.float32))
    z_test = torch.from_numpy(codec._z_of(test.values)[0].astype(np.float32))
    calib = Calibration.from_tensors(z_train, batch_size=256, teacher=frozen_copy(encoder))
    original = copy.deepcopy(codec.model.encoders)

    def quality(enc: nn.Module) -> float:
        if is_runtime(enc):  # the whole encoder runs in ONNX Runtime: split its latents
            widths = codec.model.widths
            codec.model.encode = lambda x: list(torch.split(enc(x), widths, dim=1))
        else:
            codec.model.encoders = enc.encoders
        try:
            return _table_snr_db(test.values, codec.reconstruct(test).values)
        finally:
            codec.model.__dict__.pop("encode", None)
            codec.model.encoders = original

    kd = {"kind": "features", "alpha": 1.0, "epochs": 4 if args.quick else 15, "lr": 1e-3}
    strategies = [
        ("fp32", Recipe.of()),
        ("int8-weight", Recipe.of("int8-weight")),
        ("int8-dynamic", Recipe.of("int8-dynamic")),
        ("quanto w8", Recipe.of("quanto")),
        ("int8-weight + fp16 rest", Recipe.of("int8-weight", "round-fp16")),
        ("magnitude 50% + int8-weight + fp16 rest",
         Recipe.of("prune-magnitude", "int8-weight", "round-fp16")),
        ("structured 25% + distill + int8-weight + fp16 rest",
         Recipe.of(("prune-structured", {"ratio": 0.25}), ("distill", kd), "int8-weight",
                   "round-fp16")),
        ("int4-weight g32", Recipe.of("int4-weight")),
        *ort_strategies(args),
    ]  # fmt: skip
    return Model(
        name=f"{name} encoder",
        spec={"builder": "codec-encoder", "source": str(source)},
        model=encoder.eval(),
        calib=calib,
        batch=z_test[:256].contiguous(),
        quality=quality,
        quality_name="snr_db",
        strategies=strategies,
        compile_strategies=("fp32", "int8-weight", "int8-dynamic", *ORT_LABELS),
    )


def recording_codec_model(name: str, args: argparse.Namespace, workdir: Path) -> Model:
    """A trained recording codec (e.g. ``conv-ae``) on a synthetic probe recording; quality is
    the SNDR (dB, ``ratecraft.metrics.sndr_db``) of a held-out recording with the shrunk encoder
    (its analysis path, :func:`ratecraft.shrink.models.analysis_view`) plugged in."""
    from ratecraft.data.synthetic import simulate_recording
    from ratecraft.metrics import sndr_db

    train, _ = simulate_recording(n_channels=8, duration_s=2.0 if args.quick else 6.0, seed=1)
    test, _ = simulate_recording(n_channels=8, duration_s=2.0, seed=2)
    epochs = 3 if args.quick else 15
    codec = get_codec(name, {"train": {"epochs": epochs}}).fit(train, Budget(ratio=20))
    source = workdir / f"codec-{name}"
    codec.save(source)
    encoder = codec_encoder_of(codec)
    wins = torch.from_numpy(codec._windows(train.samples))[:512]
    calib = Calibration.from_tensors(wins, batch_size=64, teacher=frozen_copy(encoder))
    originals = dict(encoder._modules)

    def quality(enc: nn.Module) -> float:
        codec._memo = None  # cached analyses belong to the original encoder
        if is_runtime(enc):
            object.__setattr__(codec.model, "analysis", enc)  # analysis runs in ONNX Runtime
        for key, module in ({} if is_runtime(enc) else enc._modules).items():
            setattr(codec.model, key, module)
        try:
            return sndr_db(test.samples, codec.reconstruct(test).samples)
        finally:
            codec.model.__dict__.pop("analysis", None)
            for key, module in originals.items():
                setattr(codec.model, key, module)

    strategies = [
        ("fp32", Recipe.of()),
        ("fp16 (round-fp16 all)", Recipe.of(("round-fp16", {"scope": "all"}))),
        ("magnitude 50% + fp16", Recipe.of(("prune-magnitude", {"conv": True}), "round-fp16")),
        ("quanto w8", Recipe.of("quanto")),
        ("magnitude 50%", Recipe.of(("prune-magnitude", {"conv": True}))),
        *ort_strategies(args),
        ("magnitude 50% + onnxrt int8 static",
         Recipe.of(("prune-magnitude", {"conv": True}), ort_step(args, "static"))),
    ]  # fmt: skip
    return Model(
        name=f"{name} encoder",
        spec={"builder": "codec-encoder", "source": str(source)},
        model=encoder.eval(),
        calib=calib,
        batch=torch.from_numpy(codec._windows(test.samples))[:64].contiguous(),
        quality=quality,
        quality_name="sndr_db",
        strategies=strategies,
        compile_strategies=("fp32", *ORT_LABELS),
    )


CODECS: dict[str, Callable[[str, argparse.Namespace, Path], Model]] = {
    "adaptive-bottleneck": table_codec_model,
}
RECORDING_CODECS: dict[str, Callable[[str, argparse.Namespace, Path], Model]] = {
    "conv-ae": recording_codec_model,
}


# ---- measurement -----------------------------------------------------------------------------


def interleaved_speed(
    models: dict[str, nn.Module],
    batch: torch.Tensor,
    threads: int,
    rounds: int,
    compile_models: bool = True,
) -> list[dict[str, Any]]:
    """p50/p95/min ms per batch of each model, eager and under ``torch.compile``, timed in
    interleaved rounds (one call of each variant per round) so that load from other processes
    on this shared CPU hits every variant alike."""
    variants: dict[str, Any] = {}
    errors: dict[str, str] = {}
    torch.set_num_threads(threads)
    for label, model in models.items():
        if is_runtime(model):  # ONNX Runtime: its own kernels, nothing to compile
            variants[f"{label} / ort"] = model
            continue
        variants[f"{label} / eager"] = model
        if not compile_models:
            continue
        try:
            compiled = torch.compile(model)
            with torch.inference_mode():
                for _ in range(3):
                    compiled(batch)  # compile and warm up outside the timed rounds
            variants[f"{label} / compiled"] = compiled
        except Exception as exc:  # inductor may not cover a tensor subclass
            errors[f"{label} / compiled"] = (
                f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            )
    times: dict[str, list[float]] = {k: [] for k in variants}
    with torch.inference_mode():
        for _ in range(5):
            for fn in variants.values():
                fn(batch)
        for _ in range(rounds):
            for key, fn in variants.items():
                t0 = time.perf_counter()
                fn(batch)
                times[key].append((time.perf_counter() - t0) * 1e3)
    out = []
    for key, ts in times.items():
        arr = np.asarray(ts)
        p50, p95 = np.percentile(arr, [50, 95])
        out.append(
            {"variant": key, "p50_ms": float(p50), "p95_ms": float(p95), "min_ms": float(arr.min()),
             "rounds": rounds, "threads": threads, "batch": int(batch.shape[0])}
        )  # fmt: skip
    out += [{"variant": k, "error": v} for k, v in errors.items()]
    return out


def run_strategy(
    m: Model,
    label: str,
    recipe: Recipe,
    workdir: Path,
    threads: int,
    repeats: int,
    keep: dict[str, nn.Module],
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "model": m.name, "strategy": label, "steps": [s.step for s in recipe.steps],
        "recipe_hash": recipe.hash(), "status": "ok", "note": None,
    }  # fmt: skip
    t0 = time.perf_counter()
    try:
        torch.manual_seed(0)
        shrunk = run_recipe(copy.deepcopy(m.model), recipe, m.calib)
        row["shrink_seconds"] = time.perf_counter() - t0
        folder = workdir / f"{m.name}-{len(list(workdir.iterdir()))}".replace(" ", "_")
        save_artifact(shrunk, folder, spec=m.spec, recipe=recipe)
        art = load_artifact(folder).model
        with torch.inference_mode():
            if not torch.equal(m.calib.run(art, m.batch), m.calib.run(shrunk, m.batch)):
                row["note"] = "reloaded outputs differ from the in-memory model"
        lat = measure_latency(art, m.batch, warmup=10, repeats=repeats, threads=threads)
        mem = peak_memory(folder, m.batch, repeats=3, threads=threads)
        row.update(
            artifact_bytes=artifact_bytes(folder),
            parameters=parameter_count(art),
            bits_per_weight=bits_per_weight(folder, art),
            sparsity=sparsity(art),
            latency_p50_ms=lat["latency_p50_ms"],
            latency_p95_ms=lat["latency_p95_ms"],
            threads=threads,
            peak_rss_bytes=mem["peak_rss_bytes"],
            model_rss_bytes=mem["model_rss_bytes"],
            quality=m.quality(art),
            quality_name=m.quality_name,
        )
        if label in m.compile_strategies:
            keep[label] = art
    except (RatecraftError, RuntimeError, ValueError) as exc:
        row.update(status="error", note=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    log.info("%s / %s: %s", m.name, label, {k: row.get(k) for k in ("artifact_bytes", "quality")})
    return row


def add_deltas(rows: list[dict[str, Any]]) -> None:
    base = {r["model"]: r for r in rows if r["strategy"] == "fp32" and r["status"] == "ok"}
    for r in rows:
        b = base.get(r["model"])
        if b is None or r["status"] != "ok" or r.get("quality") is None or "quality_delta" in r:
            continue
        r["quality_delta"] = r["quality"] - b["quality"]
        r["x_smaller"] = b["artifact_bytes"] / r["artifact_bytes"]
        r["speedup_vs_fp32"] = b["latency_p50_ms"] / r["latency_p50_ms"]


# ---- reporting ---------------------------------------------------------------------------------


def _f(v: Any, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def markdown(rows: list[dict[str, Any]], model: str) -> str:
    sel = [r for r in rows if r["model"] == model]
    if not sel:
        return ""
    qname = next((r.get("quality_name") for r in sel if r.get("quality_name")), "quality")
    head = (f"| strategy | bytes | x smaller | bits/w | params | sparsity | p50 ms | p95 ms | "
            f"peak RSS MiB (+model) | {qname} | Δ |")  # fmt: skip
    lines = [f"### {model}", "", head, "|" + "---|" * 11]
    for r in sel:
        if r.get("status", "ok") != "ok":
            lines.append(f"| {r.get('strategy')} | error: {r.get('note')} |" + " |" * 9)
            continue
        peak, grew = r.get("peak_rss_bytes"), r.get("model_rss_bytes")
        rss = "–" if peak is None else f"{peak / 2**20:.0f} (+{(grew or 0) / 2**20:.1f})"
        lines.append(
            f"| {r.get('strategy')} | {_f(r.get('artifact_bytes'), ',')} | "
            f"{_f(r.get('x_smaller'), '.2f')} | {_f(r.get('bits_per_weight'), '.2f')} | "
            f"{_f(r.get('parameters'), ',')} | {_f(r.get('sparsity'), '.2f')} | "
            f"{_f(r.get('latency_p50_ms'), '.3f')} | {_f(r.get('latency_p95_ms'), '.3f')} | "
            f"{rss} | {_f(r.get('quality'), '.4f')} | {_f(r.get('quality_delta'), '+.4f')} |"
        )
    return "\n".join(lines)


def speed_markdown(speed: list[dict[str, Any]]) -> str:
    if not speed:
        return ""
    lines = ["### speed (interleaved rounds)", "",
             "| model | variant | p50 ms | p95 ms | min ms |", "|---|---|---|---|---|"]  # fmt: skip
    for r in speed:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['variant']} | error: {r['error']} | | |")
        else:
            lines.append(f"| {r['model']} | {r['variant']} | {r['p50_ms']:.3f} | "
                         f"{r['p95_ms']:.3f} | {r['min_ms']:.3f} |")  # fmt: skip
    return "\n".join(lines)


def targets(rows: list[dict[str, Any]], speed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    ok = [r for r in rows if r["status"] == "ok" and r.get("quality_delta") is not None]
    digits = [r for r in ok if r["model"] == "digits-cnn"]
    hit = [r for r in digits if "structured 50% + distill" in r["strategy"]]
    if hit:
        best = max(hit, key=lambda r: r["quality_delta"])
        out.append({
            "target": "digits CNN: 50% structured pruning + distillation within 1 point",
            "passed": best["quality_delta"] >= -DIGITS_MAX_DROP, "strategy": best["strategy"],
            "measured": f"accuracy delta {100 * best['quality_delta']:+.2f} points, "
                        f"{best['x_smaller']:.2f}x smaller",
        })  # fmt: skip
    timed = {r["variant"]: r for r in speed if r["model"] == "digits-cnn" and "p50_ms" in r}
    for mode in ("eager", "compiled"):
        base = timed.get(f"fp32 / {mode}")
        cands = [r for k, r in timed.items() if k.endswith(mode) and not k.startswith("fp32")]
        if base is not None and cands:
            best = min(cands, key=lambda r: r["p50_ms"])
            out.append({
                "target": f"an int8 strategy no slower than fp32 ({mode}, interleaved timing)",
                "passed": best["p50_ms"] <= base["p50_ms"], "strategy": best["variant"],
                "measured": f"p50 {best['p50_ms']:.3f} ms vs fp32 {base['p50_ms']:.3f} ms per "
                            f"batch of {base['batch']} ({base['p50_ms'] / best['p50_ms']:.2f}x); "
                            f"min {best['min_ms']:.3f} vs {base['min_ms']:.3f} ms",
            })  # fmt: skip
    eager = timed.get("fp32 / eager")
    int8 = [r for k, r in timed.items() if not k.startswith("fp32")]
    if eager is not None and int8:
        best = min(int8, key=lambda r: r["p50_ms"])
        out.append({
            "target": "a shrunk int8 model no slower than the fp32 original (eager fp32)",
            "passed": best["p50_ms"] <= eager["p50_ms"], "strategy": best["variant"],
            "measured": f"p50 {best['p50_ms']:.3f} ms vs {eager['p50_ms']:.3f} ms "
                        f"({eager['p50_ms'] / best['p50_ms']:.2f}x); "
                        f"min {best['min_ms']:.3f} vs {eager['min_ms']:.3f} ms",
        })  # fmt: skip
    enc = [r for r in ok if r["model"].endswith("encoder") and "int8" in r["strategy"]]
    if enc:
        passing = [r for r in enc if r["x_smaller"] >= CODEC_MIN_RATIO
                   and r["quality_delta"] >= -CODEC_MAX_SNR_LOSS]  # fmt: skip
        best = max(passing or enc, key=lambda r: r["x_smaller"])
        plain = max((r for r in enc if r["strategy"] == "int8-weight"),
                    key=lambda r: r["x_smaller"], default=None)  # fmt: skip
        note = (
            ""
            if plain is None
            else (
                f"; plain int8-weight: {plain['x_smaller']:.2f}x, {plain['quality_delta']:+.2f} dB"
            )
        )
        out.append({
            "target": "codec encoder at int8: >= 3.5x smaller with <= 0.3 dB loss",
            "passed": bool(passing), "strategy": best["strategy"],
            "measured": f"{best['x_smaller']:.2f}x, {best['quality_delta']:+.3f} dB{note}",
        })  # fmt: skip
    return out


# ---- implant-sized encoder ----------------------------------------------------------------------

IMPLANT_CHANNELS, IMPLANT_MS, IMPLANT_RATE = 1024, 20.0, 30000.0


def implant_encoder(
    args: argparse.Namespace, work: Path, m: Model | None = None
) -> list[dict[str, Any]]:
    """conv-ae's encoder for a 1024-channel probe: bytes, MACs per sample and the latency of one
    20 ms window of all channels, for fp32, int8 (ONNX Runtime static) and pruned variants.

    conv-ae shares one network over electrodes, so 1024 channels × 20 ms at 30 kHz is
    ``ceil(600 / window)`` windows per channel, run as one batch of that many windows ×
    1024 channels (reshaped to the trained channel count: the same per-channel work). Variants
    are timed in interleaved rounds on ``--threads``; SNDR is the reconstruction of a held-out
    recording with the variant as the codec's encoder (decoder fp32).
    """
    threads = args.threads or args.cores
    if m is None:  # conv-ae was not part of this run's recording codecs: train it here
        m = recording_codec_model("conv-ae", args, work)
    codec_channels = int(m.batch.shape[1])
    window = int(m.batch.shape[2])
    per_channel = -(-int(IMPLANT_RATE * IMPLANT_MS / 1000) // window)
    x = torch.randn(per_channel * IMPLANT_CHANNELS // codec_channels, codec_channels, window,
                    generator=torch.Generator().manual_seed(0))  # fmt: skip
    prune = ("prune-magnitude", {"conv": True})
    variants = [
        ("fp32 (PyTorch eager)", Recipe.of()),
        ("int8 (ONNX Runtime static)", ort(args, "static")),
        ("pruned 50% (PyTorch eager)", Recipe.of(prune)),
        ("pruned 50% + int8 (ONNX Runtime)", Recipe.of(prune, ort_step(args, "static"))),
    ]
    models: dict[str, nn.Module] = {}
    rows = []
    for label, recipe in variants:
        torch.manual_seed(0)
        shrunk = run_recipe(copy.deepcopy(m.model), recipe, m.calib)
        folder = work / f"implant-{len(rows)}"
        save_artifact(shrunk, folder, spec=m.spec, recipe=recipe)
        art = load_artifact(folder).model
        # MACs of the PyTorch form (an ONNX Runtime file computes the same layers in int8)
        torch_form = shrunk if not is_runtime(shrunk) else run_recipe(
            copy.deepcopy(m.model), Recipe(steps=recipe.steps[:-1]), m.calib
        )  # fmt: skip
        macs = count_macs(torch_form, m.batch[:1])
        samples = codec_channels * window
        models[label] = art
        rows.append({
            "variant": label, "bytes": artifact_bytes(folder),
            "parameters": parameter_count(art),
            "macs_per_sample": macs["macs"] / samples,
            "nonzero_macs_per_sample": macs["nonzero_macs"] / samples,
            "sndr_db": m.quality(art), "threads": threads,
            "windows_per_channel": per_channel, "channels": IMPLANT_CHANNELS,
            "window_samples": window,
        })  # fmt: skip
    timing = interleaved_speed(models, x, threads, rounds=30 if args.quick else 100,
                               compile_models=False)  # fmt: skip
    for row in rows:
        rec = next(r for r in timing if r["variant"].rsplit(" / ", 1)[0] == row["variant"])
        row.update(latency_p50_ms=rec["p50_ms"], latency_p95_ms=rec["p95_ms"])
    base = rows[0]
    for row in rows:
        row["sndr_delta_db"] = row["sndr_db"] - base["sndr_db"]
        row["speedup_vs_fp32"] = base["latency_p50_ms"] / row["latency_p50_ms"]
        row["window_ms"] = IMPLANT_MS
        row["real_time_factor"] = IMPLANT_MS / row["latency_p50_ms"]
    return rows


def implant_markdown(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    r0 = rows[0]
    lines = [f"### implant-sized encoder: conv-ae, {r0['channels']} channels x {r0['window_ms']:g} "
             f"ms ({r0['windows_per_channel']} windows of {r0['window_samples']} samples per "
             f"channel), {r0['threads']} threads", "",
             "| variant | bytes | MACs/sample | non-zero MACs/sample | p50 ms per 20 ms | "
             "p95 ms | x fp32 | SNDR dB | Δ dB |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['bytes']:,} | {r['macs_per_sample']:.0f} | "
            f"{r['nonzero_macs_per_sample']:.0f} | {r['latency_p50_ms']:.2f} | "
            f"{r['latency_p95_ms']:.2f} | {r['speedup_vs_fp32']:.2f} | {r['sndr_db']:.2f} | "
            f"{r['sndr_delta_db']:+.2f} |"
        )
    return "\n".join(lines)


def ort_targets(rows: list[dict[str, Any]], speed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 13: per model, the fastest int8 variant at equal quality against fp32 eager."""
    out = []
    for model in dict.fromkeys(r["model"] for r in speed):
        timed = {r["variant"]: r for r in speed if r["model"] == model and "p50_ms" in r}
        base = timed.get("fp32 / eager")
        quality = {r["strategy"]: r for r in rows if r["model"] == model and r["status"] == "ok"}
        if base is None:
            continue
        bound = ORT_MAX_ACC_DROP if model == "digits-cnn" else ORT_MAX_DB_LOSS
        cands = []
        for key, rec in timed.items():
            label = key.rsplit(" / ", 1)[0]
            row = quality.get(label)
            if "int8" not in label or row is None or row.get("quality_delta") is None:
                continue
            if row["quality_delta"] >= -bound:
                cands.append((base["p50_ms"] / rec["p50_ms"], key, row["quality_delta"]))
        unit = "points" if model == "digits-cnn" else "dB"
        scale = 100.0 if model == "digits-cnn" else 1.0
        if not cands:
            out.append({"target": f"{model}: int8 >= {ORT_MIN_SPEEDUP}x fp32 eager at equal "
                        "quality", "passed": False, "strategy": "–",
                        "measured": "no int8 variant kept quality"})  # fmt: skip
            continue
        speedup, key, delta = max(cands)
        out.append({
            "target": f"{model}: an int8 variant >= {ORT_MIN_SPEEDUP}x faster than fp32 PyTorch "
                      f"eager, quality within {bound * scale:g} {unit} (interleaved timing)",
            "passed": speedup >= ORT_MIN_SPEEDUP, "strategy": key,
            "measured": f"{speedup:.2f}x (p50 {timed[key]['p50_ms']:.3f} vs "
                        f"{base['p50_ms']:.3f} ms), quality {delta * scale:+.3f} {unit}",
        })  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and timing runs")
    parser.add_argument("--cores", type=int, default=CORES)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: cores)")
    parser.add_argument("--lm", action="store_true", help="add benchmarks/_shrink_lm.py rows")
    parser.add_argument(
        "--recording", default="", help="recording codecs to include too, e.g. conv-ae"
    )
    parser.add_argument(
        "--skip", default="", help="comma-separated parts to skip: digits,codec,implant"
    )
    parser.add_argument("--out", default=str(RESULTS / "shrink.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    threads = args.threads or args.cores
    torch.set_num_threads(threads)
    repeats = 20 if args.quick else 100
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    speed: list[dict[str, Any]] = []
    conv_ae: Model | None = None
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        models: list[Callable[[], Model]] = []
        if "digits" not in skip:
            models.append(lambda: digits_model(args))
        if "codec" not in skip:
            for name, hook in CODECS.items():
                if name in available_codecs():
                    models.append(lambda n=name, h=hook: h(n, args, work))
                else:
                    notes.append(f"codec {name} is not registered; skipped")
            for name in (n.strip() for n in args.recording.split(",") if n.strip()):
                hook = RECORDING_CODECS.get(name, recording_codec_model)
                if name in available_codecs():
                    models.append(lambda n=name, h=hook: h(n, args, work))
                else:
                    notes.append(f"recording codec {name} is not registered; skipped")
        for make in models:
            m = make()
            keep: dict[str, nn.Module] = {}
            for label, recipe in m.strategies:
                rows.append(run_strategy(m, label, recipe, work, threads, repeats, keep))
            if keep:
                for rec in interleaved_speed(keep, m.batch, threads, rounds=repeats * 2):
                    speed.append({"model": m.name, **rec})
            if m.name == "conv-ae encoder":
                conv_ae = m
        implant = [] if "implant" in skip else implant_encoder(args, work, conv_ae)
    if args.lm:
        if LM_HOOK.is_file():
            spec = importlib.util.spec_from_file_location("_shrink_lm", LM_HOOK)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules["_shrink_lm"] = module  # dataclasses look their module up there
            spec.loader.exec_module(module)
            for row in module.run(args):  # the LM rows keep their own baseline (bf16)
                row.setdefault("model", "smollm2")
                row.setdefault("strategy", str(row.get("name", "?")))
                row.setdefault("status", "ok")
                rows.append(row)
        else:
            notes.append(f"--lm: {LM_HOOK.name} does not exist yet; no language-model rows")
    add_deltas(rows)
    checks = targets(rows, speed) + ort_targets(rows, speed)
    for model in dict.fromkeys(r["model"] for r in rows):
        print(markdown(rows, model) + "\n")
    print(speed_markdown(speed) + "\n")
    print(implant_markdown(implant) + "\n")
    for c in checks:
        print(
            f"{'PASS' if c['passed'] else 'FAIL'}: {c['target']} — {c['strategy']}: {c['measured']}"
        )
    for n in notes:
        print(f"note: {n}")
    doc = {
        "benchmark": "shrink",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "ratecraft": ratecraft.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cores": args.cores,
        "affinity": AFFINITY,
        "threads": threads,
        "quick": args.quick,
        "seconds": time.perf_counter() - started,
        "rows": rows,
        "speed": speed,
        "implant": implant,
        "load_average_at_start": LOAD,
        "targets": checks,
        "notes": notes,
    }
    out = Path(args.out)
    write_json(out, doc)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
