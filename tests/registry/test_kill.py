"""SIGKILL while models are being registered leaves the registry consistent: SQLite intact, no
orphan blobs, aliases on complete versions, every version loadable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from ratecraft.registry import Registry

# registers ever new models (weights perturbed, so every version writes new blobs) until killed
_CHILD = textwrap.dedent(
    """
    import sys, shutil
    import torch
    from ratecraft.codecs import Codec
    from ratecraft.codecs.state import ModelState
    from ratecraft.registry import Registry

    src, home, work, first = sys.argv[1:5]
    reg = Registry(home)
    base = Codec.load(src)
    state = base.model_state()
    for i in range(int(first), int(first) + 10_000):
        g = torch.Generator().manual_seed(i)
        tensors = {k: (v + 1e-3 * torch.randn(v.shape, generator=g) if v.is_floating_point()
                       and not k.startswith("entropy") else v)
                   for k, v in state.tensors.items()}
        base.load_model_state(ModelState(tensors, state.doc))
        folder = f"{work}/m{i}"
        base.save(folder)
        reg.register(folder, "probe", aliases=("production",))
        shutil.rmtree(folder)
        print(i, flush=True)
    """
)


def test_sigkill_during_register_leaves_the_registry_consistent(tmp_path, trained):
    home = tmp_path / "home"
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for attempt, delay in enumerate((0.9, 1.7, 2.6)):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _CHILD,
                str(trained[0]),
                str(home),
                str(work),
                str(attempt * 10_000),
            ],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None
        proc.stdout.readline()  # one version filed: the child is registering
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        reg = Registry(home)  # opening recovers what the killed writer left
        report = reg.check()
        assert report["ok"], (attempt, report)
        assert report["versions"] >= attempt + 1
        production = reg.get("probe@production")
        assert reg.load(production).model_sha256() == production.model_sha256
        for v in reg.versions("probe"):
            reg.load(v)  # every filed version is complete
