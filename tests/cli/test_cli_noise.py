"""No dependency noise on stderr (or stdout) for ordinary commands; all of it with --verbose."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from cli_helpers import ratecraft

from ratecraft.cli import logs


def noise(stderr: str) -> list[str]:
    """stderr lines other than ratecraft's own periodic progress records (a step that runs
    longer than the progress interval on a loaded machine reports itself; that is no noise)."""
    return [line for line in stderr.splitlines() if not line.startswith("progress: ")]


def test_encode_and_decode_are_silent(files, tmp_path):
    for args in (["--ratio", "8"], ["--codec", "sz3", "--max-error", "2"]):
        out = tmp_path / "x.rcz"
        run = ratecraft("encode", files["recording"], "-o", out, *args, "--json")
        assert run.code == 0 and noise(run.stderr) == [], run.stderr
        assert json.loads(run.stdout)["ratio"] > 1
        run = ratecraft("decode", out, "-o", tmp_path / "back.npz")
        assert run.code == 0 and noise(run.stderr) == [], run.stderr


def test_shrink_is_silent(table_model, files, tmp_path):
    pytest.importorskip("torchao")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: int8\nsteps:\n  - step: int8-weight\n")
    run = ratecraft("shrink", table_model, "--recipe", recipe, "-o", tmp_path / "s",
                    "--calib", files["table"], "--json")  # fmt: skip
    assert run.code == 0, run.stderr
    assert noise(run.stderr) == [], run.stderr
    assert json.loads(run.stdout)["steps"] == ["int8-weight"]


def test_export_is_silent_and_its_json_parses(table_model, tmp_path):
    pytest.importorskip("onnxruntime")
    run = ratecraft("export", "--model", table_model, "-o", tmp_path / "enc.onnx", "--json")
    assert run.code == 0, run.stderr
    assert noise(run.stderr) == [], run.stderr
    assert json.loads(run.stdout)["parity_ok"] is True  # the exporter's chatter left stdout


def test_what_a_dependency_prints_becomes_debug_records(caplog):
    with caplog.at_level(logging.DEBUG, logger="ratecraft.cli.deps"), logs.stdout_to_log("x"):
        print("[torch.onnx] Translate the graph into ONNX...")
        print("no newline at the end", end="")
    assert caplog.messages == [
        "x printed: [torch.onnx] Translate the graph into ONNX...",
        "x printed: no newline at the end",
    ]


# ---- the filters, in process ------------------------------------------------------------------


class _Seen(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.parametrize("verbose", [False, True])
def test_known_dependency_records_are_dropped_unless_verbose(verbose):
    seen = _Seen()
    logger = logging.getLogger("torchao")
    logger.addHandler(seen)
    try:
        logs.setup(verbose=verbose, quiet=False)
        logger.warning("Failed to load /x/torchao/_C_mxfp8.so: Could not load this library")
        logger.warning("torchao: something else went wrong")  # not on the list: kept
    finally:
        logger.removeHandler(seen)
        logs.setup(verbose=False, quiet=False)
    noise = "Failed to load /x/torchao/_C_mxfp8.so: Could not load this library"
    kept = ["torchao: something else went wrong"]
    assert seen.messages == ([noise, *kept] if verbose else kept)


def test_warnings_from_dependencies_go_to_debug_ours_stay(capsys):
    logs.setup(verbose=False, quiet=False)
    own = str(Path(logs.__file__))
    logs._show_warning(FutureWarning("torch says"), FutureWarning, "/site-packages/torch/x.py", 1)
    logs._show_warning(UserWarning("ours"), UserWarning, own, 1)
    err = capsys.readouterr().err
    assert "torch says" not in err and "warning: ours" in err
    logs.setup(verbose=True, quiet=False)
    logs._show_warning(FutureWarning("torch says"), FutureWarning, "/site-packages/torch/x.py", 1)
    assert "FutureWarning: torch says" in capsys.readouterr().err
    logs.setup(verbose=False, quiet=False)  # (pytest restores warnings.showwarning itself)
