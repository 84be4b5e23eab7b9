"""Model cards: what a model is, what it was trained on and how it did on data it never saw.

:func:`build_card` gathers the card of a codec (JSON) from its config and fit report, the data it
was trained on (fingerprint, channels, rate, duration) and a held-out evaluation run through the
benchmark runner (:func:`ratecraft.bench.run_one`: the real container's ratio and bits/sample,
SNDR, spike F1, spike-window SNDR, LFP SNDR for recordings, per-family NMSE for tables, encode
and decode latency); :func:`card_markdown` renders it. The figures are measured, never typed in:
a card without held-out data says so instead of quoting training-set numbers as quality.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import ratecraft
from ratecraft.autopilot.cache import fingerprint_array
from ratecraft.bench import run_one
from ratecraft.bench.runner import model_bytes
from ratecraft.codecs.base import Codec
from ratecraft.data.types import Data, FeatureTable, Recording, as_block
from ratecraft.jsonsafe import json_safe

__all__ = ["CARD_VERSION", "build_card", "card_markdown", "data_facts"]

CARD_VERSION = 1

_RECORDING_USE = (
    "Lossy compression of extracellular recordings shaped like the training data (same channel "
    "count, sample rate and ADC scaling) for storage and telemetry, where spikes and LFP must "
    "survive for sorting and band analysis."
)
_RECORDING_LIMITS = (
    "Quality holds on data like the held-out set below; a different probe, gain, noise level or "
    "sample rate needs a new evaluation (or `ratecraft adapt`). Lossy: not for archives that must "
    "be bit-exact (use `predictive`)."
)
_TABLE_USE = "Lossy compression of feature tables with the same features and families."
_TABLE_LIMITS = "Other feature sets or scales need refitting; NaN cells are not modelled."


def data_facts(data: Data) -> dict[str, Any]:
    """Fingerprint and shape facts of a dataset (for the card's *trained on* / *evaluated on*)."""
    block = as_block(data)
    facts: dict[str, Any] = {
        "fingerprint": fingerprint_array(block),
        "dtype": block.dtype.name,
    }
    if isinstance(data, Recording):
        facts.update(
            kind="recording",
            channels=data.n_channels,
            sample_rate=float(data.sample_rate),
            duration_s=data.n_samples / float(data.sample_rate),
            uv_per_step=float(data.uv_per_step),
        )
    else:
        assert isinstance(data, FeatureTable)
        facts.update(
            kind="table",
            rows=int(data.values.shape[0]),
            features=int(data.values.shape[1]),
            families=sorted(set(data.families or [])),
        )
    return facts


def _parameters(codec: Codec) -> int | None:
    count = getattr(codec, "parameter_count", None)
    if callable(count):
        return int(count())
    report = codec.fit_report.get("parameters")
    return int(report) if isinstance(report, int | float) else None


def _lfp_extra(original: Data, recon: Data, codec: Codec | None) -> dict[str, Any]:
    from ratecraft.metrics.bands import lfp_sndr_db

    if not isinstance(original, Recording) or not isinstance(recon, Recording):
        return {}
    return {"lfp_sndr_db": lfp_sndr_db(original.samples, recon.samples, original.sample_rate)}


def evaluate(codec: Codec, data: Data, truth: Any = None, name: str = "held-out") -> dict[str, Any]:
    """The held-out figures of a trained codec on ``data`` (as trained: no refitting)."""
    record, _ = run_one(name, data, codec, codec.budget, truth=truth, repeats=2, extra=_lfp_extra)
    if record.status != "ok":
        return {"status": record.status, "error": record.error}
    fields = (
        "ratio",
        "bits_per_sample",
        "est_bits_per_sample",
        "sndr_db",
        "prd_percent",
        "max_abs_error",
        "spike_f1",
        "spike_f1_truth",
        "spike_window_sndr_db",
        "lfp_band_error",
        "lfp_sndr_db",
        "nmse_mean",
        "family_nmse",
        "encode_seconds",
        "decode_seconds",
        "encode_x_realtime",
        "decode_x_realtime",
    )
    out = {k: record.get(k) for k in fields}
    out = {k: v for k, v in out.items() if v is not None}
    out["status"] = "ok"
    out["data"] = data_facts(data)
    return out


def build_card(
    codec: Codec,
    *,
    trained_on: Data | None = None,
    heldout: Data | None = None,
    truth: Any = None,
    description: str = "",
    intended_use: str | None = None,
    limits: str | None = None,
    trained_on_note: str = "",
    heldout_note: str = "",
) -> dict[str, Any]:
    """The card of ``codec`` (JSON-able). ``heldout`` is data the codec never trained on; its
    evaluation is the card's quality. ``truth`` is simulator spike truth for ``heldout``."""
    recording = "recording" in codec.kinds and "table" not in codec.kinds
    card: dict[str, Any] = {
        "card_version": CARD_VERSION,
        "created_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ratecraft_version": ratecraft.__version__,
        "description": description,
        "codec": codec.name,
        "codec_version": codec.version,
        "config": codec.config.model_dump(mode="json"),
        "budget": codec.budget.describe(),
        "model_sha256": codec.model_sha256(),
        "parameters": _parameters(codec),
        "model_bytes": model_bytes(codec),
        "fit_report": {k: v for k, v in codec.fit_report.items() if not isinstance(v, list)},
        "trained_on": (data_facts(trained_on) if trained_on is not None else None),
        "trained_on_note": trained_on_note,
        "heldout": None,
        "heldout_note": heldout_note or ("" if heldout is not None else "no held-out evaluation"),
        "intended_use": intended_use or (_RECORDING_USE if recording else _TABLE_USE),
        "limits": limits or (_RECORDING_LIMITS if recording else _TABLE_LIMITS),
    }
    if heldout is not None:
        card["heldout"] = evaluate(codec, heldout, truth)
    return json_safe(card)  # type: ignore[no-any-return]


def _num(value: Any, spec: str = ".3g") -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not math.isfinite(value):
        return "∞" if value > 0 else "–"
    if isinstance(value, float) and value >= 1e300:
        return "∞ (exact)"
    return format(value, spec) if isinstance(value, int | float) else str(value)


def _facts_line(facts: dict[str, Any] | None) -> str:
    if not facts:
        return "–"
    if facts.get("kind") == "recording":
        return (
            f"{facts['channels']} channels at {facts['sample_rate']:g} Hz, "
            f"{facts['duration_s']:.3g} s, {facts['dtype']} ({facts['uv_per_step']:.3g} µV/step); "
            f"fingerprint `{facts['fingerprint']}`"
        )
    return (
        f"{facts.get('rows')} rows × {facts.get('features')} features "
        f"({len(facts.get('families') or [])} families), {facts['dtype']}; "
        f"fingerprint `{facts['fingerprint']}`"
    )


_QUALITY_ROWS = (
    ("real ratio (container bytes)", "ratio", ".2f"),
    ("bits/sample (real)", "bits_per_sample", ".3f"),
    ("bits/sample (estimated)", "est_bits_per_sample", ".3f"),
    ("SNDR", "sndr_db", ".2f"),
    ("spike F1 (vs original)", "spike_f1", ".3f"),
    ("spike F1 (vs ground truth)", "spike_f1_truth", ".3f"),
    ("spike-window SNDR", "spike_window_sndr_db", ".2f"),
    ("LFP SNDR", "lfp_sndr_db", ".2f"),
    ("mean family NMSE", "nmse_mean", ".3g"),
    ("encode, s (best of 2)", "encode_seconds", ".4f"),
    ("decode, s (best of 2)", "decode_seconds", ".4f"),
    ("encode × real time", "encode_x_realtime", ".1f"),
    ("decode × real time", "decode_x_realtime", ".1f"),
)


def card_markdown(card: dict[str, Any], title: str | None = None) -> str:
    """The card as markdown (what ``models show`` and the dashboard print)."""
    lines = [f"# {title or card.get('codec', 'model')}", ""]
    if card.get("description"):
        lines += [str(card["description"]), ""]
    sha = card.get("model_sha256")
    lines += [
        f"- codec: `{card.get('codec')}` (payload version {card.get('codec_version')}), "
        f"budget {card.get('budget')}",
        f"- model sha256: `{sha}`" if sha else "- model: none (the header carries the config)",
        f"- parameters: {_num(card.get('parameters'), ',')}; saved model "
        f"{_num(card.get('model_bytes'), ',')} bytes",
        f"- ratecraft {card.get('ratecraft_version')}, card made {card.get('created_utc')}",
        f"- trained on: {_facts_line(card.get('trained_on'))}"
        + (f" — {card['trained_on_note']}" if card.get("trained_on_note") else ""),
        "",
        "## Held-out evaluation",
        "",
    ]
    held = card.get("heldout")
    if not held or held.get("status") != "ok":
        why = (held or {}).get("error") or card.get("heldout_note") or "none"
        lines += [f"Not evaluated on held-out data ({why}).", ""]
    else:
        lines += [
            f"On {_facts_line(held.get('data'))}"
            + (f" — {card['heldout_note']}" if card.get("heldout_note") else ""),
            "",
            "| measure | value |",
            "|---|---:|",
        ]
        for label, key, spec in _QUALITY_ROWS:
            if held.get(key) is not None:
                unit = " dB" if key.endswith("_db") else ""
                lines.append(f"| {label} | {_num(held[key], spec)}{unit} |")
        for family, value in sorted((held.get("family_nmse") or {}).items()):
            lines.append(f"| NMSE {family} | {_num(value)} |")
        lines.append("")
    lines += [
        "## Intended use",
        "",
        str(card.get("intended_use", "")),
        "",
        "## Limits",
        "",
        str(card.get("limits", "")),
        "",
        "## Configuration",
        "",
        "```json",
        _json(card.get("config")),
        "```",
        "",
    ]
    return "\n".join(lines)


def _json(value: Any) -> str:
    from ratecraft.jsonsafe import dumps

    return dumps(value, indent=1, sort_keys=True)
