"""A content-addressed blob store: every file is kept once, under its SHA-256.

``blobs/ab/cdef…`` holds the bytes whose SHA-256 is ``abcdef…``. A blob is written into
``blobs/tmp/`` first, hashed while it is copied, flushed to disk and renamed into place, so a
blob under its name is always complete; a file whose bytes do not hash to its name is refused
when read with ``verify``. Which blobs are still needed is the registry's business
(:mod:`ratecraft.registry.store`); this module only stores, reads and deletes.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ratecraft.errors import BadInputError

__all__ = ["BlobStore", "file_sha256"]

_SHA = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB pieces."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while piece := fh.read(_CHUNK):
            h.update(piece)
    return h.hexdigest()


class BlobStore:
    """Blobs under ``root`` (created when missing)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if not _SHA.fullmatch(sha256):
            raise BadInputError(f"not a SHA-256 blob name: {sha256[:70]!r}")
        return self.root / sha256[:2] / sha256[2:]

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put_file(self, source: Path) -> tuple[str, int]:
        """Store a copy of ``source``; its SHA-256 and size (an existing blob is kept)."""
        h = hashlib.sha256()
        fd, name = tempfile.mkstemp(prefix="put-", dir=self.tmp)
        tmp = Path(name)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as fh:
                while piece := fh.read(_CHUNK):
                    h.update(piece)
                    out.write(piece)
                    size += len(piece)
                out.flush()
                os.fsync(out.fileno())
            sha = h.hexdigest()
            target = self.path(sha)
            if target.is_file():
                tmp.unlink()
            else:
                target.parent.mkdir(exist_ok=True)
                os.chmod(tmp, 0o444)
                os.replace(tmp, target)
            return sha, size
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def materialize(self, sha256: str, target: Path, *, verify: bool = True) -> None:
        """Place blob ``sha256`` at ``target`` (a hard link when possible, else a copy)."""
        source = self.path(sha256)
        if not source.is_file():
            raise BadInputError(f"registry blob {sha256[:16]}… is missing (run `models check`)")
        if verify and file_sha256(source) != sha256:
            raise BadInputError(f"registry blob {sha256[:16]}… is corrupt (run `models check`)")
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def names(self) -> Iterator[str]:
        """Every stored blob's SHA-256."""
        for folder in sorted(self.root.iterdir()):
            if folder.name == "tmp" or not folder.is_dir() or len(folder.name) != 2:
                continue
            for f in sorted(folder.iterdir()):
                sha = folder.name + f.name
                if _SHA.fullmatch(sha):
                    yield sha

    def clear_tmp(self) -> int:
        """Remove what an interrupted :meth:`put_file` left in ``tmp/``; how many files."""
        n = 0
        for f in self.tmp.iterdir():
            f.unlink(missing_ok=True)
            n += 1
        return n
