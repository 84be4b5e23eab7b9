"""Progress everywhere: log lines when stderr is not a terminal, Rich bars when it is, nothing
with --quiet; and the one-line records themselves."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from cli_helpers import ratecraft, ratecraft_tty

from ratecraft import progress
from ratecraft.cli.progress import View, amount, duration

LINE = re.compile(r"^progress: (?P<task>[^:]+): (?P<rest>.+)$")


def progress_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("progress: ")]


def test_encode_without_a_terminal_logs_percent_rate_and_eta(files, tmp_path):
    run = ratecraft(
        "encode", files["recording"], "-o", tmp_path / "x.rcz", "--ratio", "8",
        RATECRAFT_PROGRESS_INTERVAL="0",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    lines = progress_lines(run.stderr)
    assert all(LINE.match(line) for line in lines), lines
    encoding = [line for line in lines if line.startswith("progress: encoding: ")]
    assert any(
        re.search(r"100%, [\d.]+k? of [\d.]+k? frames \([\d.]+[kMG]? frames/s, ETA \d+ s\)", line)
        for line in encoding
    ), encoding
    assert encoding[-1].startswith("progress: encoding: done in ")
    assert "╸" not in run.stderr and "━" not in run.stderr  # no bars in a log
    assert "progress:" not in run.stdout


def test_fit_without_a_terminal_logs_epoch_loss_rate_and_eta(files, tmp_path):
    run = ratecraft(
        "fit", files["table"], "-o", tmp_path / "m", "--codec", "adaptive-bottleneck",
        "--set", "train.epochs=3", "--set", "hidden=16", RATECRAFT_PROGRESS_INTERVAL="0",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    epochs = [line for line in progress_lines(run.stderr) if "training: epoch" in line]
    assert [re.search(r"epoch (\d+)/3", line)[1] for line in epochs] == ["0", "1", "2", "3"]
    last = epochs[-1]
    for words in ("100%", "loss ", "val loss ", "bits per value ", "s/epoch", "ETA "):
        assert words in last, last


def test_bench_without_a_terminal_logs_each_run(files):
    run = ratecraft(
        "bench", files["recording"], "--codecs", "zstd,quant", "--ratios", "8",
        RATECRAFT_PROGRESS_INTERVAL="0",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    runs = [line for line in progress_lines(run.stderr) if line.startswith("progress: bench: run")]
    assert [re.search(r"run (\d+)/2", line)[1] for line in runs] == ["0", "1"]
    assert "running " in runs[-1] and "quant · ratio=8" in runs[-1]
    assert "| input | codec | setting |" in run.stdout  # the table, alone on stdout


def test_default_interval_keeps_short_commands_quiet(files, tmp_path):
    run = ratecraft("encode", files["recording"], "-o", tmp_path / "x.rcz")
    assert run.code == 0 and run.stderr == ""


def test_quiet_shows_no_progress(files, tmp_path):
    run = ratecraft(
        "-q", "encode", files["recording"], "-o", tmp_path / "x.rcz", "--ratio", "8",
        RATECRAFT_PROGRESS_INTERVAL="0",
    )  # fmt: skip
    assert run.code == 0 and run.stderr == ""


def test_verbose_logs_what_encode_does(files, tmp_path):
    run = ratecraft("-v", "encode", files["recording"], "-o", tmp_path / "x.rcz", "--ratio", "8")
    assert run.code == 0
    assert "debug: ratecraft.cli: read " in run.stderr  # what was read
    assert "quant" in run.stderr and "step" in run.stderr  # what rate control chose


def test_fit_on_a_terminal_draws_a_bar_not_log_lines(files, tmp_path):
    run = ratecraft_tty(
        "fit", files["table"], "-o", tmp_path / "m", "--codec", "adaptive-bottleneck",
        "--set", "train.epochs=4", "--set", "hidden=16", RATECRAFT_PROGRESS_INTERVAL="0",
    )  # fmt: skip
    assert run.code == 0, run.stdout
    assert "━" in run.stdout  # Rich's bar
    assert "training" in run.stdout
    assert "progress:" not in run.stdout
    assert "fitted adaptive-bottleneck" in run.stdout


# ---- the view itself ---------------------------------------------------------------------------


@contextmanager
def captured() -> Iterator[list[str]]:
    """The messages the progress logger emits inside the block."""
    logger = logging.getLogger("ratecraft.cli.progress")
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


def test_log_view_writes_one_line_per_step_and_a_last_line():
    view = View("log", interval=0)
    with captured() as lines, progress.reporting(view):
        progress.report("training", 0, 4, unit="epoch")
        progress.report("training", 2, 4, unit="epoch", loss=0.125, val_loss=None)
        progress.finish("training")
        progress.report("encoding", 500, 2000, unit="frames")
        view.close()
    assert lines[0] == "training: epoch 0/4, 0%"
    assert lines[1].startswith("training: epoch 2/4, 50% (loss 0.125; ")
    assert "val loss" not in lines[1]  # None figures are left out
    assert re.search(r"s/epoch, ETA \d+ s\)$", lines[1])
    assert lines[2].startswith("training: done in ")
    assert lines[3] == "encoding: 25%, 500 of 2k frames"
    assert lines[4].startswith("encoding: done in ")  # closed with the command


def test_log_view_waits_for_the_interval():
    view = View("log", interval=3600)
    with captured() as seen, progress.reporting(view):
        for i in range(50):
            progress.report("bench", i, 50, unit="run")
        progress.finish("bench")
    assert seen == []  # shorter than the interval: silent, also at the end


def test_nothing_is_reported_without_a_sink():
    progress.report("training", 1, 2)  # no sink installed: a no-op
    with progress.reporting(None):
        progress.report("training", 1, 2)


def test_duration_and_amount():
    assert duration(42.4) == "42 s"
    assert duration(200) == "3 min 20 s"
    assert duration(3900) == "1 h 05 min"
    assert amount(7_500_000) == "7.5M" and amount(60_000) == "60k" and amount(3) == "3"
