"""The CLI skeleton: every subcommand answers --help, user errors exit 2 without a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from genemail.cli import app, run


def _all_command_paths() -> list[list[str]]:
    import typer.main

    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(cmd, prefix):  # click groups nest
        paths.append(prefix)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, prefix + [name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", _all_command_paths(), ids=lambda p: " ".join(p) or "root")
def test_every_command_has_help(path: list[str], capsys) -> None:
    assert run(path + ["--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_console_script_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "genemail", "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "segment" in out.stdout
