"""`columnar`: tables coded column by column as what each column is, conditioned on the others.

The table codec for real tables (Squish-style, issue 16): every column becomes integer symbol
streams as what it is (a decimal as its integers, a category as its index, missing values as a
flag; :mod:`.table_columns`), each stream is coded by an adaptive model conditioned on up to
three earlier streams chosen by the exact adaptive code length (:mod:`.table_plan`) with
constriction's range coder (:mod:`ratecraft.entropy.context_coder`). Nothing is trained and no
model travels beside the container: ``encode`` fits what it needs chunk by chunk.

Budgets:

* lossless (the default): bit-exact, NaN and infinities included;
* ``max_error``: every value within its column's bound — the budget's bound in the column's
  units (``bound="absolute"``) or times the column's value range on the fitted data
  (``bound="relative"``), ``column_errors`` overriding it per column by name; a column is
  quantized to its bound grid (a decimal column on a multiple of its decimal unit) and the
  integers are coded like any other, and the encoder rebuilds every column and checks the bound
  before it writes it (text columns and columns where lossless is cheaper stay lossless);
* ``ratio``: the relative bound searched by :func:`ratecraft.codecs.ratecontrol.fit_ratio`.

A chunk's payload: a record (varint) of each column's spec and each stream's prior and
parents, then the range-coded symbols.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Literal

import numpy as np
from pydantic import Field

from ratecraft.bitstream.varint import Reader, Writer
from ratecraft.codecs.base import BlockContext, BlockResult, Codec, CodecConfig, register_codec
from ratecraft.codecs.classical.table_columns import ColumnSpec, Stream, read_spec
from ratecraft.codecs.classical.table_plan import (
    StreamPlan,
    choose_parents,
    contexts_of,
    plan_column,
)
from ratecraft.codecs.ratecontrol import Knob, fit_ratio
from ratecraft.data.columns import column_types, text_labels, types_summary
from ratecraft.data.types import Data, FeatureTable
from ratecraft.entropy.context_coder import WEIGHTS, StreamDecoder, StreamModel, encode_streams
from ratecraft.errors import BadInputError, CorruptStreamError

__all__ = ["ColumnarCodec", "ColumnarConfig"]

log = logging.getLogger(__name__)

_MAX_PARENTS = 3
_CHUNK_ROWS = 1 << 20


class ColumnarConfig(CodecConfig):
    bound: Literal["absolute", "relative"] = Field(
        "absolute",
        description="how a max_error budget reads: in each column's units, or times its range",
    )
    column_errors: dict[str, float] = Field(
        default_factory=dict, description="absolute bound per column name (overrides max_error)"
    )
    max_parents: int = Field(
        _MAX_PARENTS, ge=0, le=_MAX_PARENTS, description="parents a stream may condition on"
    )
    errors: list[float] | None = Field(
        None, description="fitted: each column's absolute bound (None: lossless)"
    )


@register_codec("columnar")
class ColumnarCodec(Codec):
    """Lossless and error-bounded table coding, column types first, conditional entropy models."""

    config_cls = ColumnarConfig
    config: ColumnarConfig
    kinds = ("table",)
    supports_lossy = True
    budgets = ("lossless", "max_error", "ratio")

    def check_input(self, data: Data) -> None:
        if not isinstance(data, FeatureTable):
            raise BadInputError("columnar codes tables, not recordings")

    def chunk_frames(self, rows: int) -> int:
        return max(1024, min(_CHUNK_ROWS, (1 << 23) // max(rows, 1)))

    def stream_params(self) -> dict[str, Any]:
        """The config as set, less the fitted bounds (each chunk carries its quantizers): a
        150-row table should not pay for defaults in its header."""
        return {
            "config": self.config.model_dump(mode="json", exclude={"errors"}, exclude_defaults=True)
        }

    # ---- budgets ------------------------------------------------------------------------------
    def fit_knobs(self, data: Data) -> None:
        self.check_input(data)
        assert isinstance(data, FeatureTable)
        types = column_types(data)
        self.fit_report = {
            "column_types": types_summary(types),
            "columns": [t.label() for t in types],
        }
        names = list(data.feature_names or [])
        unknown = sorted(set(self.config.column_errors) - set(names))
        if unknown:
            raise BadInputError(f"columnar: column_errors names no column {', '.join(unknown[:5])}")
        if self.config.column_errors and self.budget.max_error is None:
            raise BadInputError(
                "columnar: column_errors needs a max_error budget (0: lossless elsewhere)"
            )
        if any(not np.isfinite(v) or v < 0 for v in self.config.column_errors.values()):
            raise BadInputError("columnar: column_errors must be finite and >= 0")
        text = text_labels(data.meta)
        ranges = self._ranges(data)
        if self.budget.lossless:
            self._set(errors=None)
        elif self.budget.max_error is not None:
            e = self.budget.max_error
            rel = self.config.bound == "relative"
            self._set(errors=self._errors(names, [e * r if rel else e for r in ranges], text))
        else:
            assert self.budget.ratio is not None
            fit_ratio(
                self,
                data,
                self.budget.ratio,
                lambda r: self._set(errors=self._errors(names, [r * v for v in ranges], text)),
                Knob(1e-9, 1.0),
                start=1e-3,
                what="columnar",
            )
        log.info(
            "columnar: %s, columns %s", self.budget.describe(), self.fit_report["column_types"]
        )

    def _errors(
        self, names: list[str], bounds: list[float], text: dict[int, list[str]]
    ) -> list[float]:
        out = [self.config.column_errors.get(n, b) for n, b in zip(names, bounds, strict=True)]
        return [0.0 if j in text else float(e) for j, e in enumerate(out)]

    @staticmethod
    def _ranges(table: FeatureTable) -> list[float]:
        out = []
        for col in np.asarray(table.values, dtype=np.float64).T:
            ok = col[np.isfinite(col)]
            out.append(float(ok.max() - ok.min()) if ok.size else 0.0)
        return out

    # ---- blocks -------------------------------------------------------------------------------
    def encode_block(self, block: np.ndarray, ctx: BlockContext) -> BlockResult:
        rows, n = block.shape
        errors = self.config.errors or [0.0] * rows
        if len(errors) != rows:
            raise BadInputError(f"columnar was fitted on {len(errors)} columns, not {rows}")
        done: list[np.ndarray] = []
        specs: list[ColumnSpec] = []
        streams: list[Stream] = []
        for j in range(rows):
            x = np.ascontiguousarray(block[j])
            spec, col_streams, _ = plan_column(x, errors[j], done)
            specs.append(spec)
            streams += col_streams
            done.append(
                spec.rebuild([s.symbols for s in col_streams if s.symbols is not None], done)
            )
        plans, models, est = choose_parents(streams, n, self.config.max_parents)
        w = Writer()
        for spec in specs:
            spec.write(w)
        for plan in plans:
            w.uint(WEIGHTS.index(plan.weight) | (len(plan.parents) << 3))
            for index, bits in plan.parents:
                w.uint(index)
                w.uint(bits)
        record = w.getvalue()
        coded = encode_streams(
            [(s.symbols, m) for s, m in zip(streams, models, strict=True) if s.symbols is not None]
        )
        out = Writer()
        out.blob(record)
        out.raw(coded)
        kinds = Counter(s.kind if s.kind != "values" else s.mapping for s in specs)
        info = {"columns": dict(kinds), "parents": sum(len(p.parents) for p in plans)}
        return BlockResult(out.getvalue(), est + 8.0 * len(record), info)

    def decode_block(self, payload: memoryview, ctx: BlockContext) -> np.ndarray:
        rows, n, dtype = ctx.rows, ctx.frames, np.dtype(ctx.dtype)
        r = Reader(payload)
        record = Reader(r.blob(len(payload)))
        specs = [read_spec(record, n, dtype, j) for j in range(rows)]
        n_streams = sum(spec.stream_count() for spec in specs)
        plans = [_read_plan(record, t) for t in range(n_streams)]
        if not record.done():
            raise CorruptStreamError("columnar: trailing bytes in the chunk record")
        dec = StreamDecoder(r.rest())
        fulls: list[np.ndarray] = []
        alphabets: list[int] = []
        out = np.empty((rows, n), dtype=dtype)
        columns: list[np.ndarray] = []

        def take(s: Stream) -> np.ndarray:
            plan = plans[len(fulls)]
            stream_ctx, n_ctx = contexts_of(plan, s.rows, fulls, alphabets, n)
            size = n if s.rows is None else s.rows.size
            sym = dec.take(size, StreamModel(s.alphabet, plan.weight, stream_ctx, n_ctx))
            full = np.zeros(n, dtype=np.int64)
            full[slice(None) if s.rows is None else s.rows] = sym
            fulls.append(full)
            alphabets.append(s.alphabet)
            return sym

        for j, spec in enumerate(specs):
            symbols: list[np.ndarray] = []
            if spec.has_missing:
                symbols.append(take(Stream(2, None)))
                spec.set_missing(symbols[0])
            symbols += [take(s) for s in spec.streams()[len(symbols) :]]
            columns.append(spec.rebuild(symbols, columns))
            out[j] = columns[j]
        return out


def _read_plan(record: Reader, index: int) -> StreamPlan:
    """One stream's prior and parents (each an earlier stream)."""
    head = record.uint((len(WEIGHTS) - 1) | (_MAX_PARENTS << 3))
    if head & 7 >= len(WEIGHTS) or head >> 3 > _MAX_PARENTS:
        raise CorruptStreamError("columnar: bad stream record")
    parents = []
    for _ in range(head >> 3):
        parent, bits = record.uint(max(index - 1, 0)), record.uint(8)
        if parent >= index or bits < 1:
            raise CorruptStreamError("columnar: a stream's parent is not an earlier stream")
        parents.append((parent, bits))
    return StreamPlan(WEIGHTS[head & 7], parents)
