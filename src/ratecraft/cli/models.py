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

from ratecraft.cli.app import (
    app,
    command_group,
    console,
    describe_line,
    fmt,
    guarded,
    kv_table,
    notes,
    print_json,
    spinner,
)
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


# ---- the registry: ratecraft models … ---------------------------------------------------------

models_app = command_group(
    "models",
    "The model registry ($RATECRAFT_HOME, default ~/.ratecraft) and the shipped zoo: register, "
    "list, show, promote, roll back, remove, pull and export models with their cards.",
)

RegistryOption = Annotated[
    str | None,
    typer.Option(
        "--registry",
        help="Registry: a folder, or mlflow:URI for MLflow's model registry "
        "(default $RATECRAFT_REGISTRY, else $RATECRAFT_HOME or ~/.ratecraft).",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _version_rows(v: Any) -> list[tuple[str, str]]:
    from datetime import UTC, datetime

    held = (v.card or {}).get("heldout") or {}
    rows = [
        ("codec", v.codec),
        ("aliases", ", ".join(v.aliases) or "–"),
        ("model sha256", v.model_sha256 or "– (config in the header)"),
        ("created", datetime.fromtimestamp(v.created, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("source", v.source),
        ("bytes", f"{v.bytes:,}"),
    ]
    if held.get("status") == "ok":
        figures = [
            f"ratio {held['ratio']:.2f}" if held.get("ratio") else None,
            f"SNDR {held['sndr_db']:.1f} dB" if held.get("sndr_db") is not None else None,
            f"spike F1 {held['spike_f1']:.3f}" if held.get("spike_f1") is not None else None,
        ]
        rows.append(("held-out", ", ".join(f for f in figures if f)))
    return rows


@models_app.command("register")
@guarded
def register_cmd(
    folder: Annotated[str, typer.Argument(help="A codec folder (from `fit`), or zoo:NAME.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Model name to file it under.")],
    alias: Annotated[
        list[str] | None, typer.Option("--alias", "-a", help="Alias to point at it (repeatable).")
    ] = None,
    eval_data: Annotated[
        Path | None,
        typer.Option("--eval", help="Held-out data the card's quality is measured on."),
    ] = None,
    train_data: Annotated[
        Path | None, typer.Option("--train-data", help="The data it was trained on (fingerprint).")
    ] = None,
    description: Annotated[str, typer.Option(help="One line for the card.")] = "",
    registry: RegistryOption = None,
    as_json: JsonFlag = False,
) -> None:
    """File a codec folder as the next version of a model, with its model card.

    The card holds the fit report, the training data's fingerprint (--train-data) and a
    held-out evaluation on --eval (real ratio, SNDR, spike F1, LFP SNDR or family NMSE,
    latency). A zoo model keeps its shipped card.
    """
    from ratecraft import api
    from ratecraft.registry import build_card, check_name
    from ratecraft.registry.backends import open_registry
    from ratecraft.registry.names import ZOO_PREFIX
    from ratecraft.registry.zoo import load_zoo, zoo_card, zoo_folder

    check_name(name)
    reg = open_registry(registry)
    if folder.startswith(ZOO_PREFIX):
        zoo = folder[len(ZOO_PREFIX) :]
        card = zoo_card(zoo)
        source_dir = zoo_folder(zoo)
        if eval_data is not None or train_data is not None:
            card = build_card(
                load_zoo(zoo),
                trained_on=api.load(train_data) if train_data else None,
                heldout=api.load(eval_data) if eval_data else None,
                description=description or card.get("description", ""),
            )
    else:
        source_dir = Path(folder)
        codec = api.load_codec(source_dir)
        with spinner("measuring the model card" + (f" on {eval_data}" if eval_data else "")):
            card = build_card(
                codec,
                trained_on=api.load(train_data) if train_data else None,
                heldout=api.load(eval_data) if eval_data else None,
                description=description,
            )
    v = reg.register(source_dir, name, card=card, aliases=tuple(alias or ()), source=folder)
    if as_json:
        print_json(v.to_json())
        return
    kv_table(f"registered {v.ref}", _version_rows(v))


@models_app.command("list")
@guarded
def list_cmd(
    zoo: Annotated[
        bool, typer.Option("--zoo", help="List the shipped zoo models instead.")
    ] = False,
    registry: RegistryOption = None,
    as_json: JsonFlag = False,
) -> None:
    """List the registry's models (versions and aliases), or the zoo with --zoo."""
    from rich.table import Table

    from ratecraft.registry.backends import open_registry
    from ratecraft.registry.zoo import zoo_card, zoo_models

    rows: list[dict[str, Any]] = []
    if zoo:
        for name in zoo_models():
            card = zoo_card(name)
            held = card.get("heldout") or {}
            rows.append(
                {
                    "name": f"zoo:{name}",
                    "codec": card.get("codec"),
                    "description": card.get("description", ""),
                    "ratio": held.get("ratio"),
                    "sndr_db": held.get("sndr_db"),
                    "spike_f1": held.get("spike_f1"),
                    "model_sha256": card.get("model_sha256"),
                }
            )
    else:
        reg = open_registry(registry)
        for name in reg.names():
            versions = reg.versions(name)
            latest = versions[-1]
            rows.append(
                {
                    "name": name,
                    "versions": [v.version for v in versions],
                    "aliases": reg.aliases(name),
                    "latest": latest.ref,
                    "codec": latest.codec,
                }
            )
    if as_json:
        print_json(rows)
        return
    table = Table(box=None, pad_edge=False)
    if zoo:
        for col in ("model", "codec", "held-out ratio", "SNDR dB", "spike F1", "what"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(
                r["name"],
                str(r["codec"]),
                fmt(r["ratio"], ".1f"),
                fmt(r["sndr_db"], ".1f"),
                fmt(r["spike_f1"], ".3f"),
                r["description"],
            )
    else:
        for col in ("model", "codec", "versions", "aliases"):
            table.add_column(col, overflow="fold")
        for r in rows:
            aliases = ", ".join(f"{a}→{v}" for a, v in r["aliases"].items()) or "–"
            table.add_row(r["name"], r["codec"], ", ".join(map(str, r["versions"])), aliases)
    if not rows:
        notes.info("no models%s", " in the zoo" if zoo else " registered yet")
        return
    console().print(table)


@models_app.command("show")
@guarded
def show_cmd(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION, NAME@ALIAS or zoo:NAME.")],
    events: Annotated[bool, typer.Option("--events", help="Also list the model's events.")] = False,
    registry: RegistryOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Show one version and its model card (markdown; --json for the card as data)."""
    from ratecraft.registry import card_markdown, parse_ref
    from ratecraft.registry.backends import open_registry
    from ratecraft.registry.zoo import zoo_card

    parsed = parse_ref(ref)
    if parsed.zoo:
        card = zoo_card(parsed.name)
        if as_json:
            print_json({"name": str(parsed), "card": card})
        else:
            typer.echo(card_markdown(card, str(parsed)))
        return
    reg = open_registry(registry)
    v = reg.get(parsed)
    history = [e.to_json() for e in reg.events(v.name)] if events else []
    if as_json:
        print_json({**v.to_json(), **({"events": history} if events else {})})
        return
    kv_table(v.ref, _version_rows(v))
    typer.echo("")
    typer.echo(card_markdown(v.card, v.ref))
    if events:
        from datetime import UTC, datetime

        for e in history:
            at = datetime.fromtimestamp(e["at"], UTC).strftime("%Y-%m-%d %H:%M:%S")
            typer.echo(f"{at}  v{e['version']}  {e['kind']:<9} {e['who']}: {e['why']}")


@models_app.command("promote")
@guarded
def promote_cmd(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or NAME@ALIAS) to point at.")],
    alias: Annotated[str, typer.Option("--alias", "-a", help="Alias to set (e.g. production).")],
    why: Annotated[str, typer.Option(help="Reason, kept in the model's events.")] = "promoted",
    registry: RegistryOption = None,
) -> None:
    """Point an alias at a version (the alias's earlier versions are kept for rollback)."""
    from ratecraft.registry.backends import open_registry

    v = open_registry(registry).promote(ref, alias, why=why)
    console().print(f"{v.name}@{alias} → version {v.version}")


@models_app.command("rollback")
@guarded
def rollback_cmd(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Option("--alias", "-a", help="Alias to move back.")],
    why: Annotated[str, typer.Option(help="Reason, kept in the model's events.")] = "rolled back",
    registry: RegistryOption = None,
) -> None:
    """Point an alias back at the version it named before."""
    from ratecraft.registry.backends import open_registry

    v = open_registry(registry).rollback(name, alias, why=why)
    console().print(f"{v.name}@{alias} → version {v.version} (rolled back)")


@models_app.command("remove")
@guarded
def remove_cmd(
    ref: Annotated[str, typer.Argument(help="NAME (every version) or NAME@VERSION.")],
    force: Annotated[
        bool, typer.Option("--force", help="Also remove versions aliases point at.")
    ] = False,
    registry: RegistryOption = None,
) -> None:
    """Remove a version, or a whole model, and the files no other version shares."""
    from ratecraft.registry.backends import open_registry

    gone = open_registry(registry).remove(ref, force=force)
    console().print("removed " + ", ".join(v.ref for v in gone))


@models_app.command("pull")
@guarded
def pull_cmd(
    url: Annotated[str, typer.Argument(help="http(s) URL of a model .tar (from `models export`).")],
    sha256: Annotated[str, typer.Option("--sha256", help="SHA-256 the download must have.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Model name to file it under.")],
    alias: Annotated[
        list[str] | None, typer.Option("--alias", "-a", help="Alias to point at it (repeatable).")
    ] = None,
    registry: RegistryOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Download a model archive, check its SHA-256 and register it (card included)."""
    from ratecraft.registry.backends import open_registry
    from ratecraft.registry.transfer import pull

    with spinner(f"pulling {url}"):
        v = pull(open_registry(registry), url, sha256, name, aliases=tuple(alias or ()))
    if as_json:
        print_json(v.to_json())
        return
    kv_table(f"pulled {v.ref}", _version_rows(v))


@models_app.command("export")
@guarded
def export_cmd(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="A .tar to write, or a new folder.")
    ],
    registry: RegistryOption = None,
) -> None:
    """Write a version out: a .tar for `models pull`, or a codec folder with its card.

    A .tar prints its SHA-256 (give it to `models pull --sha256`); a folder gets card.json and
    card.md beside the codec files.
    """
    from ratecraft.registry.backends import open_registry
    from ratecraft.registry.transfer import export_version

    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise BadInputError(f"{output}: folder {folder} does not exist")
    v, sha = export_version(open_registry(registry), ref, output)
    console().print(f"wrote {output}: {v.ref}" + (f" (sha256 {sha})" if sha else ""))


@models_app.command("check")
@guarded
def check_cmd(registry: RegistryOption = None, as_json: JsonFlag = False) -> None:
    """Check the registry's consistency (exit 1 when anything is wrong).

    SQLite's integrity check, every blob present and intact, no orphan blobs, aliases on
    complete versions.
    """
    from ratecraft.registry.backends import open_registry

    report = open_registry(registry).check()
    if as_json:
        print_json(report)
    else:
        kv_table(
            f"registry {report['home']}: {'ok' if report['ok'] else 'PROBLEMS'}",
            [(k.replace("_", " "), str(v)) for k, v in report.items() if k not in ("home", "ok")],
        )
    if not report["ok"]:
        raise typer.Exit(1)
