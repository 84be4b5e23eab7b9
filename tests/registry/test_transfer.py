"""`models export` and `models pull` against a local http.server on 127.0.0.1."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import tarfile
import threading

import pytest

from ratecraft.errors import BadInputError
from ratecraft.registry import Registry
from ratecraft.registry.transfer import export_version, pull


@pytest.fixture
def served(tmp_path):
    """A folder served over HTTP on 127.0.0.1 (a free port), for the test's duration."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_export_then_pull_gives_the_same_model_and_card(tmp_path, trained, served):
    root, base = served
    src = Registry(tmp_path / "a")
    v = src.register(trained[0], "probe", card={"description": "from a"})
    _, sha = export_version(src, "probe@1", root / "probe.tar")
    again = export_version(src, "probe@1", tmp_path / "again.tar")[1]
    assert sha == again == hashlib.sha256((root / "probe.tar").read_bytes()).hexdigest()
    dst = Registry(tmp_path / "b")
    got = pull(dst, f"{base}/probe.tar", sha, "probe", aliases=("production",))
    assert got.model_sha256 == v.model_sha256 and got.card == {"description": "from a"}
    assert got.aliases == ["production"] and dst.check()["ok"]
    assert dst.events("probe")[0].why.startswith("pulled from http://127.0.0.1")


def test_pull_refuses_a_wrong_hash_a_missing_file_and_unsafe_archives(tmp_path, trained, served):
    root, base = served
    src = Registry(tmp_path / "a")
    src.register(trained[0], "probe")
    _, sha = export_version(src, "probe", root / "probe.tar")
    dst = Registry(tmp_path / "b")
    with pytest.raises(BadInputError, match="SHA-256 is"):
        pull(dst, f"{base}/probe.tar", "0" * 64, "probe")
    with pytest.raises(BadInputError, match="HTTP 404"):
        pull(dst, f"{base}/nothing.tar", sha, "probe")
    with pytest.raises(BadInputError, match="http"):
        pull(dst, "file:///etc/passwd", sha, "probe")
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        info = tarfile.TarInfo("../codec.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    (root / "evil.tar").write_bytes(evil.getvalue())
    evil_sha = hashlib.sha256(evil.getvalue()).hexdigest()
    with pytest.raises(BadInputError, match="not a model file"):
        pull(dst, f"{base}/evil.tar", evil_sha, "probe")
    with pytest.raises(BadInputError, match="over the"):
        pull(dst, f"{base}/probe.tar", sha, "probe", limit=100)
    assert dst.names() == [] and dst.check()["ok"]
