"""All-or-nothing file output: write beside the target, then rename onto it.

A failed write (an exception, a full disk, an interrupted process) never leaves a half-written
file under the target's name, and the file gets the usual permissions (0666 less the umask)
rather than ``mkstemp``'s private 0600.

A process killed outright (SIGKILL, power loss) cannot remove its temporary file. The name says
which host and process wrote it, so the next write to the same target removes the temporary
files of processes of this host that no longer run (a write still under way, or one from
another host sharing the folder, is left alone).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ratecraft.errors import BadInputError


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _current_umask()


log = logging.getLogger(__name__)
_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:40] or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _sweep_stale(folder: Path, target: Path) -> None:
    """Remove temporary files of ``target`` left by dead processes of this host."""
    prefix = f".{target.name}.{_HOST}-"
    pattern = re.compile(re.escape(prefix) + r"(\d+)\..+" + re.escape(f".tmp{target.suffix}"))
    with os.scandir(folder) as entries:
        names = [e.name for e in entries if e.name.startswith(prefix)]
    for name in names:
        found = pattern.fullmatch(name)
        if found and int(found.group(1)) != os.getpid() and not _alive(int(found.group(1))):
            (folder / name).unlink(missing_ok=True)
            log.info("removed %s, left by a stopped process", folder / name)


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary name keeps the target's suffix because some libraries (numpy, soundfile) pick
    or append a format from it.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise BadInputError(f"{target}: folder {folder} does not exist")
    _sweep_stale(folder, target)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.{_HOST}-{os.getpid()}.", suffix=f".tmp{target.suffix}", dir=folder
    )
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~UMASK)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` all or nothing, flushed to disk before the rename."""
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
