"""An encode or decode stopped at any chunk — SIGINT, SIGKILL, a full disk (a size-limited
file) — leaves nothing under the final name."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ratecraft.atomic import atomic_write
from ratecraft.data.io.raw import sidecar_doc, sidecar_path
from ratecraft.data.sources import Facts

RATECRAFT = Path(sys.executable).with_name("ratecraft")
CHANNELS, FS = 16, 30000.0


@pytest.fixture(scope="module")
def long_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 s of 16-channel int16 noise as raw binary with its sidecar (~58 MB: many chunks)."""
    import json

    path = tmp_path_factory.mktemp("raw") / "long.bin"
    rng = np.random.default_rng(0)
    with open(path, "wb") as fh:
        for _ in range(60):
            fh.write(rng.normal(0, 30, (int(FS), CHANNELS)).astype("<i2").tobytes())
    facts = Facts("recording", sample_rate=FS)
    sidecar_path(path).write_text(json.dumps(sidecar_doc(facts, CHANNELS, np.dtype("int16"))))
    return path


def _no_output(folder: Path, name: str) -> None:
    assert not (folder / name).exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(f".{name}.")]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_encode_stopped_mid_way_leaves_no_container(
    long_raw: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    out = tmp_path / "x.rcz"
    proc = subprocess.Popen([str(RATECRAFT), "encode", str(long_raw), "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    end = time.monotonic() + 120
    while not any(p.name.startswith(".x.rcz.") for p in tmp_path.iterdir()):
        assert proc.poll() is None, "the encode ended before it could be stopped"
        assert time.monotonic() < end
        time.sleep(0.05)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert not out.exists()
    if sig is signal.SIGINT:  # a handled stop also removes its temporary file
        _no_output(tmp_path, "x.rcz")
    else:  # a killed one cannot; the next write to the same name removes it
        atomic_write(out, b"next")
        out.unlink()
        _no_output(tmp_path, "x.rcz")


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG


def test_a_full_disk_during_encode_and_decode_leaves_nothing(
    long_raw: Path, tmp_path: Path
) -> None:
    out = tmp_path / "x.rcz"
    enc = subprocess.run([str(RATECRAFT), "encode", str(long_raw), "-o", str(out)],
                         capture_output=True, text=True, preexec_fn=_limit_file_size)  # fmt: skip
    assert enc.returncode != 0
    _no_output(tmp_path, "x.rcz")
    subprocess.run([str(RATECRAFT), "encode", str(long_raw), "-o", str(out)], check=True,
                   capture_output=True)  # fmt: skip
    back = tmp_path / "back.bin"
    dec = subprocess.run([str(RATECRAFT), "decode", str(out), "-o", str(back)],
                         capture_output=True, text=True, preexec_fn=_limit_file_size)  # fmt: skip
    assert dec.returncode != 0
    assert len(dec.stderr.strip().splitlines()) == 1, dec.stderr
    _no_output(tmp_path, "back.bin")
