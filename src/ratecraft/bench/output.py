"""Benchmark records as markdown tables and as strict JSON.

A table is a list of :class:`Column` s; the first ``keys`` columns name the run. A run that did
not produce a result reads ``n/a (refused: reason)`` (or ``unreachable``/``skipped``) in the
column after them, with ``–`` in the rest; a failed run reads ``FAILED: reason`` there, with
whatever it measured before failing in the rest. :data:`BENCH_COLUMNS` is the table of
``ratecraft bench`` and the demo; every benchmark script builds its own from the same parts.

JSON has no infinity and no NaN: through :func:`ratecraft.jsonsafe.dumps`, ±inf is written as
±1e308 (an exact reconstruction has ``sndr_db`` 1e308) and NaN as ``null``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ratecraft.bench.records import RunRecord
from ratecraft.jsonsafe import dumps

DASH = "–"


def num(value: Any, fmt: str) -> str:
    """``value`` formatted with ``fmt``; ``–`` for None or NaN, ``inf``/``-inf`` for infinities."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return format(value, fmt)


def rate(value: float | None) -> str:
    """A count per second with a k/M/G suffix, three significant digits."""
    if value is None:
        return DASH
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def yes_no(value: bool | None, no: str = "no") -> str:
    return DASH if value is None else ("yes" if value else no)


def family_text(fam: Mapping[str, float] | None) -> str:
    """Every family's NMSE for up to four families, else the mean and the worst family."""
    if not fam:
        return DASH
    values = {k: v for k, v in fam.items() if v is not None and not math.isnan(v)}
    if values and all(v == 0 for v in values.values()):
        return "0 (exact)"
    if len(fam) <= 4 or not values:
        return " ".join(f"{k}={num(v, '.1e')}" for k, v in fam.items())
    worst = max(values, key=lambda k: values[k])
    mean = sum(values.values()) / len(values)
    return f"mean={mean:.1e} worst {worst}={values[worst]:.1e}"


@dataclass(frozen=True)
class Column:
    """One column: its header, the text of its cell for a record, its alignment row (``---``,
    ``---:``, ``:---:``) and, optionally, when to show it at all (given every record)."""

    header: str
    cell: Callable[[RunRecord], str]
    align: str = "---"
    shown: Callable[[Sequence[RunRecord]], bool] | None = None


def cell_of(name: str, fmt: str) -> Callable[[RunRecord], str]:
    """A cell showing attribute ``name`` (a field, a derived rate or an ``extra`` figure)."""

    return lambda r: num(r.get(name), fmt)


def any_has(name: str) -> Callable[[Sequence[RunRecord]], bool]:
    """Show a column only when some record has a value for ``name``."""
    return lambda records: any(r.get(name) is not None for r in records)


BENCH_COLUMNS: tuple[Column, ...] = (
    Column("input", lambda r: r.input),
    Column("codec", lambda r: r.codec),
    Column("setting", lambda r: r.setting),
    Column("ratio", cell_of("ratio", ".2f")),
    Column("bits/sample", cell_of("bits_per_sample", ".3f")),
    Column("est. bits/sample", cell_of("est_bits_per_sample", ".3f")),
    Column("SNDR dB", cell_of("sndr_db", ".1f")),
    Column("spike F1", cell_of("spike_f1", ".3f")),
    Column("truth F1", cell_of("spike_f1_truth", ".3f"), shown=any_has("spike_f1_truth")),
    Column(
        "family NMSE",
        lambda r: family_text(r.family_nmse),
        shown=lambda records: any(r.kind == "table" for r in records),
    ),
    Column("encode samples/s", lambda r: rate(r.encode_samples_per_s)),
    Column("decode samples/s", lambda r: rate(r.decode_samples_per_s)),
    Column("bit-exact", lambda r: yes_no(r.bit_exact)),
)


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(
    records: Sequence[RunRecord], columns: Sequence[Column] = BENCH_COLUMNS, *, keys: int = 3
) -> str:
    """A GitHub-flavoured markdown table of ``records``, one row per run (see the module doc).

    The truth F1 column (spikes found on the reconstruction against the simulator's) of
    :data:`BENCH_COLUMNS` appears only when some record has it, the family NMSE column only when
    some input is a table (all families up to four, else the mean and the worst).
    """
    cols = [c for c in columns if c.shown is None or c.shown(records)]
    lines = [
        "| " + " | ".join(c.header for c in cols) + " |",
        "|" + "|".join(c.align for c in cols) + "|",
    ]
    for r in records:
        row = [c.cell(r) for c in cols[:keys]]
        if r.status not in ("ok", "failed"):
            row.append(f"n/a ({r.status}: {r.error})")
            row += [DASH] * (len(cols) - len(row))
        else:
            row += [c.cell(r) for c in cols[keys:]]
            if r.status == "failed" and len(cols) > keys:
                measured = row[keys]
                row[keys] = f"FAILED: {r.error}" + (
                    f" ({cols[keys].header} {measured})" if measured != DASH else ""
                )
        lines.append("| " + " | ".join(_escape(str(c)) for c in row) + " |")
    return "\n".join(lines) + "\n"


def records_to_json(records: Sequence[RunRecord], *, indent: int = 2) -> str:
    """The records as strict JSON text (a list of :meth:`RunRecord.to_json` objects)."""
    return dumps([r.to_json() for r in records], indent=indent) + "\n"


def write_json(path: str | os.PathLike[str], doc: Any, *, indent: int = 2) -> None:
    """Write ``doc`` as strict JSON, all or nothing; :class:`RunRecord` s anywhere in it are
    written with :meth:`RunRecord.to_json`. The folder is created when missing."""
    from pathlib import Path

    from ratecraft.atomic import atomic_write

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, (dumps(_records_as_json(doc), indent=indent) + "\n").encode("utf-8"))


def _records_as_json(doc: Any) -> Any:
    if isinstance(doc, RunRecord):
        return doc.to_json()
    if isinstance(doc, Mapping):
        return {k: _records_as_json(v) for k, v in doc.items()}
    if isinstance(doc, list | tuple):
        return [_records_as_json(v) for v in doc]
    return doc
