"""Feature tables as CSV: a header row of feature names, then one row per sample.

Empty cells and ``nan`` read as NaN (missing). A column with any cell that is not a number is a
text column: its distinct labels (in order of first appearance) become categories, the values
their indices, and the labels travel in the table's metadata
(:data:`ratecraft.data.columns.TEXT_META_KEY`), so writing the table gives the text back.
Numbers are written as the shortest text that reads back as the same float64 (Python's
``repr``), missing values as empty cells. Families (feature groups) live in a JSON sidecar
``<file>.families.json``: an object mapping feature name → family, or a list with one family per
column (used when feature names repeat).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ratecraft.atomic import atomic_output
from ratecraft.data.columns import TEXT_META_KEY, text_labels
from ratecraft.data.io.common import bad, check_kind, make_table
from ratecraft.data.types import Data, FeatureTable
from ratecraft.errors import BadInputError

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

_NAN_CELLS = frozenset({"", "nan", "NaN", "NAN", "na", "NA"})


def sidecar_path(path: PathLike) -> Path:
    """Where the families of the table at ``path`` are kept."""
    return Path(f"{os.fspath(path)}.families.json")


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _parse_rows(
    path: PathLike, rows: list[list[str]], width: int
) -> tuple[np.ndarray, dict[str, list[str]]]:
    """The values, and the labels of the text columns by column index."""
    for i, row in enumerate(rows):
        if len(row) != width:
            raise bad(path, f"row {i + 2} has {len(row)} cells, the header has {width}")
    values = np.empty((len(rows), width), dtype=np.float64)
    text: dict[str, list[str]] = {}
    for j in range(width):
        cells = [row[j].strip() for row in rows]
        numbers = [None if c in _NAN_CELLS else _number(c) for c in cells]
        if all(v is not None or c in _NAN_CELLS for v, c in zip(numbers, cells, strict=True)):
            values[:, j] = [np.nan if v is None else v for v in numbers]
            continue
        labels = list(dict.fromkeys(c for c in cells if c not in _NAN_CELLS))
        index = {label: k for k, label in enumerate(labels)}
        values[:, j] = [np.nan if c in _NAN_CELLS else index[c] for c in cells]
        text[str(j)] = labels
    return values, text


def _read_families(path: PathLike, names: list[str]) -> list[str] | None:
    side = sidecar_path(path)
    if not side.exists():
        return None
    try:
        spec = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(side, f"not a readable JSON file ({exc})") from exc
    if isinstance(spec, list) and all(isinstance(f, str) for f in spec):
        return spec
    if isinstance(spec, dict) and all(isinstance(f, str) for f in spec.values()):
        missing = [n for n in names if n not in spec]
        if missing:
            raise bad(side, f"no family for feature(s) {', '.join(missing[:5])}")
        return [spec[n] for n in names]
    raise bad(side, "families must be an object feature → family or a list of strings")


def read_csv(
    path: PathLike, *, kind: str | None = None, families: Sequence[str] | None = None
) -> FeatureTable:
    """A CSV table; ``families`` (one per column) overrides the sidecar file."""
    check_kind(path, kind, "table")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise bad(path, f"not a readable CSV file ({exc})") from exc
    rows = [r for r in rows if r]  # blank lines
    if not rows:
        raise bad(path, "file is empty")
    names = [n.strip() for n in rows[0]]
    if len(rows) == 1:
        raise bad(path, "no data rows below the header")
    values, text = _parse_rows(path, rows[1:], len(names))
    fams = list(families) if families is not None else _read_families(path, names)
    meta = {TEXT_META_KEY: text} if text else None
    return make_table(path, values, feature_names=names, families=fams, meta=meta)


def _cells(data: FeatureTable) -> list[list[str]]:
    """Each column's cells as text: labels for text columns, the shortest exact number else."""
    text = text_labels(data.meta)
    out = []
    for j, col in enumerate(np.asarray(data.values).T):
        labels = text.get(j)
        if col.dtype.kind in "iu":
            out.append([str(int(v)) for v in col])
        elif labels is not None:
            out.append(["" if np.isnan(v) else _label(labels, v) for v in col])
        else:
            out.append(["" if np.isnan(v) else _number_text(float(v)) for v in col])
    return out


def _number_text(v: float) -> str:
    """The shortest text that reads back as ``v`` (integers without a fraction)."""
    return f"{v:.0f}" if v.is_integer() and abs(v) < 1e15 else repr(v)


def _label(labels: list[str], v: float) -> str:
    k = int(v)
    if k != v or not 0 <= k < len(labels):
        raise BadInputError(f"text column value {v!r} is not a label index")
    return labels[k]


def write_csv(data: Data, path: PathLike) -> None:
    """Write a table (header + full-precision rows) and, when it has families, the sidecar."""
    if not isinstance(data, FeatureTable):
        raise bad(path, "CSV holds feature tables, not recordings; write recordings as .npz")
    names = data.feature_names or []
    head = io.StringIO()
    csv.writer(head, lineterminator="\n").writerow(names)
    columns = _cells(data)
    side = sidecar_path(path)
    with atomic_output(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            fh.write(head.getvalue())
            csv.writer(fh, lineterminator="\n").writerows(zip(*columns, strict=True))
        if data.families is not None:
            unique = len(set(names)) == len(names)
            spec = dict(zip(names, data.families, strict=True)) if unique else data.families
            text = json.dumps(spec, indent=1, ensure_ascii=False) + "\n"
            with atomic_output(side) as tmp_side:
                tmp_side.write_text(text, encoding="utf-8")
        elif side.exists():
            log.info("%s: removing stale families sidecar", side)
            side.unlink()
