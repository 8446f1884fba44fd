"""Test-wide set-up.

``huggingface_hub`` reads ``HF_ENDPOINT`` and ``HF_HOME`` once, at first import, so they are set
here, before any test module imports it: the endpoint points at the local Hub that the
``hub_server`` fixture starts on a free loopback port, and ``HF_HOME`` at a temporary folder.
No test talks to anything but loopback.
"""

from __future__ import annotations

import locale
import os
import sys
import tempfile
from pathlib import Path

import pytest

from tests.fixtures.net import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="genemail-tests-"))
HUB_PORT = free_port()
os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{HUB_PORT}"
os.environ["HF_HOME"] = str(_SESSION_TMP / "hf_home")
os.environ.pop("HF_TOKEN", None)
os.environ.pop("HF_HUB_OFFLINE", None)
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_UPDATE_CHECK"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
# One compute thread per process (subprocesses inherit it): the suite's models are tiny, and a test
# process beside a Hub or app subprocess on two cores otherwise oversubscribes them; OpenMP's
# spinning threads then made a micro-model campaign 15x slower than on one thread.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
# Gradio keeps uploads in $GRADIO_TEMP_DIR, by default <tmp>/gradio: one folder for every user of the
# machine, owned by whoever ran a Gradio app there first, so another user's uploads failed with
# PermissionError (HTTP 500). The session's private folder is this user's alone.
os.environ["GRADIO_TEMP_DIR"] = str(_SESSION_TMP / "gradio")
# Subprocesses (`python -m genemail`, `-m training.*`, `-m bench.*`) import this checkout whatever the
# current folder is and whichever checkout the virtual environment was installed from.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
# Text files and pipes are UTF-8 in every subprocess, whatever the machine's locale (the corpus is Chinese).
os.environ["PYTHONUTF8"] = "1"

pytest_plugins = [
    "tests.fixtures.data",
    "tests.fixtures.hub",
    "tests.fixtures.models",
    "tests.fixtures.app",
    "tests.fixtures.experiments",
]


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to run where text I/O is not UTF-8: tests would then fail by locale, not by code."""
    encoding = locale.getpreferredencoding(False)
    if not sys.flags.utf8_mode and encoding.replace("-", "").lower() != "utf8":
        pytest.exit(f"this Python writes text files as {encoding} (the locale's encoding), and the tests write "
                    "Chinese text: run them with PYTHONUTF8=1 (`make test` sets it) or python -X utf8 -m pytest",
                    returncode=2)


@pytest.fixture(scope="session")
def session_tmp() -> Path:
    """A folder shared by the whole test session (removed by the OS tmp cleaner)."""
    return _SESSION_TMP


@pytest.fixture(scope="session")
def real_data_file() -> Path:
    """The real Kaggle file from ../shared/data (or $GENEMAIL_REAL_DATA); skips visibly when absent."""
    from genemail.settings import real_data_path

    path = real_data_path()
    if path is None:
        pytest.skip("real data absent: ../shared/data/marketing_campaign.csv not found and GENEMAIL_REAL_DATA unset")
    return path
