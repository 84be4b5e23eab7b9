"""Run the real ``ratecraft`` entry point in a subprocess: with pipes (no terminal) or on a
pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

EXE = Path(sys.executable).with_name("ratecraft")


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("RATECRAFT_")}
    out.update({"PYTHONWARNINGS": "", "OMP_NUM_THREADS": "1", **extra})
    return out


def ratecraft(*args: object, timeout: float = 240, **extra_env: str) -> Run:
    """The console script with stdout and stderr as pipes (neither is a terminal)."""
    if not EXE.exists():
        pytest.skip("console script not installed")
    proc = subprocess.run(
        [str(EXE), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(**extra_env),
        stdin=subprocess.DEVNULL,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def ratecraft_tty(*args: object, timeout: float = 240, **extra_env: str) -> Run:
    """The console script on a pseudo-terminal (stdout and stderr both the terminal); the
    combined output is returned as ``stdout``."""
    if not EXE.exists():
        pytest.skip("console script not installed")
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [str(EXE), *map(str, args)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env(TERM="xterm-256color", COLUMNS="120", **extra_env),
        close_fds=True,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError(f"ratecraft {args} did not finish in {timeout} s")
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                data = b""
            if not data and proc.poll() is not None:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    return Run(proc.wait(), b"".join(chunks).decode("utf-8", "replace"), "")
