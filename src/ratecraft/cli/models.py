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

from ratecraft.cli.app import app, guarded, kv_table, print_json, spinner
from ratecraft.errors import BadInputError


def _read_config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    import yaml

    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise BadInputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise BadInputError(f"{path}: the config must be a mapping of options")
    return doc


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
    data_file: Annotated[
        Path, typer.Argument(help="Training data: a table (.csv, .npz, .h5) or a recording.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model folder to write.")],
    codec: Annotated[str, typer.Option(help="Learned codec to train.")] = "vqvae",
    config: Annotated[
        Path | None, typer.Option(help="YAML with codec options (model, ratios, training).")
    ] = None,
    ratio: Annotated[
        float | None, typer.Option(help="Target raw/compressed ratio; default: the config's bits.")
    ] = None,
    kind: Annotated[
        str | None, typer.Option(help="Read a 2-D array as 'recording' or 'table'.")
    ] = None,
    fs: Annotated[
        float | None, typer.Option(help="Sample rate (Hz) for recordings without one.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted fit of the same -o folder.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Fit a codec to a data file (training it when it learns) and save it (codec.json, plus
    weights.safetensors for a trained one); `encode --model` then uses it.

    Training checkpoints go to a hidden folder beside the model (``.NAME.train``), so an
    interrupted fit continues with ``--resume``; it is removed once the model is written (the
    model folder keeps the training ``metrics.jsonl`` and, when tensorboard is installed, the
    ``tensorboard/`` event files).
    """
    from ratecraft import api
    from ratecraft.codecs import Budget, get_codec

    options = _read_config(config)
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise BadInputError(f"{output}: folder {folder} does not exist")
    train_dir = folder / f".{output.name}.train"
    if resume and not train_dir.is_dir():
        raise BadInputError(f"--resume: no interrupted fit of {output} to continue ({train_dir})")
    if not resume and train_dir.exists():
        shutil.rmtree(train_dir)
    data = api.load(data_file, kind=kind, fs=fs)
    budget = Budget(ratio=ratio) if ratio is not None else None
    with spinner(f"training {codec}"):
        fitted = get_codec(codec, options).fit(data, budget, train_dir=train_dir, resume=resume)
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
    report: dict[str, Any] = dict(fitted.fit_report)
    doc = {"codec": codec, "model": str(output), **report}
    if as_json:
        print_json(doc)
        return
    kv_table(f"trained {codec} -> {output}", [(k, _short(v)) for k, v in doc.items()])


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


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
