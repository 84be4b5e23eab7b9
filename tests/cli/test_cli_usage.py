"""Usage errors, help text and ``--version`` through the real entry point."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest
import typer
from cli_helpers import ratecraft, ratecraft_tty

from ratecraft.cli import app


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["encode"], "missing argument"),
        (["encode", "x.npz", "--bogus"], "no such option: --bogus"),
        (["encode", "x.npz", "-o", "y.rcz", "--ratio", "abc"], "--ratio"),
        (["nope"], "no such command 'nope'"),
        (["fit", "x.csv", "-o", "m", "--set"], "--set"),
        (["-v", "-q", "info", "x.npz"], "not both"),
        (["--progress-interval", "-1", "info", "x.npz"], "--progress-interval"),
    ],
)
def test_usage_errors_are_one_line_exit_2(args, words):
    run = ratecraft(*args)
    assert run.code == 2, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("error: ") and words in lines[0], lines[0]
    assert "╭" not in run.stderr and "Usage:" not in run.stderr and "Traceback" not in run.stderr


def test_usage_error_on_a_terminal_is_one_line_too():
    run = ratecraft_tty("encode", "x.npz", "--bogus")
    assert run.code == 2
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", run.stdout).strip()
    assert text.splitlines() == [
        "error: no such option: --bogus (see 'ratecraft encode --help')"
    ], text


def test_usage_error_names_the_command_help():
    run = ratecraft("decode", "a.rcz")
    assert run.stderr.strip().endswith("(see 'ratecraft decode --help')"), run.stderr


def test_version():
    run = ratecraft("--version")
    assert run.code == 0 and run.stdout.strip() == f"ratecraft {version('ratecraft')}"
    assert run.stderr == ""


def _commands(group) -> list:
    return [group, *(c for c in group.commands.values())]


def test_help_shows_no_flag_types_and_no_doubled_defaults():
    root = typer.main.get_command(app)
    ctx_root = root.make_context("ratecraft", [], resilient_parsing=True)
    for cmd in _commands(root):
        ctx = ctx_root if cmd is root else cmd.make_context(cmd.name, [], parent=ctx_root,
                                                            resilient_parsing=True)  # fmt: skip
        for param in cmd.get_params(ctx):
            if getattr(param, "is_flag", False):
                assert param.metavar == "", (cmd.name, param.name)
            shown = param.show_default and param.default not in (None, False)
            help_text = (getattr(param, "help", None) or "").lower()
            assert not (shown and "default" in help_text), (cmd.name, param.name, help_text)
        first = (cmd.help or "").strip().split("\n\n")[0]
        assert first and "\n" not in first, (cmd.name, first)  # a one-line summary


@pytest.mark.parametrize("command", ["encode", "fit", "autopilot", "bench"])
def test_help_text_has_no_bool_types(command):
    run = ratecraft(command, "--help")
    assert run.code == 0
    assert "<bool>" not in run.stdout
    assert not re.search(r"\(default [^)]*\)\.?\s*\[default:", run.stdout)
