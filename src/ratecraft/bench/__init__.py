"""The benchmark runner behind ``ratecraft bench``, ``ratecraft demo`` and ``benchmarks/``.

:func:`run_bench` fits, encodes, decodes and scores every input × codec × setting and returns one
typed :class:`RunRecord` per run; :func:`markdown_table` renders them and
:func:`records_to_json` writes them as strict JSON. Lossless-only codecs run once, losslessly;
lossy codecs run at every lossy setting. Every run decodes its own container: a lossless run
must be bit-exact and a ``max_error`` run must meet its bound, otherwise it is a failure; a codec
that refuses the input is recorded as refused, with its reason.

Modules: :mod:`~ratecraft.bench.records` (the record), :mod:`~ratecraft.bench.runner` (the plan
and the runs), :mod:`~ratecraft.bench.scoring` (how a run is judged),
:mod:`~ratecraft.bench.output` (markdown and JSON).
"""

from ratecraft.bench.output import (
    BENCH_COLUMNS,
    Column,
    markdown_table,
    records_to_json,
    write_json,
)
from ratecraft.bench.records import RunRecord, Status, combine, failures
from ratecraft.bench.runner import (
    LOSSLESS,
    plan,
    record_peer,
    run_bench,
    run_one,
    runs_for_codec,
)
from ratecraft.bench.scoring import bit_exact, quality, table_sndr_db, truth_f1

__all__ = [
    "BENCH_COLUMNS",
    "LOSSLESS",
    "Column",
    "RunRecord",
    "Status",
    "bit_exact",
    "combine",
    "failures",
    "markdown_table",
    "plan",
    "quality",
    "record_peer",
    "records_to_json",
    "run_bench",
    "run_one",
    "runs_for_codec",
    "table_sndr_db",
    "truth_f1",
    "write_json",
]
