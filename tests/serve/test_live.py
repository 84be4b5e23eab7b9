"""`ratecraft serve` as a real process on 127.0.0.1: a truncated upload gets its status and the
service keeps serving; the dashboard renders in headless Chromium (text asserted, screenshot
saved); SIGKILL of an adaptation mid-way leaves the registry consistent."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

EXE = Path(sys.executable).with_name("ratecraft")
CHROMIUM = shutil.which("chromium-headless-shell") or shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(registry, tmp_path):
    """A running `ratecraft serve` over the test registry; its base URL."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RATECRAFT_HOME": str(registry.home)}
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [str(EXE), "serve", "--port", str(port), "--max-body-mb", "1"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("the service did not start: " + (tmp_path / "serve.log").read_text()[-2000:])
    yield base, port
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_truncated_and_oversized_uploads_over_a_real_socket(live):
    base, port = live
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(
            b"POST /v1/compress?sample_rate=1000 HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-npy\r\nContent-Length: 5000\r\n\r\n" + b"\x93NUMPY" * 10
        )
        s.shutdown(socket.SHUT_WR)  # the client gives up mid-body
        answer = s.recv(4096)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:200]
    big = httpx.post(
        f"{base}/v1/compress",
        content=b"\0" * (2 << 20),
        headers={"content-type": "application/x-npy"},
    )
    assert big.status_code == 413 and big.json()["status"] == 413
    assert httpx.get(f"{base}/healthz").json()["status"] == "ok"  # still serving


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt: chromium)")
def test_dashboard_in_headless_chromium(live, tmp_path):
    base, _ = live
    shot = Path(os.environ.get("RATECRAFT_SCREENSHOT_DIR", tmp_path)) / "dashboard.png"
    flags = ["--no-sandbox", "--disable-gpu", "--headless", "--window-size=1280,2400"]
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", f"{base}/"], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    assert "ratecraft models" in text and "probe" in text
    assert "production → 1" in text and "candidate → 2" in text
    assert "Rate–distortion (held-out)" in text and "<svg" in text
    assert "Drift and adaptation timeline" in text and "zoo:implant-10bit-19k5" in text
    subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={shot}", f"{base}/"],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 10_000


_ADAPT_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from ratecraft.data.synthetic import simulate_recording
    from ratecraft.online import AdaptPolicy, FinetuneConfig, OnlineAdapter
    from ratecraft.registry import Registry

    reg = Registry(sys.argv[1])
    policy = AdaptPolicy(warmup=4, recent_chunks=4, heldout_every=2, min_gain_db=-100,
                         max_forgetting_db=100, finetune=FinetuneConfig(steps=2))
    adapter = OnlineAdapter(reg, "probe", policy, who="kill-test")
    rec, _ = simulate_recording(n_channels=4, duration_s=0.4, seed=5)
    chunks = [rec.slice_time(s, s + 1500) for s in range(0, 12000, 1500)]
    for i in range(10_000):  # adapt again and again until killed
        adapter.recent, adapter.recent_heldout = chunks[:4], chunks[4:6]
        adapter.replay, adapter.old_heldout = chunks[6:], chunks[6:]
        adapter.adapt(i)
        print(i, flush=True)
    """
)


def test_sigkill_during_adaptation_leaves_the_registry_consistent(registry):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for delay in (0.5, 1.3):
        proc = subprocess.Popen(
            [sys.executable, "-c", _ADAPT_CHILD, str(registry.home)],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None
        proc.stdout.readline()  # one adaptation filed
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        report = registry.check()
        assert report["ok"], report
        prod = registry.get("probe@production")
        assert registry.load(prod).model_sha256() == prod.model_sha256
