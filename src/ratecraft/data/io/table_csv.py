"""Feature tables as CSV: a header row of feature names, then one row per sample.

Empty cells and ``nan`` read as NaN. Values are written with 17 significant digits, which brings
every float64 back bit for bit. Families (feature groups) live in a JSON sidecar
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
from ratecraft.data.io.common import bad, check_kind, make_table
from ratecraft.data.types import Data, FeatureTable

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

_NAN_CELLS = frozenset({"", "nan", "NaN", "NAN", "na", "NA"})


def sidecar_path(path: PathLike) -> Path:
    """Where the families of the table at ``path`` are kept."""
    return Path(f"{os.fspath(path)}.families.json")


def _parse_rows(path: PathLike, rows: list[list[str]], width: int) -> np.ndarray:
    values = np.empty((len(rows), width), dtype=np.float64)
    for i, row in enumerate(rows):
        if len(row) != width:
            raise bad(path, f"row {i + 2} has {len(row)} cells, the header has {width}")
        for j, cell in enumerate(row):
            cell = cell.strip()
            if cell in _NAN_CELLS:
                values[i, j] = np.nan
                continue
            try:
                values[i, j] = float(cell)
            except ValueError as exc:
                raise bad(
                    path, f"row {i + 2}, column {j + 1}: {cell[:40]!r} is not a number"
                ) from exc
    return values


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
    values = _parse_rows(path, rows[1:], len(names))
    fams = list(families) if families is not None else _read_families(path, names)
    return make_table(path, values, feature_names=names, families=fams)


def write_csv(data: Data, path: PathLike) -> None:
    """Write a table (header + full-precision rows) and, when it has families, the sidecar."""
    if not isinstance(data, FeatureTable):
        raise bad(path, "CSV holds feature tables, not recordings; write recordings as .npz")
    names = data.feature_names or []
    head = io.StringIO()
    csv.writer(head, lineterminator="\n").writerow(names)
    fmt = "%d" if data.values.dtype.kind in "iu" else "%.17g"
    side = sidecar_path(path)
    with atomic_output(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            fh.write(head.getvalue())
            np.savetxt(fh, data.values, fmt=fmt, delimiter=",")
        if data.families is not None:
            unique = len(set(names)) == len(names)
            spec = dict(zip(names, data.families, strict=True)) if unique else data.families
            text = json.dumps(spec, indent=1, ensure_ascii=False) + "\n"
            with atomic_output(side) as tmp_side:
                tmp_side.write_text(text, encoding="utf-8")
        elif side.exists():
            log.info("%s: removing stale families sidecar", side)
            side.unlink()
