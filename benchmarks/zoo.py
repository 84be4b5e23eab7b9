"""Rebuild the model zoo shipped in ``src/ratecraft/registry/zoo/`` (issue 12).

Each zoo model is trained on the project's own simulator (``simulate_recording``) for one common
kind of data, then evaluated on a *separate simulated session* (another seed: other units, other
LFP, same probe and ADC) it never saw; that evaluation is its card's quality. The folders hold the
one codec store (``codec.json`` + ``weights.safetensors``) plus ``card.json`` and ``card.md``.

Every zoo model is ``spike-lfp`` (spike events with a learned k-means waveform codebook, a
learned KLT of the LFP across channels): in short runs here the autoencoders at a ratio budget
reached ~0 dB SNDR (``conv-ae`` at 20x after 8 epochs), so they are not shipped. There is no
LFP/ECoG-only model yet: ``spike-lfp`` fails on a recording without spikes and ``conv-ae``
stayed at ~0 dB at 10x. Fitting took 6 s (implant), 159 s (32 channels) and 460 s (384
channels) on 2 loaded cores; the cards say what the models reach, not what longer training
would. Timings in the cards were taken on whatever machine ran this, with its load
average recorded in ``benchmarks/results/zoo.json``.

Run: ``.venv/bin/python benchmarks/zoo.py [--only NAME] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ratecraft.bench.output import num, write_json
from ratecraft.codecs import Budget, get_codec
from ratecraft.codecs.store import CODEC_JSON, WEIGHTS
from ratecraft.data.synthetic import simulate_recording
from ratecraft.registry.card import build_card, card_markdown
from ratecraft.registry.zoo import CARD_JSON, ZOO_DIR

log = logging.getLogger("zoo")
RESULTS = Path(__file__).with_name("results") / "zoo.json"


@dataclass(frozen=True)
class ZooSpec:
    """One zoo model: the simulated data it is for, the codec and its budget."""

    name: str
    description: str
    sim: dict[str, Any]
    train_s: float
    heldout_s: float
    codec: str
    ratio: float
    options: dict[str, Any] = field(default_factory=dict)
    limits: str = ""
    seed: int = 100


ZOO: tuple[ZooSpec, ...] = (
    ZooSpec(
        name="implant-10bit-19k5",
        description="Single-electrode implant telemetry: 10-bit ADC at 19.531 kHz, mono, ~100x "
        "(spike events with a learned waveform codebook + a coded LFP layer).",
        sim={"n_channels": 1, "sample_rate": 19531.0, "sparse_grid": True, "n_units": 3},
        train_s=30.0,
        heldout_s=10.0,
        codec="spike-lfp",
        ratio=100.0,
        limits="One channel at 19.531 kHz with a 10-bit ADC whose gain fits the signal's peak. "
        "Below ~50 µV a spike may be lost; the spike band between spikes is comfort noise, "
        "not the recorded noise.",
        seed=100,
    ),
    ZooSpec(
        name="probe-32ch-30k",
        description="32-channel linear probe at 30 kHz, 16-bit (0.195 µV/step), ~100x "
        "(spike events with a learned waveform codebook + a decorrelated LFP layer).",
        sim={"n_channels": 32, "sample_rate": 30000.0},
        train_s=4.0,
        heldout_s=1.0,
        codec="spike-lfp",
        ratio=100.0,
        limits="32 channels at 30 kHz like the training probe. The spike band between spikes "
        "is comfort noise, not the recorded noise; not for bit-exact archives.",
        seed=200,
    ),
    ZooSpec(
        name="neuropixels-384ch-30k",
        description="Neuropixels-like 384-channel probe at 30 kHz, 10-bit ADC (2.34 µV/step), "
        "20 µm pitch, ~100x (spike events + a decorrelated LFP layer).",
        sim={
            "n_channels": 384,
            "sample_rate": 30000.0,
            "adc_bits": 10,
            "uv_per_step": 2.34,
            "channel_pitch_um": 20.0,
        },
        train_s=0.5,
        heldout_s=0.5,
        codec="spike-lfp",
        ratio=100.0,
        limits="384 channels at 30 kHz; trained on 0.5 s only (a short run to keep the zoo "
        "quick to rebuild), so refit or `ratecraft adapt` on real data.",
        seed=300,
    ),
    ZooSpec(
        name="ecog-64ch-1k",
        description="64-channel LFP / ECoG grid at 1 kHz, 16-bit (0.195 µV/step), no spiking "
        "units, ~20x (a decorrelated full-rate field-potential layer; the event layer stays "
        "nearly empty).",
        sim={"n_channels": 64, "sample_rate": 1000.0, "n_units": 0, "lfp_uv": 150.0},
        train_s=60.0,
        heldout_s=20.0,
        codec="spike-lfp",
        ratio=20.0,
        limits="Field potentials at 1 kHz: the spike scores on its card are noise crossings of "
        "the 300-450 Hz band, not spikes; use a 30 kHz model for spiking data.",
        seed=400,
    ),
)


def build(spec: ZooSpec, out: Path) -> dict[str, Any]:
    """Train, evaluate and write one zoo model folder; its row for the results."""
    train, _ = simulate_recording(duration_s=spec.train_s, seed=spec.seed, **spec.sim)
    heldout, truth = simulate_recording(duration_s=spec.heldout_s, seed=spec.seed + 1, **spec.sim)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    codec = get_codec(spec.codec, {**spec.options, "seed": 0}).fit(train, Budget(ratio=spec.ratio))
    fit_s = time.perf_counter() - t0
    card = build_card(
        codec,
        trained_on=train,
        heldout=heldout,
        truth=truth,
        description=spec.description,
        limits=spec.limits or None,
        trained_on_note=f"simulate_recording(seed={spec.seed}, {spec.train_s:g} s)",
        heldout_note=f"a separate simulated session (seed {spec.seed + 1}): other units and "
        "LFP, same probe and ADC",
    )
    card["zoo"] = {"name": spec.name, "fit_seconds": fit_s, "loadavg": load_before}
    folder = out / spec.name
    with tempfile.TemporaryDirectory() as tmp:
        codec.save(tmp)
        staged = out / f".{spec.name}.new"
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        for f in (CODEC_JSON, WEIGHTS):
            shutil.copyfile(Path(tmp) / f, staged / f)
    (staged / CARD_JSON).write_text(json.dumps(card, indent=1, sort_keys=True) + "\n")
    (staged / "card.md").write_text(card_markdown(card, f"zoo:{spec.name}"), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    staged.rename(folder)
    held = card["heldout"]
    size = sum(p.stat().st_size for p in folder.iterdir())
    return {
        "name": spec.name,
        "codec": spec.codec,
        "target_ratio": spec.ratio,
        "folder_bytes": size,
        "fit_seconds": fit_s,
        "loadavg": list(os.getloadavg()),
        **{k: held.get(k) for k in ("status", "ratio", "sndr_db", "spike_f1", "spike_f1_truth")},
        **{k: held.get(k) for k in ("spike_window_sndr_db", "lfp_sndr_db", "encode_x_realtime")},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", action="append", help="rebuild only this zoo model (repeatable)")
    p.add_argument("--out", type=Path, default=ZOO_DIR, help="zoo folder to write")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    specs = [s for s in ZOO if not args.only or s.name in args.only]
    if args.only and len(specs) != len(args.only):
        p.error(f"unknown zoo model in {args.only}; known: {[s.name for s in ZOO]}")
    rows = []
    for spec in specs:
        log.info("training %s (%s at %gx)", spec.name, spec.codec, spec.ratio)
        rows.append(build(spec, args.out))
        log.info("  %s", rows[-1])
    header = (
        "| model | codec | real ratio | SNDR dB | spike F1 (truth) | LFP SNDR dB | fit s | bytes |"
    )
    lines = [header, "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| zoo:{r['name']} | {r['codec']} | {num(r['ratio'], '.1f')} | "
            f"{num(r['sndr_db'], '.1f')} | {num(r['spike_f1_truth'], '.3f')} | "
            f"{num(r['lfp_sndr_db'], '.1f')} | {r['fit_seconds']:.0f} | {r['folder_bytes']:,} |"
        )
    print("\n".join(lines))
    if args.out == ZOO_DIR:
        previous = json.loads(RESULTS.read_text())["rows"] if RESULTS.is_file() else []
        kept = [r for r in previous if r["name"] not in {s.name for s in specs}]
        write_json(
            RESULTS,
            {
                "benchmark": "zoo",
                "when_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
                "rows": sorted(kept + rows, key=lambda r: r["name"]),
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
