"""Encode many recordings — or time ranges of a long one — as independent tasks, on this
machine or on a Ray cluster, resumable after any interruption.

Each task reads one file (or one frame range of it), fits the codec on its excerpt as
``ratecraft encode`` does (or loads the given model) and writes its own container, all or
nothing. The output folder keeps a manifest (``ratecraft-batch.json``): the settings of the run
and, for every finished container, its SHA-256, written after each task. A rerun of the same
command skips every container whose bytes still match the manifest, accepts (after checking
every chunk's checksum) a container that was complete but not yet recorded when the run was
killed, and runs the rest — so a killed run loses at most the tasks in flight and repeats none
that finished. Changed settings on a rerun are refused: a manifest describes one run.

``backend="ray"`` submits one Ray task per container (the ``distributed`` extra; ``RAY_ADDRESS``
or ``address`` for an existing cluster, whose nodes must reach the files); scheduling, placement
and retries are Ray's. ``backend="local"`` runs the same tasks one after another in-process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ratecraft import api
from ratecraft.atomic import atomic_write
from ratecraft.bitstream.container import ContainerReader
from ratecraft.data.sources import RangeSource
from ratecraft.errors import BadInputError, RatecraftError
from ratecraft.system import start_ray

__all__ = ["MANIFEST", "BatchSettings", "Task", "plan", "run_batch"]

log = logging.getLogger(__name__)
MANIFEST = "ratecraft-batch.json"
Backend = Literal["local", "ray"]


class BatchSettings(BaseModel):
    """What every task of a run does (compared exactly on resume)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    codec: str | None = None
    lossless: bool = False
    ratio: float | None = None
    max_error: float | None = None
    options: dict[str, Any] = {}
    model: str | None = None
    part_seconds: float | None = None
    fs: float | None = None
    dataset: str | None = None
    kind: str | None = None
    channels: int | None = None
    dtype: str | None = None
    fmt: str | None = None
    stream: str | None = None

    def open_options(self) -> dict[str, Any]:
        return {
            "fs": self.fs, "dataset": self.dataset, "kind": self.kind, "channels": self.channels,
            "dtype": self.dtype, "fmt": self.fmt, "stream": self.stream,
        }  # fmt: skip


class Task(BaseModel):
    """One container: the input file, its frame range (None: whole), the output path."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: str
    start: int | None = None
    stop: int | None = None
    output: str


def plan(inputs: list[Path], out_dir: Path, settings: BatchSettings) -> list[Task]:
    """The tasks of a run: one per input, or one per ``part_seconds`` of each input."""
    tasks: list[Task] = []
    seen: dict[str, Path] = {}
    for path in inputs:
        stem = path.name.split(".")[0] if path.suffix else path.name
        if stem in seen:
            raise BadInputError(f"{path} and {seen[stem]} would both write {stem}*.rcz")
        seen[stem] = path
        if settings.part_seconds is None:
            tasks.append(Task(input=str(path.resolve()), output=str(out_dir / f"{stem}.rcz")))
            continue
        with api.open(path, **settings.open_options()) as source:
            if source.facts.sample_rate is None:
                raise BadInputError(f"{path}: --part-seconds needs a recording with a rate")
            step = max(1, round(settings.part_seconds * source.facts.sample_rate))
            for k, first in enumerate(range(0, source.frames, step)):
                tasks.append(
                    Task(
                        input=str(path.resolve()),
                        start=first,
                        stop=min(source.frames, first + step),
                        output=str(out_dir / f"{stem}.{k:04d}.rcz"),
                    )
                )
    return tasks


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def encode_task(task: Task, settings: BatchSettings) -> dict[str, Any]:
    """Write ``task``'s container (all or nothing); what a worker returns to the driver."""
    started = time.perf_counter()
    with api.open(task.input, **settings.open_options()) as whole:
        source = whole if task.start is None else RangeSource(whole, task.start, task.stop or 0)
        if settings.model is not None:
            codec = api.load_codec(settings.model)
        else:
            budget = api.make_budget(
                lossless=settings.lossless, ratio=settings.ratio, max_error=settings.max_error
            )
            codec = api.fit(
                source.excerpt(api.FIT_SAMPLES),
                codec=settings.codec,
                budget=budget,
                config=settings.options or None,
            )
            if codec.model_sha256() is not None:
                raise BadInputError(
                    f"{codec.name} trains a model its files need: fit it first, then --model"
                )
        stats = api.encode_file(source, task.output, codec)
    return {
        "output": task.output,
        "sha256": sha256_of(Path(task.output)),
        "bytes": stats.container_bytes,
        "raw_bytes": stats.raw_bytes,
        "seconds": time.perf_counter() - started,
    }


def _load_manifest(out_dir: Path, settings: BatchSettings, tasks: list[Task]) -> dict[str, Any]:
    path = out_dir / MANIFEST
    mine = settings.model_dump(mode="json")
    if not path.is_file():
        return {"settings": mine, "tasks": [t.model_dump() for t in tasks], "done": {}}
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{path}: unreadable manifest ({exc})") from None
    if doc.get("settings") != mine or doc.get("tasks") != [t.model_dump() for t in tasks]:
        raise BadInputError(
            f"{out_dir} holds a batch run with other settings or inputs; use another folder"
        )
    return dict(doc)


def _already_done(task: Task, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The record of a finished container: the manifest's (bytes unchanged), or, for one a
    killed run completed but did not record, its own after every chunk checks."""
    out = Path(task.output)
    if not out.is_file():
        return None
    recorded = manifest["done"].get(task.output)
    digest = sha256_of(out)
    if recorded is not None:
        if recorded["sha256"] == digest:
            return dict(recorded)
        log.warning("%s: changed since it was written; encoding it again", out)
        return None
    try:
        with ContainerReader(out) as reader:
            reader.verify()
    except (RatecraftError, OSError, ValueError) as exc:
        log.warning("%s: not a complete container (%s); encoding it again", out, exc)
        return None
    return {"output": task.output, "sha256": digest, "bytes": out.stat().st_size}


def run_batch(
    inputs: list[Path],
    out_dir: Path,
    settings: BatchSettings,
    *,
    backend: Backend = "local",
    address: str | None = None,
    num_cpus: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Encode ``inputs`` into ``out_dir`` (see the module doc). Returns the counts of tasks
    skipped, run and failed, the failures, and the bytes written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = plan(inputs, out_dir, settings)
    manifest = _load_manifest(out_dir, settings, tasks)
    for task in tasks:  # what a killed run left half-written (one run per folder at a time)
        out = Path(task.output)
        for stale in out.parent.glob(f".{out.name}.*.tmp{out.suffix}"):
            stale.unlink(missing_ok=True)
    done, pending = 0, []
    for task in tasks:
        record = _already_done(task, manifest)
        if record is None:
            manifest["done"].pop(task.output, None)
            pending.append(task)
        else:
            manifest["done"][task.output] = record
            done += 1
    skipped = done
    atomic_write(out_dir / MANIFEST, json.dumps(manifest, indent=2).encode())
    if progress is not None:
        progress(done, len(tasks), "")
    failures: dict[str, str] = {}

    def finished(task: Task, record: dict[str, Any] | None, error: str | None) -> None:
        nonlocal done
        if record is not None:
            manifest["done"][task.output] = record
            atomic_write(out_dir / MANIFEST, json.dumps(manifest, indent=2).encode())
        else:
            failures[task.output] = error or "failed"
        done += 1
        if progress is not None:
            progress(done, len(tasks), Path(task.output).name)

    if backend == "ray":
        _run_on_ray(pending, settings, finished, address, num_cpus)
    else:
        for task in pending:
            try:
                finished(task, encode_task(task, settings), None)
            except RatecraftError as exc:
                finished(task, None, str(exc))
    return {
        "tasks": len(tasks),
        "skipped": skipped,
        "encoded": len(pending) - len(failures),
        "failed": failures,
        "container_bytes": sum(r.get("bytes", 0) for r in manifest["done"].values()),
        "manifest": str(out_dir / MANIFEST),
    }


def _run_on_ray(
    tasks: list[Task],
    settings: BatchSettings,
    finished: Callable[[Task, dict[str, Any] | None, str | None], None],
    address: str | None,
    num_cpus: int | None,
) -> None:
    if not tasks:
        return
    started_here = start_ray(address, num_cpus)
    import ray

    remote = ray.remote(num_cpus=1, max_retries=1)(_ray_task)
    try:
        running = {remote.remote(t.model_dump(), settings.model_dump()): t for t in tasks}
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            task = running.pop(ready[0])
            try:
                record = ray.get(ready[0])
            except Exception as exc:  # a task's failure, as Ray reports it
                finished(task, None, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
            else:
                finished(task, record, None)
    finally:
        if started_here:
            ray.shutdown()


def _ray_task(task: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """One container, in a Ray worker (one thread: Ray gives it one CPU)."""
    import torch

    torch.set_num_threads(1)
    return encode_task(Task(**task), BatchSettings(**settings))
