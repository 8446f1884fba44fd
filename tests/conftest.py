"""Test-wide set-up.

``huggingface_hub`` reads ``HF_ENDPOINT`` and ``HF_HOME`` once, at first import, so they are set
here, before any test module imports it: the endpoint points at the local Hub that the
``hub_server`` fixture starts on a free loopback port, and ``HF_HOME`` at a temporary folder.
No test talks to anything but loopback.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.fixtures.net import free_port

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

pytest_plugins = [
    "tests.fixtures.data",
    "tests.fixtures.hub",
    "tests.fixtures.models",
    "tests.fixtures.app",
    "tests.fixtures.experiments",
]

REPO_ROOT = Path(__file__).resolve().parent.parent


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
