"""The CLI skeleton: every subcommand answers --help, user errors exit 2 without a traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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


def _training_scripts() -> list[str]:
    import pkgutil

    import training

    return sorted(m.name for m in pkgutil.iter_modules(training.__path__) if not m.name.startswith("_"))


def _assert_usage_error(code: int, err: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and ("Usage:" in err or "Error" in err)


@pytest.mark.parametrize("path", _all_command_paths(), ids=lambda p: " ".join(p) or "root")
def test_every_command_refuses_an_unknown_option_with_usage_and_exit_2(path: list[str], capsys) -> None:
    code = run(path + ["--no-such-option"])
    captured = capsys.readouterr()
    _assert_usage_error(code, captured.err)


@pytest.mark.parametrize("script", _training_scripts())
def test_every_training_script_refuses_bad_usage_with_exit_2(script: str, capsys) -> None:
    import importlib

    module = importlib.import_module(f"training.{script}")
    assert module.main(["--help"]) == 0
    capsys.readouterr()
    _assert_usage_error(module.main(["--no-such-option"]), capsys.readouterr().err)


def test_a_training_script_run_as_a_program_prints_usage_not_a_traceback() -> None:
    out = subprocess.run([sys.executable, "-m", "training.train_base", "--corpus"], capture_output=True, text=True,
                         timeout=120)
    _assert_usage_error(out.returncode, out.stderr)


def test_a_directory_given_as_a_file_is_a_usage_error(tmp_path, capsys) -> None:
    code = run(["campaign", "--artifacts", str(tmp_path), "--data", str(tmp_path), "--out", str(tmp_path / "o.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "directory" in err.lower()


def test_an_unreadable_file_is_a_usage_error() -> None:
    """Run as an unprivileged user (root reads every file): the usual usage message, exit 2."""
    import os
    import shutil
    import tempfile

    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: root can read a file without read permission")
    folder = Path(tempfile.mkdtemp(prefix="genemail-unreadable-"))  # outside pytest's private tmp folder
    try:
        folder.chmod(0o755)
        secret = folder / "customers.csv"
        secret.write_text("ID\n1\n")
        secret.chmod(0)
        cmd = [sys.executable, "-m", "genemail", "campaign", "--artifacts", str(folder), "--data", str(secret),
               "--out", str(folder / "o.jsonl")]
        if os.geteuid() == 0:
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=folder,
                             env={**os.environ, "HF_HOME": str(folder / "hf")})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    _assert_usage_error(out.returncode, out.stderr)
    assert "is not readable" in re.sub(r"[\s│╭╮╰╯─]+", " ", out.stderr)
