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


@pytest.mark.location
def test_console_script_runs(tmp_path: Path) -> None:
    """From a folder outside the checkout: nothing depends on the current directory."""
    out = subprocess.run([sys.executable, "-m", "genemail", "--help"], capture_output=True, text=True, cwd=tmp_path)
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


@pytest.mark.location
def test_a_training_script_run_as_a_program_prints_usage_not_a_traceback(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "training.train_base", "--corpus"], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    _assert_usage_error(out.returncode, out.stderr)


def test_a_directory_given_as_a_file_is_a_usage_error(tmp_path, capsys) -> None:
    code = run(["campaign", "--artifacts", str(tmp_path), "--data", str(tmp_path), "--out", str(tmp_path / "o.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "directory" in err.lower()


# Ways to run a child that file permissions apply to. Root keeps its uid but drops the two capabilities
# that let it read any file, so a checkout that root owns stays importable wherever it lies (a private
# 0700 folder included); the unprivileged user 65534 ("nobody") is the fallback.
_ROOT_WITHOUT_READ_ALL = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                          "--bounding-set=-dac_override,-dac_read_search"]
_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
# The child must import genemail *from this checkout*, read a readable file in the folder and fail to
# read the unreadable one; anything else is a reason not to use that way.
_PROBE = """
import sys
from pathlib import Path
try:
    import genemail.cli
except Exception as exc:
    sys.exit(f"cannot import genemail: {exc}")
if not Path(genemail.__file__).resolve().is_relative_to(sys.argv[1]):
    sys.exit(f"imports another checkout's genemail ({genemail.__file__})")
open(sys.argv[2]).close()
try:
    open(sys.argv[3]).close()
except PermissionError:
    sys.exit(0)
sys.exit("can still read a file with mode 000")
"""


def _unprivileged_prefix(folder: Path, readable: Path, secret: Path) -> list[str]:
    """A command prefix under which ``secret`` is unreadable and this checkout importable; else skip, saying why."""
    import os
    import shutil

    from tests.conftest import REPO_ROOT

    if os.geteuid() != 0:
        candidates = {"this user": []}
    elif shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux): root reads a file without read permission")
    else:
        candidates = {"root without CAP_DAC_OVERRIDE": _ROOT_WITHOUT_READ_ALL, "user 65534": _NOBODY}
    reasons = []
    for name, prefix in candidates.items():
        probe = subprocess.run([*prefix, sys.executable, "-c", _PROBE, str(REPO_ROOT), str(readable), str(secret)],
                               capture_output=True, text=True, timeout=120, cwd=folder)
        if probe.returncode == 0:
            return prefix
        reasons.append(f"{name}: {(probe.stderr.strip().splitlines() or ['exit %d' % probe.returncode])[-1]}")
    pytest.skip("no way to run the CLI where a file can be unreadable and this checkout importable ("
                + "; ".join(reasons) + ")")


@pytest.mark.location
def test_an_unreadable_file_is_a_usage_error() -> None:
    """Run where file permissions apply (root reads every file): the usual usage message, exit 2."""
    import os
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="genemail-unreadable-"))  # outside pytest's private tmp folder
    try:
        folder.chmod(0o755)
        readable, secret = folder / "readable.txt", folder / "customers.csv"
        readable.write_text("ok\n")
        secret.write_text("ID\n1\n")
        secret.chmod(0)
        prefix = _unprivileged_prefix(folder, readable, secret)
        cmd = [*prefix, sys.executable, "-m", "genemail", "campaign", "--artifacts", str(folder), "--data",
               str(secret), "--out", str(folder / "o.jsonl")]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=folder,
                             env={**os.environ, "HF_HOME": str(folder / "hf")})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    _assert_usage_error(out.returncode, out.stderr)
    assert "is not readable" in re.sub(r"[\s│╭╮╰╯─]+", " ", out.stderr)
