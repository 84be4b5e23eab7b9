"""What each registered codec is, takes and can be told: the data behind ``ratecraft codecs``
and the generated options reference (``docs/options.md``).

Everything is read from the codec classes and their pydantic configs (:mod:`ratecraft.options`),
so the listing, the reference and validation cannot disagree. Describing a codec imports its
module (the learned ones import torch); a codec whose optional extra is missing is still listed,
with the extra it needs and no options.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from ratecraft.codecs.registry import CODECS, available_codecs, codec_class
from ratecraft.errors import MissingExtraError
from ratecraft.options import Option, options

__all__ = ["CodecInfo", "describe_codec", "describe_codecs", "options_reference"]

REGENERATE = "ratecraft codecs --markdown > docs/options.md"


@dataclass(frozen=True)
class CodecInfo:
    """One codec as a listing shows it."""

    name: str
    summary: str = ""
    kinds: tuple[str, ...] = ()
    budgets: tuple[str, ...] = ()
    lossy: bool = False
    learned: bool = False
    extra: str | None = None  # the extra its module needs beyond the base install
    missing: str | None = None  # why it cannot be used here (its extra is not installed)
    options: list[Option] = field(default_factory=list)

    @property
    def mode(self) -> str:
        if not self.lossy:
            return "lossless"
        return "lossless or lossy" if "lossless" in self.budgets else "lossy"


def describe_codec(name: str) -> CodecInfo:
    """The description of the codec registered as ``name`` (UnknownCodecError when none is)."""
    entry = CODECS.entry(name)
    extra = None if entry is None else (entry.extra or entry.meta.get("extra"))
    try:
        cls = codec_class(name)
    except MissingExtraError as exc:
        return CodecInfo(name, extra=extra, missing=str(exc))
    doc = inspect.getdoc(cls) or ""
    return CodecInfo(
        name=name,
        summary=" ".join(doc.split("\n\n")[0].split()),
        kinds=tuple(cls.kinds),
        budgets=tuple(cls.budgets),
        lossy=bool(cls.supports_lossy),
        learned=bool(cls.learned),
        extra=extra,
        options=options(cls.config_cls),
    )


def describe_codecs() -> list[CodecInfo]:
    """Every registered codec, by name."""
    return [describe_codec(name) for name in available_codecs()]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def options_reference() -> str:
    """``docs/options.md``: every codec's options as markdown tables (kept in sync by a test)."""
    infos = describe_codecs()
    lines = [
        "# Codec options",
        "",
        f"Generated from the codecs' configs by `{REGENERATE}`; a test fails when this file "
        "and the configs disagree. Set options with `--config FILE` (YAML or JSON, nested "
        "mappings for groups such as `train`) or `--set KEY=VALUE` (dotted keys, e.g. "
        "`--set train.epochs=2`; values are YAML) on `ratecraft encode` and `ratecraft fit`. "
        "With a ratio or max-error budget, rate control chooses the codec's knob itself "
        "(e.g. quant's `step`). Bounds are intervals: `[1, 64]` includes both ends, `(0, ∞)` "
        "excludes 0.",
        "",
        "| codec | data | mode | budgets | learned | extra |",
        "|---|---|---|---|---|---|",
    ]
    for info in infos:
        lines.append(
            f"| [`{info.name}`](#{info.name}) | {', '.join(info.kinds) or '–'} | {info.mode} | "
            f"{', '.join(info.budgets) or '–'} | {'yes' if info.learned else 'no'} | "
            f"{info.extra or '–'} |"
        )
    for info in infos:
        lines += ["", f"## {info.name}", ""]
        if info.summary:
            lines += [_cell(info.summary), ""]
        if info.missing:
            lines += [f"Not installed here: {info.missing}.", ""]
            continue
        lines += ["| option | type | default | bounds | what it does |", "|---|---|---|---|---|"]
        for opt in info.options:
            lines.append(
                f"| `{opt.name}` | {_cell(opt.type)} | `{_cell(opt.default_text)}` | "
                f"{opt.bounds or '–'} | {_cell(opt.help) or '–'} |"
            )
    return "\n".join(lines) + "\n"
