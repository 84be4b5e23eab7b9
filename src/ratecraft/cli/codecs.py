"""``ratecraft codecs [NAME]``: the registered codecs, and one codec's options.

Also the shared reading of codec options for ``encode`` and ``fit``: ``--config FILE`` (YAML or
JSON) with ``--set KEY=VALUE`` on top, keys checked against the codec's config (unknown keys are
refused with the closest names), values validated when the codec is built.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from ratecraft.cli.app import app, console, guarded, notes, print_json, read_mapping
from ratecraft.errors import BadInputError

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="YAML or JSON file of codec options (`ratecraft codecs NAME`)."),
]
EncodeConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="YAML or JSON file of codec options (`ratecraft codecs NAME`), or a strategy.json "
        "an autopilot run wrote (it names the codec and budget too).",
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Codec option KEY=VALUE, over --config; dotted keys for groups (train.epochs=2). "
        "Repeatable.",
    ),
]


def read_options(
    config: Path | None, sets: list[str] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """What ``--config`` and ``--set`` say, read and parsed (keys not checked yet)."""
    from ratecraft.options import parse_settings

    return ({} if config is None else read_mapping(config)), parse_settings(sets or [])


def codec_options(
    codec: str, config: Path | None, given: tuple[dict[str, Any], dict[str, Any]]
) -> dict[str, Any]:
    """The options ``--config`` (the file ``config``) and ``--set`` give ``codec`` (``given``,
    from :func:`read_options`), every key checked against its config; ``--set`` wins."""
    from ratecraft.codecs.base import codec_class
    from ratecraft.options import check_keys, merge

    cls = codec_class(codec)
    hint = f" (`ratecraft codecs {codec}` lists them)"
    doc, sets = given
    if doc:
        check_keys(doc, cls.config_cls, f"{config}", hint)
    if sets:
        check_keys(sets, cls.config_cls, "--set", hint)
    return merge(doc, sets)


def encode_choice(
    codec: str | None,
    lossless: bool,
    ratio: float | None,
    max_error: float | None,
    config: Path | None,
    sets: list[str] | None,
) -> tuple[str | None, Any, tuple[dict[str, Any], dict[str, Any]]]:
    """``(codec or None, budget, (options, sets))`` of ``encode``: from the flags with
    ``--config`` options, or from a strategy file the autopilot wrote (``--config
    strategy.json``), which names its codec and budget itself. With no codec named, the default
    depends on the data's kind (:func:`encode_options` picks it once the input is open)."""
    from ratecraft import api
    from ratecraft.autopilot.replay import is_strategy, read_codec_plan

    given = read_options(config, sets)
    if config is not None and is_strategy(given[0]):
        if codec or lossless or ratio is not None or max_error is not None:
            raise BadInputError(
                f"{config} is a strategy file: it names the codec and budget; drop --codec, "
                "--lossless, --ratio and --max-error"
            )
        name, budget, options = read_codec_plan(given[0], str(config))
        api.check_codec(name, budget)
        return name, budget, (options, given[1])
    budget = api.make_budget(lossless=lossless, ratio=ratio, max_error=max_error)
    if codec is not None:
        api.check_codec(codec, budget)
    return codec, budget, given


def encode_options(
    codec: str | None,
    budget: Any,
    kind: str,
    config: Path | None,
    given: tuple[dict[str, Any], dict[str, Any]],
) -> tuple[str, dict[str, Any]]:
    """The codec (the default for ``kind`` when none was named) and its checked options."""
    from ratecraft import api

    name = codec or api.default_codec(budget, kind)
    api.check_codec(name, budget)
    return name, codec_options(name, config, given)


def warn_replaced(codec: str, given: dict[str, Any], config: Any) -> None:
    """Warn about each option of ``given`` that fitting changed (rate control sets its knob)."""
    actual = config.model_dump(mode="json")
    for path, value in _leaves(given):
        have: Any = actual
        for part in path.split("."):
            have = have.get(part) if isinstance(have, dict) else None
        if have != value:
            notes.warning(
                "%s: %s=%s was replaced by %s (rate control chooses it for the budget)",
                codec,
                path,
                value,
                have,
            )


def _leaves(doc: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            out += _leaves(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


@app.command("codecs")
@guarded
def codecs_cmd(
    name: Annotated[
        str | None, typer.Argument(help="A codec name: show its options.", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the options reference (docs/options.md).")
    ] = False,
) -> None:
    """List the codecs (data kinds, modes, budgets, extras), or one codec's options.

    The options come from each codec's config: name, type, default, bounds and help. Set them on
    `encode` and `fit` with --config FILE or --set KEY=VALUE.
    """
    from ratecraft.codecs.describe import describe_codec, describe_codecs, options_reference

    if markdown:
        if name is not None or as_json:
            raise BadInputError("--markdown prints the whole reference; drop NAME and --json")
        typer.echo(options_reference(), nl=False)
        return
    if name is None:
        infos = describe_codecs()
        if as_json:
            print_json([{k: v for k, v in asdict(i).items() if k != "options"} for i in infos])
            return
        _list_table(infos)
        return
    info = describe_codec(name)
    if as_json:
        print_json(asdict(info))
        return
    _options_table(info)


_SHORT_MODE = {"lossless or lossy": "both"}


def _list_table(infos: list[Any]) -> None:
    from rich import box
    from rich.table import Table

    table = Table(
        title="codecs (`ratecraft codecs NAME` describes one)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for header in ("codec", "data", "mode", "budgets", "learned", "extra"):
        table.add_column(
            header, no_wrap=header in ("codec", "mode"), min_width=10 if header == "data" else None
        )
    for i in infos:
        table.add_row(
            i.name,
            ", ".join(i.kinds) or "–",
            _SHORT_MODE.get(i.mode, i.mode) if not i.missing else "–",
            ", ".join(i.budgets) or "–",
            "yes" if i.learned else "no",
            (i.extra or "–") + (" (not installed)" if i.missing else ""),
        )
    console().print(table)


def _options_table(info: Any) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    out = console()
    out.print(f"[bold]{escape(info.name)}[/bold]: {escape(info.summary)}")
    facts = [
        f"data: {', '.join(info.kinds) or '–'}",
        f"mode: {info.mode}",
        f"budgets: {', '.join(info.budgets) or '–'}",
        f"learned: {'yes' if info.learned else 'no'}",
    ]
    if info.extra:
        facts.append(f"extra: {info.extra}")
    out.print("; ".join(facts), markup=False)
    if info.missing:
        out.print(f"not installed: {info.missing}", markup=False)
        return
    table = Table(box=box.SIMPLE_HEAD)
    for header in ("option", "type", "default", "bounds", "what it does"):
        table.add_column(header, no_wrap=header in ("option", "bounds"), overflow="fold")
    for opt in info.options:
        table.add_row(opt.name, opt.type, opt.default_text, opt.bounds or "–", opt.help or "–")
    out.print(table)
