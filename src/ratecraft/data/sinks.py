"""Data written chunk by chunk, all or nothing.

A :class:`Sink` is opened with the shape, dtype and facts of what it will receive, takes
consecutive frame blocks with :meth:`Sink.write`, and publishes the result under its final name
only in :meth:`Sink.commit`: until then everything goes to a temporary file (or folder) beside
it, and an exception, an interrupt or a full disk leaves nothing under the final name
(:meth:`Sink.abort` removes the temporary; a killed process leaves only a dot-named temporary).

The format modules of :mod:`ratecraft.data.io` define the sinks; :func:`ratecraft.data.io.open_sink`
picks one by path. A sink says (a logged warning) what its format cannot hold.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType

import numpy as np

from ratecraft.atomic import UMASK
from ratecraft.data.sources import Facts
from ratecraft.errors import BadInputError

__all__ = ["Sink"]


class Sink(ABC):
    """Consecutive frame blocks in, one published file or folder out (see the module doc)."""

    folder_output = False  # zarr stores are folders

    def __init__(self, path: Path, rows: int, frames: int, dtype: np.dtype, facts: Facts) -> None:
        self.path = Path(path)
        self.rows, self.frames, self.dtype, self.facts = rows, frames, np.dtype(dtype), facts
        parent = self.path.parent if str(self.path.parent) else Path(".")
        if not parent.is_dir():
            raise BadInputError(f"{self.path}: folder {parent} does not exist")
        if self.path.is_dir() and not self.folder_output:
            raise BadInputError(f"{self.path}: is a folder")
        prefix, suffix = f".{self.path.name}.", f".tmp{self.path.suffix}"
        if self.folder_output:
            self.tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent))
        else:
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=parent)
            os.close(fd)
            self.tmp = Path(name)
            os.chmod(self.tmp, 0o666 & ~UMASK)
        self._next = 0
        self._done = False

    @abstractmethod
    def _write(self, first: int, block: np.ndarray) -> None:
        """Store rows × n samples starting at frame ``first``."""

    def _finish(self) -> None:  # noqa: B027  (most formats need nothing at the end)
        """Flush and close the temporary before it is published."""

    def _discard(self) -> None:  # noqa: B027
        """Close whatever the temporary holds open before it is removed."""

    def extra_outputs(self) -> list[tuple[Path, Path]]:
        """(temporary, final) pairs of files published with the main one (sidecars)."""
        return []

    def write(self, first: int, block: np.ndarray) -> None:
        """The next block (rows × n) at frame ``first`` (blocks come in order, no gaps)."""
        if self._done:
            raise ValueError("sink already committed or aborted")
        if first != self._next or block.shape[0] != self.rows:
            raise ValueError(f"block at frame {first} ({block.shape}) does not continue the sink")
        if first + block.shape[1] > self.frames:
            raise ValueError("more frames than the sink was opened for")
        self._write(first, np.ascontiguousarray(block, dtype=self.dtype))
        self._next = first + block.shape[1]

    def commit(self) -> None:
        """Publish under the final name (every frame must have been written)."""
        if self._next != self.frames:
            raise ValueError(f"wrote {self._next} of {self.frames} frames")
        self._finish()
        for tmp, final in self.extra_outputs():
            os.replace(tmp, final)
        if self.folder_output:
            _replace_folder(self.tmp, self.path)
        else:
            with open(self.tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(self.tmp, self.path)
        self._done = True

    def abort(self) -> None:
        """Remove the temporary (and any temporary sidecar); the final name is untouched."""
        if self._done:
            return
        self._done = True
        try:
            self._discard()
        finally:
            for tmp, _ in self.extra_outputs():
                Path(tmp).unlink(missing_ok=True)
            if self.folder_output:
                shutil.rmtree(self.tmp, ignore_errors=True)
            else:
                self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> Sink:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if et is None:
            self.commit()
        else:
            self.abort()


def _replace_folder(tmp: Path, target: Path) -> None:
    """Put folder ``tmp`` at ``target``, replacing an earlier one (it is removed last)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
