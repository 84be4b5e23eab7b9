"""Run codecs on data: the plan of input × codec × setting, one honest record per run.

:func:`run_one` fits a codec under a budget (or takes a trained one as it is), encodes, decodes
its own container and scores the reconstruction; :func:`run_bench` runs a whole plan, warming
each codec up first so one-time costs (JIT compilation, imports) stay out of the timings.
:func:`record_peer` gives a tool that is not a ratecraft codec (FLAC, xz, WavPack …) the same
record, scored the same way.

A codec that refuses the input or the setting (a :class:`~ratecraft.errors.BadInputError`, e.g.
NaN for a lossless integer codec, or a missing optional extra) is recorded as *refused* with its
reason; anything else that goes wrong — a crash, a container that does not decode, a lossless
run that is not bit-exact, a max-error run over its bound — is a *failure*.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ratecraft import progress
from ratecraft.bench.records import RunRecord
from ratecraft.bench.scoring import score
from ratecraft.codecs import Budget, default_codecs, get_codec
from ratecraft.codecs.base import Codec, codec_class
from ratecraft.data.types import Data, FeatureTable, Recording, as_block
from ratecraft.errors import BadInputError, MissingExtraError

if TYPE_CHECKING:
    from ratecraft.data.synthetic import SpikeTruth

log = logging.getLogger(__name__)

LOSSLESS = Budget(lossless=True)
AS_TRAINED = "as trained"
REFUSALS = (BadInputError, MissingExtraError)

Settings = Sequence[Budget] | Mapping[str, Sequence[Budget]]
ResultHook = Callable[[RunRecord, Data, Data | None], None]
# (original, reconstruction, the fitted codec or None for a peer tool) -> figures for ``extra``
ExtraHook = Callable[[Data, Data, Codec | None], Mapping[str, Any]]


def runs_for_codec(codec: str, settings: Sequence[Budget]) -> list[Budget]:
    """Budgets ``codec`` runs at: lossless once for lossless-only codecs, else each given one
    (a lossy-capable codec runs losslessly when ``settings`` holds a lossless budget)."""
    if not codec_class(codec).supports_lossy:
        return [LOSSLESS]
    return list(dict.fromkeys(settings))


def plan(
    inputs: Sequence[tuple[str, Data]], codecs: Sequence[str], settings: Settings
) -> list[tuple[str, Data, str, Budget]]:
    """Every (input name, data, codec, budget) :func:`run_bench` runs, in order. ``settings``
    is one list of budgets for all inputs, or a mapping from input name to its own list."""
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
    truths: Mapping[str, SpikeTruth] | None = None,
    on_result: ResultHook | None = None,
    warm_up: bool = True,
    models: Sequence[Codec] = (),
) -> list[RunRecord]:
    """Run every input × codec × setting (:func:`plan`); one record per run.

    ``codecs`` defaults to :func:`~ratecraft.codecs.default_codecs`; an unknown name fails
    before anything runs. ``truths`` maps an input name to its simulator spike truth (for
    ``spike_f1_truth``). ``on_result(record, original, reconstruction)`` sees every run
    (reconstruction ``None`` when there is none), e.g. to keep one for a plot. Progress goes to
    :mod:`ratecraft.progress` (task ``bench``, one step per run). ``warm_up`` first codes a
    small slice of the data once per codec, data type and lossless/lossy mode. ``models`` are
    trained codecs (``Codec.load(dir)``): each codes every input once, as trained (no fitting
    on the benchmarked data).
    """
    names = list(codecs) if codecs is not None else default_codecs()
    for name in names:
        codec_class(name)  # unknown names fail before any run
    runs: list[tuple[str, Data, str | Codec, Budget]] = list(plan(inputs, names, settings))
    runs += [(name, data, model, model.budget) for name, data in inputs for model in models]
    truths = truths or {}
    records: list[RunRecord] = []
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

    for i, run in enumerate(runs):
        label = run[2] if isinstance(run[2], str) else run[2].name
        progress.report(
            "bench", i, len(runs), unit="run", running=f"{run[0]} · {label} · {run[3].describe()}"
        )
        one(*run)
    progress.finish("bench")
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
        log.debug("warm-up of %s on %s failed: %s", codec, type(data).__name__, one_line(exc))


def run_one(
    name: str,
    data: Data,
    codec: str | Codec,
    budget: Budget,
    *,
    truth: SpikeTruth | None = None,
    config: Mapping[str, Any] | None = None,
    fit_data: Data | None = None,
    repeats: int = 1,
    measure: bool = True,
    extra: ExtraHook | None = None,
    exact_cache: dict[str, dict[str, Any]] | None = None,
) -> tuple[RunRecord, Data | None]:
    """Fit, encode, decode and score one run; its record and the reconstruction.

    ``codec`` is a registered name, built with ``config`` and fitted under ``budget`` on
    ``fit_data`` (default: ``data`` itself; a benchmark trains on a separate split), or a
    trained codec, used as it is (setting ``as trained``, no budget check). With ``repeats`` >
    1 the first encode and decode are a warm-up and the times kept are the best of ``repeats``
    more (each must write the same bytes). ``measure=False`` scores bit-exactness only.
    ``extra(original, reconstruction, codec)`` adds a benchmark's own figures; ``exact_cache``
    shares the quality of bit-exact runs between codecs (:func:`~ratecraft.bench.scoring.score`).
    """
    trained = codec if isinstance(codec, Codec) else None
    label = trained.name if trained else str(codec)
    record = RunRecord.start(name, data, label, budget)
    if trained is not None and budget.lossless:  # fitted without a budget: its config's rate
        record.set(setting=AS_TRAINED, lossless=False)
    try:
        start = time.perf_counter()
        fitted = trained or get_codec(label, dict(config or {})).fit(
            data if fit_data is None else fit_data, budget
        )
        fit_s = 0.0 if trained else time.perf_counter() - start
        start = time.perf_counter()
        blob, stats = fitted.encode_with_stats(data)
        enc_s = time.perf_counter() - start
    except REFUSALS as exc:
        record.set(status="refused", error=one_line(exc))
        log.info("%s / %s / %s refused: %s", name, label, record.setting, record.error)
        return record, None
    except Exception as exc:
        return failed(record, "encode", exc), None
    record.set(
        container_bytes=stats.container_bytes,
        estimated_bits=stats.estimated_bits,
        fit_seconds=fit_s,
        encode_seconds=enc_s,
    )
    try:
        start = time.perf_counter()
        recon = fitted.decode(blob)  # a trained codec decodes with its own weights
        record.decode_seconds = time.perf_counter() - start
        if repeats > 1:
            record.set(**_best_of(fitted, data, blob, repeats))
    except Exception as exc:  # our own container must decode: anything else is a failure
        return failed(record, "decode", exc), None
    try:
        record.model_bytes = model_bytes(fitted)
        score(
            record,
            data,
            recon,
            budget=None if record.setting == AS_TRAINED else budget,
            truth=truth,
            measure=measure,
            exact_cache=exact_cache,
        )
        if extra is not None:
            record.extra.update(extra(data, recon, fitted))
    except Exception as exc:
        return failed(record, "scoring", exc), recon
    return record, recon


def _best_of(codec: Codec, data: Data, blob: bytes, repeats: int) -> dict[str, float]:
    """Best encode and decode seconds of ``repeats`` round trips (after the untimed first)."""
    enc, dec = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        again, _ = codec.encode_with_stats(data)
        enc.append(time.perf_counter() - start)
        start = time.perf_counter()
        codec.decode(again)
        dec.append(time.perf_counter() - start)
        if again != blob:
            raise RuntimeError("encoding the same data twice wrote different bytes")
    return {"encode_seconds": min(enc), "decode_seconds": min(dec)}


def record_peer(
    name: str,
    data: Data,
    codec: str,
    setting: str | Budget,
    *,
    container_bytes: int,
    encode_seconds: float,
    decode_seconds: float,
    reconstruction: Data,
    lossless: bool = False,
    truth: SpikeTruth | None = None,
    measure: bool = True,
    extra: ExtraHook | None = None,
) -> RunRecord:
    """The record of a tool that is not a ratecraft codec, scored as :func:`run_one` scores.

    ``setting`` is the budget it was asked to meet or its own description (``lossless`` then
    says whether it promises bit-exactness, which is checked like a codec's).
    """
    record = RunRecord.start(name, data, codec, setting, lossless=lossless)
    record.set(
        container_bytes=int(container_bytes),
        encode_seconds=encode_seconds,
        decode_seconds=decode_seconds,
        model_bytes=0,
    )
    budget = setting if isinstance(setting, Budget) else (LOSSLESS if lossless else None)
    try:
        score(record, data, reconstruction, budget=budget, truth=truth, measure=measure)
        if extra is not None:
            record.extra.update(extra(data, reconstruction, None))
    except Exception as exc:
        return failed(record, "scoring", exc)
    return record


def model_bytes(codec: Codec) -> int:
    """Bytes of the saved model (weights + codec.json) a decoder needs; 0 when it needs none."""
    if codec.model_sha256() is None:
        return 0
    with tempfile.TemporaryDirectory(prefix="rc-model-") as tmp:
        codec.save(tmp)
        return sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())


def failed(record: RunRecord, stage: str, exc: BaseException) -> RunRecord:
    """Mark ``record`` failed in ``stage`` with the one-line reason (traceback at debug level)."""
    log.debug(
        "%s / %s / %s failed in %s", record.input, record.codec, record.setting, stage, exc_info=exc
    )
    return record.set(status="failed", error=f"{stage}: {type(exc).__name__}: {one_line(exc)}")


def one_line(text: object) -> str:
    return " ".join(str(text).split())
