"""Write the golden `.rcz` files of today's container format into ``tests/golden/v<N>``.

Run once per new format version (``.venv/bin/python tests/golden/make_golden.py``), commit the
folder, and never regenerate it: ``tests/bitstream/test_golden.py`` then proves that later code
still decodes these files. One file per registered codec, from small seeded inputs; trained
codecs are fitted for a few epochs and their model folders saved beside the files.

A new payload version of one codec inside today's container format gets its own folder,
``<codec>-v<version>`` (``make_golden.py --codec predictive``): that codec's files at each of its
settings, on the same recording plus a sparse-grid implant-style one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ratecraft.bitstream.container import FORMAT_VERSION
from ratecraft.codecs import Budget, available_codecs, decode, get_codec
from ratecraft.data.synthetic import simulate_recording, simulate_table
from ratecraft.data.types import Recording

TINY_RECORDING = {
    "train": {"epochs": 4, "batch_size": 8},
    "max_windows": 64,
    "hidden": 8,
    "encoder_hidden": 4,
    "stages": 2,
}
TINY_TABLE = {"train": {"epochs": 1, "batch_size": 64}, "hidden": 8, "latent_dims": 4}


def main(out: Path) -> None:
    if out.exists():
        sys.exit(f"{out} exists: golden files are written once and never regenerated")
    out.mkdir(parents=True)
    rec, _ = simulate_recording(n_channels=4, duration_s=0.2, sample_rate=30000.0, seed=3)
    rec.meta = {"session": "golden", "note": "kept through every codec"}
    rec_f = Recording(
        rec.samples.astype(np.float32) * 0.195,
        rec.sample_rate,
        1.0,
        rec.channel_names,
        rec.channel_positions,
        dict(rec.meta),
    )
    tab = simulate_table(n_samples=128, seed=3)
    np.savez_compressed(
        out / "inputs.npz", recording=rec.samples, recording_float=rec_f.samples, table=tab.values
    )
    plan = {
        "predictive": (rec, None, {}),
        "flac": (rec, None, {}),
        "zstd": (rec, None, {}),
        "lzma": (rec, None, {}),
        "quant": (rec, Budget(ratio=8), {}),
        "wavelet": (rec, Budget(ratio=8), {}),
        "pca": (rec, Budget(ratio=8), {}),
        "sz3": (rec_f, Budget(max_error=1.0), {}),
        "spike-lfp": (rec, Budget(ratio=20), {}),
        "conv-ae": (rec, Budget(ratio=4), TINY_RECORDING),
        "lstm-ae": (rec, Budget(ratio=4), TINY_RECORDING),
        "transformer": (rec, Budget(ratio=4), TINY_RECORDING),
        "spatial": (rec, Budget(ratio=4), TINY_RECORDING),
        "vae": (rec, Budget(max_error=30), TINY_RECORDING),
        "vqvae": (tab, Budget(ratio=8), TINY_TABLE),
        "adaptive-bottleneck": (tab, Budget(ratio=8), TINY_TABLE),
        "grouped-vae": (tab, Budget(ratio=8), TINY_TABLE),
    }
    missing = set(available_codecs()) - set(plan)
    if missing:
        sys.exit(f"no golden plan for {sorted(missing)}")
    manifest = {}
    for name, (data, budget, cfg) in plan.items():
        codec = get_codec(name, cfg).fit(data, budget)
        blob = codec.encode(data)
        trained = codec.model_sha256() is not None
        if trained:
            codec.save(out / f"{name}.model")
        back = decode(blob, codec if trained else None)
        arr = back.samples if isinstance(back, Recording) else back.values
        (out / f"{name}.rcz").write_bytes(blob)
        lossless = budget is None
        if lossless:
            assert np.array_equal(arr, data.samples if isinstance(data, Recording) else data.values)
        else:
            np.savez_compressed(out / f"{name}.expected.npz", decoded=arr)
        manifest[name] = {
            "input": "recording" if isinstance(data, Recording) else "table",
            "budget": None if budget is None else budget.describe(),
            "bytes": len(blob),
            "model": f"{name}.model" if trained else None,
            "expected": "inputs.npz:recording" if lossless else f"{name}.expected.npz:decoded",
        }
    blob = get_codec("zstd").encode(tab)
    (out / "zstd-table.rcz").write_bytes(blob)
    assert np.array_equal(decode(blob).values, tab.values, equal_nan=True)
    manifest["zstd-table"] = {
        "input": "table",
        "budget": None,
        "bytes": len(blob),
        "model": None,
        "expected": "inputs.npz:table",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


CODEC_PLANS: dict[str, dict[str, dict]] = {
    "predictive": {"predictive-fast": {"level": "fast"}, "predictive-max": {"level": "max"}},
    "quant": {"quant-step4": {"step": 4}},
    # trained: fitted to each input at the ratio ("budget"), model folder saved beside it;
    # "lfp-dense": LFP mode kept (fitted without a budget, then coded at the ratio) with many
    # events, so its chunks use the coarse event code
    "spike-lfp": {
        "spike-lfp-20x": {"budget": 20},
        "spike-lfp-60x-lfp-dense": {"budget": 60, "keep_mode": True, "k_detect": 3.0},
    },
}


def codec_files(name: str, out: Path) -> None:
    """The golden files of one codec's current payload version (see the module docstring):
    lossless files must decode to their input, lossy ones to what this version decoded
    (``expected.npz``)."""
    if out.exists():
        sys.exit(f"{out} exists: golden files are written once and never regenerated")
    out.mkdir(parents=True)
    rec, _ = simulate_recording(n_channels=4, duration_s=0.2, sample_rate=30000.0, seed=3)
    implant, _ = simulate_recording(
        n_channels=1, duration_s=0.5, sample_rate=19531.25, seed=3, sparse_grid=True
    )
    np.savez_compressed(out / "inputs.npz", recording=rec.samples, implant=implant.samples)
    manifest = {}
    decoded = {}
    for label, plan in CODEC_PLANS[name].items():
        config = {k: v for k, v in plan.items() if k not in ("budget", "keep_mode")}
        budget = Budget(ratio=plan["budget"]) if "budget" in plan else None
        for key, data in (("recording", rec), ("implant", implant)):
            codec = get_codec(name, config)
            model = None
            if budget is not None:
                if plan.get("keep_mode"):
                    codec.fit(data)
                    codec.budget = budget
                else:
                    codec.fit(data, budget)
                model = f"{label}-{key}.model"
                codec.save(out / model)
            blob = codec.encode(data)
            back = decode(blob, codec if model else None).samples
            lossless = np.array_equal(back, data.samples)
            if not lossless:
                decoded[f"{label}-{key}"] = back
            (out / f"{label}-{key}.rcz").write_bytes(blob)
            manifest[f"{label}-{key}"] = {
                "input": key,
                "budget": None if budget is None else budget.describe(),
                "config": {**config, **({"keep_mode": True} if plan.get("keep_mode") else {})},
                "bytes": len(blob),
                "model": model,
                "expected": f"inputs.npz:{key}" if lossless else f"expected.npz:{label}-{key}",
            }
    if decoded:
        np.savez_compressed(out / "expected.npz", **decoded)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    if len(sys.argv) == 3 and sys.argv[1] == "--codec":
        codec = sys.argv[2]
        codec_files(codec, here / f"{codec}-v{type(get_codec(codec)).version}")
    else:
        main(here / f"v{FORMAT_VERSION}")
