"""How the command line shows progress: Rich bars on a terminal, log lines anywhere else.

Every command runs inside :func:`showing`, which installs a :class:`View` as the sink of
:mod:`ratecraft.progress`. The view picks one of three modes:

- ``bar``: stderr is a terminal; one Rich bar per running task (percent, count, ETA and the
  task's figures such as the loss), removed when the task ends;
- ``log``: stderr is a file or a pipe; one line per task every ``interval`` seconds,
  ``progress: training: epoch 12/30, 40% (loss 0.0123; 2.1 s/epoch, ETA 38 s)``, and a last
  line when a task that printed one ends (tasks shorter than ``interval`` print nothing);
- ``off``: ``--quiet``.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from ratecraft.progress import Step, reporting

Mode = Literal["bar", "log", "off"]

_COUNTED = ("epoch", "run", "step", "trial")  # units shown as "epoch 3/30" rather than a count

log = logging.getLogger("ratecraft.cli.progress")


def pick_mode(quiet: bool) -> Mode:
    """``off`` when quiet, ``bar`` when stderr is a terminal, else ``log``."""
    if quiet:
        return "off"
    return "bar" if sys.stderr.isatty() else "log"


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 20 s`` or ``1 h 05 min``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def amount(value: float) -> str:
    """A count with a k/M/G suffix and three significant digits (``7.5M``)."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}" if not float(value).is_integer() else f"{int(value)}"


def figures(info: Mapping[str, Any]) -> str:
    """``loss 0.0123, rate 1.95`` from a step's figures (floats to four significant digits)."""
    parts = []
    for key, value in info.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        parts.append(f"{key.replace('_', ' ')} {text}")
    return ", ".join(parts)


@dataclass
class _Task:
    started: float
    last_line: float
    step: Step
    first_done: float = 0.0  # done at the first report (a resumed run starts past 0)
    printed: bool = False


class View:
    """A :data:`ratecraft.progress.Sink` that shows every task in one of the three modes."""

    def __init__(self, mode: Mode, interval: float = 5.0) -> None:
        self.mode = mode
        self.interval = max(0.0, interval)
        self._tasks: dict[str, _Task] = {}
        self._bars: Any = None
        self._ids: dict[str, Any] = {}

    # ---- the sink ------------------------------------------------------------------------
    def __call__(self, step: Step) -> None:
        if self.mode == "off":
            return
        now = time.monotonic()
        state = self._tasks.get(step.task)
        if step.finished:
            if state is not None:
                self._end(state, now, step)
                del self._tasks[step.task]
            return
        if state is None:
            state = self._tasks[step.task] = _Task(now, now, step, step.done)
        state.step = step
        if self.mode == "bar":
            self._draw(step)
        elif now - state.last_line >= self.interval:
            log.info(self.text(state, now), extra={"label": "progress"})
            state.last_line, state.printed = now, True

    def close(self) -> None:
        """End every task still shown (the command is over)."""
        for name in list(self._tasks):
            self(Step(name, 0.0, finished=True))
        if self._bars is not None:
            self._bars.stop()
            self._bars = None

    # ---- log mode ------------------------------------------------------------------------
    def text(self, state: _Task, now: float) -> str:
        """The log line of a task's latest step."""
        step = state.step
        elapsed = now - state.started
        head = f"{step.task}:"
        rest: list[str] = []
        gained = step.done - state.first_done
        rate = gained / elapsed if elapsed > 0 and gained > 0 else None
        unit = step.unit or "steps"
        counted = unit in _COUNTED
        if step.total:
            pct = 100.0 * step.done / step.total
            if counted:
                head += f" {unit} {amount(step.done)}/{amount(step.total)}, {pct:.0f}%"
            else:
                head += f" {pct:.0f}%, {amount(step.done)} of {amount(step.total)} {unit}"
            if rate:
                per = f"{1 / rate:.3g} s/{unit}" if counted else f"{amount(rate)} {unit}/s"
                rest.append(f"{per}, ETA {duration((step.total - step.done) / rate)}")
        else:
            head += f" running for {duration(elapsed)}"
            if step.done:
                head += f", {amount(step.done)} {unit}"
        info = figures(step.info)
        if info:
            rest.insert(0, info)
        return head + (f" ({'; '.join(rest)})" if rest else "")

    # ---- bar mode ------------------------------------------------------------------------
    def _draw(self, step: Step) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        if self._bars is None:
            from rich.console import Console

            self._bars = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=Console(file=sys.stderr, highlight=False),
                transient=True,
                redirect_stdout=False,  # stdout holds the command's result (and may be redirected)
            )
            self._bars.start()
        info = figures(step.info)
        label = step.task
        if step.total and step.unit in _COUNTED:
            label += f" {step.unit} {amount(step.done)}/{amount(step.total)}"
        if step.task not in self._ids:
            self._ids[step.task] = self._bars.add_task(label, total=step.total, info=info)
        self._bars.update(
            self._ids[step.task],
            description=label,
            completed=step.done,
            total=step.total,
            info=info,
        )

    def _end(self, state: _Task, now: float, step: Step) -> None:
        if self.mode == "bar":
            task_id = self._ids.pop(step.task, None)
            if task_id is not None and self._bars is not None:
                self._bars.remove_task(task_id)
            if not self._ids and self._bars is not None:  # nothing runs: give the terminal back
                self._bars.stop()
                self._bars = None
            return
        if state.printed or self.interval == 0:
            info = figures({**state.step.info, **step.info})
            log.info(
                f"{step.task}: done in {duration(now - state.started)}"
                + (f" ({info})" if info else ""),
                extra={"label": "progress"},
            )


@contextmanager
def showing(mode: Mode, interval: float) -> Iterator[View]:
    """Show the progress of everything inside the block (see the module doc)."""
    view = View(mode, interval)
    try:
        with reporting(view):
            yield view
    finally:
        view.close()
