"""All-or-nothing output: the target appears only on success, and temporary files left by
processes that were killed are removed by the next write to the same target (not those of a
write still running, nor another host's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ratecraft.atomic import _HOST, atomic_output, atomic_write


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_target_appears_only_on_success(tmp_path: Path) -> None:
    out = tmp_path / "x.rcz"
    with pytest.raises(RuntimeError), atomic_output(out) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("stopped")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    atomic_write(out, b"whole")
    assert out.read_bytes() == b"whole" and list(tmp_path.iterdir()) == [out]


def test_stale_temporary_files_of_dead_processes_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "x.rcz"
    dead = tmp_path / f".x.rcz.{_HOST}-{_dead_pid()}.abc123.tmp.rcz"
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as live_proc:
        live = tmp_path / f".x.rcz.{_HOST}-{live_proc.pid}.def456.tmp.rcz"
        other_host = tmp_path / f".x.rcz.{_HOST}x-{_dead_pid()}.ghi789.tmp.rcz"
        other_target = tmp_path / f".y.rcz.{_HOST}-{_dead_pid()}.jkl012.tmp.rcz"
        for p in (dead, live, other_host, other_target):
            p.write_bytes(b"partial")
        atomic_write(out, b"whole")
        live_proc.kill()
    assert not dead.exists()
    assert live.exists() and other_host.exists() and other_target.exists()
    assert out.read_bytes() == b"whole"


def test_the_temporary_name_says_host_and_process(tmp_path: Path) -> None:
    with atomic_output(tmp_path / "x.npy") as tmp:
        assert tmp.name.startswith(f".x.npy.{_HOST}-{os.getpid()}.")
        assert tmp.name.endswith(".tmp.npy")
        tmp.write_bytes(b"")
