"""Progress of long library calls, reported to whoever listens (the CLI), silent otherwise.

Training loops, benchmark plans and other calls that take more than a moment call
:func:`report` as they go: ``report("training", epoch, epochs, unit="epoch", loss=0.12)``.
Nothing happens unless a caller has installed a sink with :func:`reporting`; the command line
installs one that draws Rich bars on a terminal and writes periodic one-line log records
elsewhere. The sink lives in a :class:`~contextvars.ContextVar`, so a sink installed around one
call does not leak into another thread's work, and library code never prints.

A task is named by its ``task`` string; ``done`` counts ``unit`` s (frames, epochs, runs) out
of ``total`` (None when the total is not known). :func:`finish` tells the sink a task ended
(a bar is removed, a last log line written); :func:`task` reports the start and the end of a
block around the updates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Sink", "Step", "finish", "report", "reporting", "task"]


@dataclass(frozen=True)
class Step:
    """One progress report: ``done`` of ``total`` ``unit`` s of ``task``, with figures in
    ``info`` (e.g. ``loss``); ``finished`` marks the task's end."""

    task: str
    done: float
    total: float | None = None
    unit: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)
    finished: bool = False


Sink = Callable[[Step], None]

_SINK: ContextVar[Sink | None] = ContextVar("ratecraft_progress_sink", default=None)


def report(
    task: str, done: float, total: float | None = None, *, unit: str = "", **info: Any
) -> None:
    """Tell the installed sink (if any) that ``done`` of ``total`` of ``task`` are done."""
    sink = _SINK.get()
    if sink is not None:
        sink(Step(task, float(done), None if total is None else float(total), unit, info))


def finish(task: str, **info: Any) -> None:
    """Tell the installed sink (if any) that ``task`` ended."""
    sink = _SINK.get()
    if sink is not None:
        sink(Step(task, 0.0, None, "", info, finished=True))


@contextmanager
def task(name: str, total: float | None = None, *, unit: str = "") -> Iterator[None]:
    """Report ``name`` as started (0 of ``total``) on entry and as finished on exit."""
    report(name, 0, total, unit=unit)
    try:
        yield
    finally:
        finish(name)


@contextmanager
def reporting(sink: Sink | None) -> Iterator[None]:
    """Send the progress of everything called inside the block to ``sink`` (None: nowhere)."""
    token = _SINK.set(sink)
    try:
        yield
    finally:
        _SINK.reset(token)
