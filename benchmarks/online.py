"""Online adaptation under a simulated drift (issue 12): detection delay, quality before and
after the drift with and without adaptation, forgetting with and without replay / EWC, and a
forced bad update that must be rolled back.

The stream is one simulated 8-channel 30 kHz probe: ``--before`` seconds of the original
session, then ``--after`` seconds in which the noise level rises (6 → 14 µV), the electrode
impedance drops the signal amplitude (spikes 50–300 → 30–180 µV, LFP 100 → 60 µV) and the units
are other ones (another seed: other waveforms). A ``conv-ae`` (no ratio budget: a fixed latent
step, so "bits at a fixed step" is a feature) is trained on the first ``--train`` seconds of the
original session, registered as ``probe@production`` with a card measured on held-out original
data, and served chunk by chunk (0.25 s) through :class:`ratecraft.online.OnlineAdapter`.

Run: ``.venv/bin/python benchmarks/online.py [--quick]``; writes ``benchmarks/results/online.json``
(with the machine's load average: timings on a loaded machine are labelled so).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ratecraft.bench.output import num, write_json
from ratecraft.codecs import get_codec
from ratecraft.data.synthetic import simulate_recording
from ratecraft.data.types import Recording
from ratecraft.online import AdaptPolicy, FinetuneConfig, OnlineAdapter, finetune, mean_sndr
from ratecraft.registry import Registry, build_card

log = logging.getLogger("online")
RESULTS = Path(__file__).with_name("results") / "online.json"
CHUNK_S = 0.25
BASE = {"n_channels": 8, "sample_rate": 30000.0}
DRIFT = {"noise_uv": 14.0, "spike_amplitude_uv": (30.0, 180.0), "lfp_uv": 60.0}


def chunks(rec: Recording, seconds: float) -> list[Recording]:
    n = round(seconds * rec.sample_rate)
    return [rec.slice_time(s, s + n) for s in range(0, rec.n_samples - n + 1, n)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="shorter stream and training")
    p.add_argument("--before", type=float, default=16.0, help="seconds of stream before drift")
    p.add_argument("--after", type=float, default=16.0, help="seconds of stream after drift")
    p.add_argument("--train", type=float, default=6.0, help="seconds the first model trains on")
    p.add_argument("--ewc", type=float, default=100.0, help="EWC λ of the replay+EWC variant")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.quick:
        args.before, args.after, args.train = 10.0, 10.0, 4.0
    t_start = time.perf_counter()
    load_start = os.getloadavg()

    original, _ = simulate_recording(duration_s=args.train + 2 + args.before, seed=1, **BASE)
    fs = original.sample_rate
    train = original.slice_time(0, round(args.train * fs))
    card_heldout = original.slice_time(round(args.train * fs), round((args.train + 2) * fs))
    pre = chunks(original.slice_time(round((args.train + 2) * fs), original.n_samples), CHUNK_S)
    drifted, _ = simulate_recording(duration_s=args.after, seed=2, **BASE, **DRIFT)
    post = chunks(drifted, CHUNK_S)

    epochs = 6 if args.quick else 10
    codec = get_codec("conv-ae", {"train": {"epochs": epochs}, "max_windows": 600}).fit(train)
    home = Path(tempfile.mkdtemp(prefix="rc-online-bench-"))
    reg = Registry(home)
    with tempfile.TemporaryDirectory() as tmp:
        codec.save(tmp)
        card = build_card(codec, trained_on=train, heldout=card_heldout)
        v1 = reg.register(tmp, "probe", card=card, aliases=("production",))
    policy = AdaptPolicy(
        warmup=16,
        recent_chunks=24,
        heldout_every=4,
        replay_chunks=32,
        finetune=FinetuneConfig(steps=80, replay_share=0.5, ewc_lambda=args.ewc),
    )
    adapter = OnlineAdapter(reg, "probe", policy, who="benchmarks/online.py")
    onset = len(pre)
    for c in pre + post:
        adapter.step(c)
    hist = adapter.history
    drift_rows = [r["chunk"] for r in hist if "drift" in r["actions"]]
    promoted = [r["chunk"] for r in hist if "promote" in r["actions"]]
    first_drift = next((c for c in drift_rows if c >= onset), None)
    false_alarms = sum(1 for c in drift_rows if c < onset)
    after_promotion = [r["sndr_db"] for r in hist if promoted and r["chunk"] > promoted[0]]
    no_adapt = mean_sndr(reg.load(v1), post)
    summary: dict[str, Any] = {
        "chunk_s": CHUNK_S,
        "drift_onset_chunk": onset,
        "detected_chunk": first_drift,
        "detection_delay_chunks": None if first_drift is None else first_drift - onset,
        "detection_delay_s": None if first_drift is None else (first_drift - onset) * CHUNK_S,
        "false_alarms_before_drift": false_alarms,
        "card_sndr_db": card["heldout"].get("sndr_db"),
        "sndr_before_drift_db": float(np.mean([r["sndr_db"] for r in hist[:onset]])),
        "sndr_after_drift_no_adaptation_db": no_adapt,
        "sndr_after_adaptation_live_db": float(np.mean(after_promotion))
        if after_promotion
        else None,
        "promoted_at_chunk": promoted[0] if promoted else None,
        "adaptation": getattr(adapter, "last_adaptation", None),
    }

    # forgetting: the same recent / replay / old held-out sets, three ways
    held_every = policy.heldout_every
    recent = [c for i, c in enumerate(post[:32]) if (i + 1) % held_every]
    recent_held = [c for i, c in enumerate(post[:32]) if not (i + 1) % held_every]
    old_held = pre[held_every - 1 :: held_every][:10]
    replay = [c for i, c in enumerate(pre) if (i + 1) % held_every][:32]
    base = reg.load(v1)
    variants = []
    for label, share, lam in (
        ("no replay, no EWC", 0.0, 0.0),
        ("replay", 0.5, 0.0),
        ("replay + EWC", 0.5, args.ewc),
    ):
        cfg = FinetuneConfig(steps=80, replay_share=share, ewc_lambda=lam)
        tuned = finetune(base, recent, replay if share else (), cfg)
        variants.append(
            {
                "variant": label,
                "recent_before_db": mean_sndr(base, recent_held),
                "recent_after_db": mean_sndr(tuned, recent_held),
                "old_before_db": mean_sndr(base, old_held),
                "old_after_db": mean_sndr(tuned, old_held),
            }
        )
        variants[-1]["forgetting_db"] = variants[-1]["old_before_db"] - variants[-1]["old_after_db"]

    # a forced bad update must be rolled back by the live-quality check
    live = reg.get("probe@production")
    bad = finetune(
        reg.load(live),
        [Recording(samples=np.zeros_like(post[0].samples), sample_rate=fs)],
        (),
        FinetuneConfig(steps=40, lr=0.3, replay_share=0.0),
    )
    forced = adapter.force_update(bad, why="forced bad update (benchmark)")
    start = len(adapter.history)
    rolled_at = None
    for c in post[-12:]:
        row = adapter.step(c)
        if "rollback" in row["actions"]:
            rolled_at = row["chunk"] - start
            break
    after = reg.get("probe@production")
    summary["forced_bad_update"] = {
        "bad_version": forced.version,
        "rolled_back": rolled_at is not None,
        "chunks_until_rollback": None if rolled_at is None else rolled_at + 1,
        "production_after": after.version,
        "bad_sndr_db": mean_sndr(bad, post[-4:]),
    }
    summary["events"] = [
        {"kind": e.kind, "version": e.version, "why": e.why} for e in reg.events("probe")
    ]
    summary["registry_check_ok"] = reg.check()["ok"]

    print("| measure | value |\n|---|---:|")
    for label, key, fmt in (
        ("detection delay, chunks (0.25 s each)", "detection_delay_chunks", "d"),
        ("false alarms before the drift", "false_alarms_before_drift", "d"),
        ("card SNDR (held-out original), dB", "card_sndr_db", ".2f"),
        ("live SNDR before drift, dB", "sndr_before_drift_db", ".2f"),
        ("SNDR after drift, no adaptation, dB", "sndr_after_drift_no_adaptation_db", ".2f"),
        ("live SNDR after adaptation, dB", "sndr_after_adaptation_live_db", ".2f"),
    ):
        print(f"| {label} | {num(summary[key], fmt)} |")
    fb = summary["forced_bad_update"]
    print(
        f"| forced bad update rolled back | {'yes' if fb['rolled_back'] else 'NO'} "
        f"(after {fb['chunks_until_rollback']} chunks) |"
    )
    print(
        "\n| fine-tune variant | recent before | recent after | old before | old after "
        "| forgetting |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for v in variants:
        print(
            f"| {v['variant']} | {v['recent_before_db']:.2f} | {v['recent_after_db']:.2f} | "
            f"{v['old_before_db']:.2f} | {v['old_after_db']:.2f} | {v['forgetting_db']:+.2f} |"
        )
    write_json(
        RESULTS,
        {
            "benchmark": "online",
            "args": vars(args),
            "when_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "loadavg_start": load_start,
            "loadavg_end": os.getloadavg(),
            "seconds": time.perf_counter() - t_start,
            "summary": summary,
            "forgetting": variants,
        },
    )
    return 0 if summary["registry_check_ok"] and fb["rolled_back"] else 1


if __name__ == "__main__":
    sys.exit(main())
