"""``ratecraft fit`` and ``ratecraft diagnose``: fit a codec to data and save it, then inspect it.

``fit`` trains table codecs and recording codecs (``conv-ae``, ``lstm-ae``, ``transformer``,
``spatial``, ``vae``, ``spike-lfp``) alike, and fits any other codec's rate control (``quant``
at a ratio keeps its step); ``--resume`` continues an interrupted training.

Registered on the main Typer app (see :mod:`ratecraft.cli`), with the same one-line errors and
exit codes. A model folder holds ``weights.safetensors`` and ``codec.json``; it is written into a
temporary folder beside the target and renamed, so a failed fit leaves nothing behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from ratecraft.cli.app import app, describe_line, guarded, kv_table, notes, print_json, spinner
from ratecraft.cli.codecs import (
    ConfigOption,
    SetOption,
    codec_options,
    read_options,
    warn_replaced,
)
from ratecraft.cli.data import FormatOption, StreamOption
from ratecraft.errors import BadInputError


def _publish_folder(staged: Path, target: Path) -> None:
    """Move a finished model folder onto ``target`` (replacing an earlier model only)."""
    if target.exists():
        if not target.is_dir() or (any(target.iterdir()) and not (target / "codec.json").exists()):
            raise BadInputError(f"{target}: exists and is not a model folder; choose another")
        shutil.rmtree(target)
    staged.rename(target)


@app.command("fit")
@guarded
def fit_cmd(
    data_files: Annotated[
        list[Path],
        typer.Argument(
            help="Training data: tables (.csv, .npz, .h5) or recordings; files, folders or "
            "globs (quoted)."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model folder to write.")],
    val: Annotated[
        list[Path] | None,
        typer.Option(
            "--val",
            help="Validation recordings (repeatable); without it whole recordings are held "
            "out, seeded.",
        ),
    ] = None,
    codec: Annotated[
        str | None,
        typer.Option(help="Codec to fit (default: spike-lfp for recordings, vqvae for tables)."),
    ] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
    ratio: Annotated[
        float | None,
        typer.Option(help="Target raw/compressed ratio; without it the config's own size."),
    ] = None,
    kind: Annotated[
        str | None, typer.Option(help="Read a 2-D array as 'recording' or 'table'.")
    ] = None,
    fs: Annotated[
        float | None, typer.Option(help="Sample rate (Hz) for recordings without one.")
    ] = None,
    data_format: FormatOption = None,
    stream: StreamOption = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted fit of the same -o folder.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Fit a codec to data files (training it when it learns) and save it as a model folder.

    Several recordings train a windowed learned codec (conv-ae by default) without being read
    into memory: windows stream through DataLoader workers (--set train.workers=N) and whole
    recordings validate. Under `torchrun --nproc_per_node N -m ratecraft fit …` the processes
    share every batch (gloo) and rank 0 writes the model.

    The folder holds codec.json (plus weights.safetensors for a trained codec); `encode --model`
    and `decode --model` use it. Training checkpoints go to a hidden folder beside it
    (.NAME.train), so an interrupted fit continues with --resume; the model folder keeps the
    training metrics.jsonl (and tensorboard/ when tensorboard is installed). The summary gives
    the real ratio of the model on the training data.
    """
    from ratecraft import api
    from ratecraft.codecs import Budget, get_codec

    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise BadInputError(f"{output}: folder {folder} does not exist")
    given = read_options(config, set_)
    options = codec_options(codec, config, given) if codec is not None else None
    train_dir = folder / f".{output.name}.train"
    if resume and not train_dir.is_dir():
        raise BadInputError(f"--resume: no interrupted fit of {output} to continue ({train_dir})")
    from ratecraft.data.recording_set import RecordingSet
    from ratecraft.train.distributed import finish, join_from_env

    rank, _ = join_from_env()
    try:
        data, name = api.open_training(
            list(data_files), list(val or []), codec=codec, config=options, fs=fs, kind=kind,
            fmt=data_format, stream=stream,
        )  # fmt: skip
        try:
            if codec is None:
                notes.debug("fitting %s, the default codec for this data", name)
                options = codec_options(name, config, given)
            if isinstance(data, RecordingSet):
                notes.debug(
                    "training on %d recordings, validating on %d", len(data.train), len(data.val)
                )
            else:
                notes.debug("read %s: %s", data_files[0], describe_line(data))
            if rank == 0 and not resume and train_dir.exists():
                shutil.rmtree(train_dir)
            budget = Budget(ratio=ratio) if ratio is not None else None
            with spinner(f"fitting {name}" + (f" (ratio={ratio:g})" if ratio else "")):
                fitted = get_codec(name, options).fit(
                    data, budget, train_dir=train_dir if rank == 0 else None, resume=resume
                )
        finally:
            if isinstance(data, RecordingSet):
                data.close()
    finally:
        finish()
    if rank != 0:
        return  # rank 0 writes the model and reports
    codec = name
    warn_replaced(codec, options, fitted.config)
    staged = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=folder))
    try:
        fitted.save(staged)
        if (train_dir / "metrics.jsonl").exists():
            shutil.copyfile(train_dir / "metrics.jsonl", staged / "metrics.jsonl")
        if (train_dir / "tensorboard").is_dir():
            shutil.copytree(train_dir / "tensorboard", staged / "tensorboard")
        _publish_folder(staged, output)
    finally:
        if staged.exists():
            shutil.rmtree(staged)
    shutil.rmtree(train_dir, ignore_errors=True)
    doc = {"codec": codec, "model": str(output), **dict(fitted.fit_report), "target_ratio": ratio}
    if isinstance(data, RecordingSet):  # the fit report measured a held-out recording's stretch
        doc["measured_on"] = "held-out recording"
    else:
        with spinner("measuring the model on the training data"):
            _, stats = fitted.encode_with_stats(data)
        doc.update(
            ratio=stats.ratio,  # the real container of the training data, as `encode` writes it
            bits_per_sample=stats.bits_per_sample,
            estimated_bits_per_sample=stats.estimated_bits_per_sample,
        )
    if as_json:
        print_json(doc)
        return
    kv_table(f"fitted {codec} -> {output}", summary_rows(doc))


_SHOWN_FIRST = ("codec", "model", "ratio", "target_ratio", "bits_per_sample")
_LABELS = {
    "ratio": "ratio on the training data",
    "model_ratio": "ratio of the model alone",
    "target_ratio": "target ratio",
    "bits_per_sample": "bits/sample (per stored value)",
    "val_loss": "validation loss",
    "lmbda": "λ (rate–distortion weight)",
}


def summary_rows(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """The rows of a fit summary: the real rate first, then what the codec reports, every
    value in full (nested figures flattened, long lists counted)."""
    rows = [("codec", str(doc["codec"])), ("model", str(doc["model"]))]
    target = doc.get("target_ratio")
    ratio = f"{doc['ratio']:.3f}" + (f" (target {target:g})" if target else "")
    label = _LABELS["ratio"]
    if doc.get("measured_on"):
        label = f"ratio on a {doc['measured_on']}"
    rows.append((label, ratio))
    est = doc.get("estimated_bits_per_sample")
    rows.append(
        (
            _LABELS["bits_per_sample"],
            f"{doc['bits_per_sample']:.4g} real"
            + (f", {est:.4g} estimated" if est is not None else ""),
        )
    )
    for key, value in doc.items():
        if key in (*_SHOWN_FIRST, "estimated_bits_per_sample", "measured_on") or value is None:
            continue
        rows.append((_LABELS.get(key, key.replace("_", " ")), _value_text(value)))
    return rows


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value_text(v)}" for k, v in value.items() if v is not None)
    if isinstance(value, list) and (len(value) > 6 or any(isinstance(v, dict) for v in value)):
        return f"{len(value)} entries (--json lists them)"
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value)
    return str(value)


@app.command("diagnose")
@guarded
def diagnose_cmd(
    data_file: Annotated[Path, typer.Argument(help="Table to diagnose the model on.")],
    model: Annotated[Path, typer.Option(help="Model folder from `ratecraft fit`.")],
    labels: Annotated[
        Path | None,
        typer.Option(help="1-D .npy of targets for the semantic-preservation check."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the diagnostics as JSON.")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Read a 2-D array as 'table'.")] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Also draw the per-category panels into this PNG.")
    ] = None,
) -> None:
    """Per-category error, allocation and codebook health of a trained table codec."""
    from ratecraft import api
    from ratecraft.atomic import atomic_write
    from ratecraft.diagnostics import diagnose, markdown

    codec = api.load_codec(model)
    table = api.load(data_file, kind=kind)
    target = None
    if labels is not None:
        try:
            target = np.load(labels, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise BadInputError(f"{labels}: cannot read labels ({exc})") from None
        if target.ndim != 1:
            raise BadInputError(f"{labels}: labels must be 1-D, got shape {target.shape}")
    diag = diagnose(codec, table, target=target)
    typer.echo(markdown(diag))
    if json_out is not None:
        atomic_write(json_out, json.dumps(diag, indent=1, default=_json_default).encode())
    if plot is not None:
        from ratecraft.diagnostics.plots import plot_diagnostics

        plot_diagnostics(diag, plot)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")
