"""The benchmark runner behind ``ratecraft bench`` and ``ratecraft demo``.

:func:`run_bench` fits, encodes, decodes and scores every input × codec × setting and returns one
plain ``dict`` per run; :func:`markdown_table` renders them and :func:`records_to_json` writes
them. Lossless-only codecs run once, losslessly; lossy codecs run at every lossy setting.

Every run decodes its own container. A lossless run must reproduce the input bit for bit and a
``max_error`` run must stay within its bound; otherwise the run is a *failure*. A codec that
refuses the input (a :class:`~ratecraft.errors.BadInputError` from ``fit``/``encode``, e.g.
NaN for a lossless integer codec) is recorded as *refused* with its reason, not as a failure.

Record keys (``None`` where a value does not apply)::

    input kind shape dtype codec setting lossless target_ratio target_max_error
    status ("ok" | "refused" | "failed") error
    raw_bytes container_bytes n_samples ratio bits_per_sample est_bits_per_sample
    fit_seconds encode_seconds decode_seconds encode_samples_per_s decode_samples_per_s
    bit_exact budget_met
    sndr_db prd_percent max_abs_error                 (recordings and tables)
    spike_f1 spike_window_sndr_db lfp_band_error      (recordings)
    spike_f1_truth                                    (recordings with simulator ground truth)
    family_nmse {family: nmse} nmse_mean               (tables)

``ratio`` is raw bytes / container bytes (headers included); a *sample* is one stored value
(channels × time, or samples × features). Encode throughput covers ``encode`` only; the time
spent in ``fit`` (rate control) is ``fit_seconds``. Each codec first codes a small slice of the
data once (``warm_up``), so one-time JIT compilation is not timed. JSON has no infinity and no
NaN: in :func:`records_to_json` ±inf becomes ±1e308 (an exact reconstruction has ``sndr_db`` 1e308)
and NaN becomes ``null``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ratecraft.codecs import Budget, default_codecs, get_codec
from ratecraft.codecs.base import Codec, as_block, codec_class
from ratecraft.data.types import Data, FeatureTable, Recording
from ratecraft.errors import BadInputError
from ratecraft.jsonsafe import json_safe

log = logging.getLogger(__name__)

LOSSLESS = Budget(lossless=True)

Settings = Sequence[Budget] | Mapping[str, Sequence[Budget]]
ResultHook = Callable[[dict[str, Any], Data, Data | None], None]


def setting_label(budget: Budget) -> str:
    """``lossless``, ``ratio=10`` or ``max_error=2``."""
    return budget.describe()


def runs_for_codec(codec: str, settings: Sequence[Budget]) -> list[Budget]:
    """Budgets ``codec`` runs at: lossless once for lossless-only codecs, else each lossy one.

    A lossy-capable codec also runs losslessly when ``settings`` holds an explicit lossless
    budget.
    """
    if not codec_class(codec).supports_lossy:
        return [LOSSLESS]
    return list(dict.fromkeys(settings))


def plan(
    inputs: Sequence[tuple[str, Data]], codecs: Sequence[str], settings: Settings
) -> list[tuple[str, Data, str, Budget]]:
    """Every (input name, data, codec, budget) :func:`run_bench` will run, in order."""
    out = []
    for name, data in inputs:
        budgets = settings.get(name, ()) if isinstance(settings, Mapping) else settings
        for codec in codecs:
            for budget in runs_for_codec(codec, budgets):
                out.append((name, data, codec, budget))
    return out


def run_bench(
    inputs: Sequence[tuple[str, Data]],
    codecs: Sequence[str] | None = None,
    settings: Settings = (),
    *,
    truths: Mapping[str, Any] | None = None,
    progress: bool = False,
    on_result: ResultHook | None = None,
    warm_up: bool = True,
    models: Sequence[Codec] = (),
) -> list[dict[str, Any]]:
    """Run every input × codec × setting; returns one record per run (see the module doc).

    ``codecs`` defaults to every registered codec. ``settings`` is a list of budgets for all
    inputs, or a mapping from input name to its own list. ``truths`` maps an input name to its
    simulator :class:`~ratecraft.data.synthetic.SpikeTruth` for ``spike_f1_truth``.
    ``on_result(record, original, reconstruction)`` sees every run (reconstruction ``None``
    when there is none), e.g. to keep one for a plot. ``progress`` shows a Rich progress bar on
    stderr. ``warm_up`` first codes a small slice of the data once per codec, data type and
    lossless/lossy mode, so that one-time costs (JIT compilation, imports) stay out of the
    timings. ``models`` are trained codecs (``Codec.load(model_dir)``): each codes every input
    once, as trained (its own budget; no fitting on the benchmarked data).
    """
    names = list(codecs) if codecs is not None else default_codecs()
    for name in names:
        codec_class(name)  # unknown names fail before any run
    runs: list[tuple[str, Data, str | Codec, Budget]] = list(plan(inputs, names, settings))
    runs += [(name, data, model, model.budget) for name, data in inputs for model in models]
    truths = truths or {}
    records: list[dict[str, Any]] = []
    warmed: set[tuple[str, str, str, bool]] = set()
    exact: dict[str, dict[str, Any]] = {}

    def one(name: str, data: Data, codec: str | Codec, budget: Budget) -> None:
        key = (str(codec), type(data).__name__, as_block(data).dtype.name, budget.lossless)
        if warm_up and isinstance(codec, str) and key not in warmed:
            warmed.add(key)
            _warm_up(codec, data, budget)
        record, recon = run_one(
            name, data, codec, budget, truth=truths.get(name), exact_cache=exact
        )
        records.append(record)
        if on_result is not None:
            on_result(record, data, recon)

    if not progress:
        for run in runs:
            one(*run)
        return records

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=sys.stderr)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("bench", total=len(runs))
        for run in runs:
            label = run[2] if isinstance(run[2], str) else run[2].name
            bar.update(task, description=f"{run[0]} · {label} · {setting_label(run[3])}")
            one(*run)
            bar.advance(task)
    return records


def _warm_up(codec: str, data: Data, budget: Budget) -> None:
    """Fit, encode and decode a small slice of ``data`` once; any error is left to the real run."""
    try:
        if isinstance(data, Recording):
            part: Data = Recording(
                samples=np.ascontiguousarray(data.samples[:4, :4096]),
                sample_rate=data.sample_rate,
                uv_per_step=data.uv_per_step,
            )
        else:
            part = FeatureTable(
                values=np.ascontiguousarray(data.values[:256]),
                feature_names=data.feature_names,
                families=data.families,
            )
        fitted = get_codec(codec).fit(part, budget)
        fitted.decode(fitted.encode(part))
    except Exception as exc:
        log.debug("warm-up of %s on %s failed: %s", codec, type(data).__name__, _one_line(exc))


def _empty_record(name: str, data: Data, codec: str, budget: Budget) -> dict[str, Any]:
    block = as_block(data)
    table = isinstance(data, FeatureTable)
    return {
        "input": name,
        "kind": "table" if table else "recording",
        "shape": list(data.values.shape if table else data.samples.shape),
        "dtype": block.dtype.name,
        "codec": codec,
        "setting": setting_label(budget),
        "lossless": bool(budget.lossless),
        "target_ratio": budget.ratio,
        "target_max_error": budget.max_error,
        "status": "ok",
        "error": None,
        "raw_bytes": int(block.nbytes),
        "container_bytes": None,
        "n_samples": int(block.size),
        "ratio": None,
        "bits_per_sample": None,
        "est_bits_per_sample": None,
        "fit_seconds": None,
        "encode_seconds": None,
        "decode_seconds": None,
        "encode_samples_per_s": None,
        "decode_samples_per_s": None,
        "bit_exact": None,
        "budget_met": None,
        "sndr_db": None,
        "prd_percent": None,
        "max_abs_error": None,
        "spike_f1": None,
        "spike_window_sndr_db": None,
        "lfp_band_error": None,
        "spike_f1_truth": None,
        "family_nmse": None,
        "nmse_mean": None,
        "lost_cells": None,
    }


def run_one(
    name: str,
    data: Data,
    codec: str | Codec,
    budget: Budget,
    *,
    truth: Any = None,
    exact_cache: dict[str, dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], Data | None]:
    """Fit, encode, decode and score one run; returns its record and the reconstruction.

    ``codec`` is a registered name (fitted here under ``budget``) or a trained codec, used as is.

    A bit-exact reconstruction is identical to the input, so its scores are the same for every
    codec: ``exact_cache`` (keyed by input name) keeps them after they are computed once.
    """
    trained = codec if isinstance(codec, Codec) else None
    record = _empty_record(name, data, trained.name if trained else str(codec), budget)
    if trained is not None and budget.lossless:  # fitted without a budget: its config's rate
        record.update(setting="as trained", lossless=False)
    try:
        start = time.perf_counter()
        fitted = trained or get_codec(str(codec)).fit(data, budget)
        fit_s = 0.0 if trained else time.perf_counter() - start
        start = time.perf_counter()
        blob, stats = fitted.encode_with_stats(data)
        enc_s = time.perf_counter() - start
    except BadInputError as exc:
        record.update(status="refused", error=_one_line(exc))
        log.info("%s / %s / %s refused: %s", name, codec, record["setting"], record["error"])
        return record, None
    except Exception as exc:
        return _failed(record, "encode", exc), None
    n = stats.n_samples
    record.update(
        container_bytes=stats.container_bytes,
        ratio=stats.ratio,
        bits_per_sample=stats.bits_per_sample,
        est_bits_per_sample=stats.estimated_bits_per_sample,
        fit_seconds=fit_s,
        encode_seconds=enc_s,
        encode_samples_per_s=n / max(enc_s, 1e-9),
    )
    try:
        start = time.perf_counter()
        recon = fitted.decode(blob)  # a trained codec decodes with its own weights
        dec_s = time.perf_counter() - start
    except Exception as exc:  # our own container must decode: anything else is a failure
        return _failed(record, "decode", exc), None
    record.update(decode_seconds=dec_s, decode_samples_per_s=n / max(dec_s, 1e-9))
    try:
        record["bit_exact"] = bit_exact(data, recon)
        if record["bit_exact"] and exact_cache is not None:
            if name not in exact_cache:
                exact_cache[name] = _quality(data, recon, truth)
            record.update(copy.deepcopy(exact_cache[name]))
        else:
            record.update(_quality(data, recon, truth))
    except Exception as exc:
        return _failed(record, "scoring", exc), recon
    if record["setting"] != "as trained":
        _check_budget(record, budget)
    return record, recon


def _failed(record: dict[str, Any], stage: str, exc: BaseException) -> dict[str, Any]:
    log.debug(
        "%s / %s / %s failed in %s",
        record["input"],
        record["codec"],
        record["setting"],
        stage,
        exc_info=exc,
    )
    record.update(status="failed", error=f"{stage}: {type(exc).__name__}: {_one_line(exc)}")
    return record


def _check_budget(record: dict[str, Any], budget: Budget) -> None:
    if budget.lossless:
        record["budget_met"] = bool(record["bit_exact"])
        if not record["bit_exact"]:
            record.update(status="failed", error="lossless round trip is not bit-exact")
    elif budget.max_error is not None:
        err = record["max_abs_error"]
        met = err is not None and err <= budget.max_error * (1 + 1e-12) + 1e-300
        record["budget_met"] = bool(met)
        if not met:
            record.update(
                status="failed",
                error=f"max abs error {err:.6g} exceeds the budget {budget.max_error:g}",
            )
    elif budget.ratio is not None:  # a target, not a promise: reported, never a failure
        record["budget_met"] = bool(record["ratio"] >= budget.ratio)


def bit_exact(original: Data, reconstructed: Data) -> bool:
    """Same type, shape, dtype and bytes (NaN payloads included)."""
    if type(original) is not type(reconstructed):
        return False
    a, b = as_block(original), as_block(reconstructed)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def _quality(original: Data, recon: Data, truth: Any) -> dict[str, Any]:
    if isinstance(original, Recording):
        assert isinstance(recon, Recording)
        from ratecraft.metrics import recording_quality

        out: dict[str, Any] = dict(
            recording_quality(original.samples, recon.samples, original.sample_rate)
        )
        if truth is not None and _spike_band_fits(original.sample_rate):
            out["spike_f1_truth"] = _truth_f1(original, recon, truth)
        return out
    assert isinstance(original, FeatureTable) and isinstance(recon, FeatureTable)
    from ratecraft.metrics import per_family_nmse

    x = original.values.astype(np.float64)
    y = recon.values.astype(np.float64)
    # cells a codec did not code (a learned codec drops mostly-missing features) are counted,
    # and the error is scored on the cells that came back
    lost = ~np.isnan(x) & ~np.isfinite(y)
    if lost.any():
        x = np.where(lost, np.nan, x)
    families = list(original.families or ["all"] * original.n_features)
    fam = per_family_nmse(x, y, families)
    finite = [v for v in fam.values() if math.isfinite(v)]
    valid = ~np.isnan(x)
    return {
        "sndr_db": table_sndr_db(x, y),
        "prd_percent": None,
        "max_abs_error": float(np.max(np.abs(x - y)[valid])) if valid.any() else None,
        "family_nmse": fam,
        "nmse_mean": float(np.mean(finite)) if finite else math.nan,
        "lost_cells": int(lost.sum()),
    }


def _truth_f1(original: Recording, recon: Recording, truth: Any) -> float:
    """Spike F1 of the reconstruction against the simulator's spikes, electrode by electrode.

    A channel must find the spikes whose trough there is at least twice its detection threshold
    (measured on the original); spikes between half and twice the threshold may be found or
    missed without penalty, since whether they cross depends on the noise, not on the codec.
    """
    from ratecraft.metrics import spike_f1_truth
    from ratecraft.metrics.spikes import spike_thresholds

    fs = original.sample_rate
    levels_uv = np.abs(spike_thresholds(original.samples, fs)) * original.uv_per_step
    must, may = [], []
    for c, level in enumerate(levels_uv):
        strong = truth.times_on_channel(c, min_amplitude_uv=2.0 * level)
        must.append(strong if strong.size else None)
        may.append(truth.times_on_channel(c, min_amplitude_uv=0.5 * level))
    return spike_f1_truth(must, recon.samples, fs, ignore_times_per_channel=may)


def _spike_band_fits(fs: float) -> bool:
    from ratecraft.metrics.spikes import spike_band_fits

    return bool(spike_band_fits(fs))


def table_sndr_db(x: np.ndarray, y: np.ndarray) -> float:
    """SNDR (dB) of a samples × features table over the entries the original has (not NaN).

    Signal power is taken about each feature's mean, as :func:`ratecraft.metrics.sndr_db` does
    per channel; ``inf`` for an exact reconstruction, ``nan`` when the reconstruction is not
    finite where the original is.
    """
    valid = ~np.isnan(x)
    if not valid.any():
        return math.nan
    if not np.isfinite(y[valid]).all():
        return math.nan
    counts = valid.sum(axis=0)
    means = np.where(valid, x, 0.0).sum(axis=0) / np.maximum(counts, 1)
    power = float(np.sum(np.where(valid, x - means, 0.0) ** 2))
    error = float(np.sum(np.where(valid, x - y, 0.0) ** 2))
    if error == 0.0:
        return math.inf
    if power == 0.0:
        return -math.inf
    return 10.0 * math.log10(power / error)


def failures(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs that failed (crash, corrupt own output, lossless not bit-exact, max error exceeded)."""
    return [r for r in records if r["status"] == "failed"]


# ---- output ---------------------------------------------------------------------------------


def records_to_json(records: Sequence[dict[str, Any]], *, indent: int = 2) -> str:
    """The records as strict JSON text (no NaN/Infinity tokens)."""
    return json.dumps(json_safe(list(records)), indent=indent, allow_nan=False) + "\n"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _num(value: Any, fmt: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and math.isnan(value):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return format(value, fmt)


def _rate(value: Any) -> str:
    if value is None:
        return "–"
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def _family_text(fam: dict[str, float] | None) -> str:
    """Every family's NMSE for up to four families, else the mean and the worst family."""
    if not fam:
        return "–"
    values = {k: v for k, v in fam.items() if v is not None and not math.isnan(v)}
    if values and all(v == 0 for v in values.values()):
        return "0 (exact)"
    if len(fam) <= 4 or not values:
        return " ".join(f"{k}={_num(v, '.1e')}" for k, v in fam.items())
    worst = max(values, key=lambda k: values[k])
    mean = sum(values.values()) / len(values)
    return f"mean={mean:.1e} worst {worst}={values[worst]:.1e}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(records: Sequence[dict[str, Any]]) -> str:
    """A GitHub-flavoured markdown table of the records, one row per run.

    Refused runs read ``n/a (refused: reason)`` and failed runs ``FAILED: reason``. The truth F1
    column (spikes detected on the reconstruction against the simulator's spike times) appears
    only when some record has it, the family NMSE column only when some input is a table (all
    families up to four, else the mean and the worst; every family is in the records).
    """
    has_truth = any(r.get("spike_f1_truth") is not None for r in records)
    has_table = any(r.get("kind") == "table" for r in records)
    header = [
        "input",
        "codec",
        "setting",
        "ratio",
        "bits/sample",
        "est. bits/sample",
        "SNDR dB",
        "spike F1",
    ]
    if has_truth:
        header.append("truth F1")
    if has_table:
        header.append("family NMSE")
    header += ["encode samples/s", "decode samples/s", "bit-exact"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in records:
        row = [r["input"], r["codec"], r["setting"]]
        if r["status"] == "refused":
            row.append(f"n/a (refused: {r['error']})")
            row += ["–"] * (len(header) - len(row))
        else:
            ratio = _num(r["ratio"], ".2f")
            if r["status"] == "failed":
                ratio = f"FAILED: {r['error']}" + (f" (ratio {ratio})" if r["ratio"] else "")
            row += [
                ratio,
                _num(r["bits_per_sample"], ".3f"),
                _num(r["est_bits_per_sample"], ".3f"),
                _num(r["sndr_db"], ".1f"),
                _num(r["spike_f1"], ".3f"),
            ]
            if has_truth:
                row.append(_num(r.get("spike_f1_truth"), ".3f"))
            if has_table:
                row.append(_family_text(r.get("family_nmse")))
            exact = r["bit_exact"]
            row += [
                _rate(r["encode_samples_per_s"]),
                _rate(r["decode_samples_per_s"]),
                "–" if exact is None else ("yes" if exact else "no"),
            ]
        lines.append("| " + " | ".join(_cell(str(c)) for c in row) + " |")
    return "\n".join(lines) + "\n"
