"""`genemail campaign --backend openai` against `genemail serve` started here on a free port (real HTTP).

Under greedy decoding the emails (and every other field but the batch latency) equal the local backend's,
row for row: the same prompts go through the same adapters, only over the OpenAI completions API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from genemail.cli import run
from tests.fixtures.net import free_port

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parent.parent
TIMING = ("latency_s", "sent_at")  # wall-clock fields: the only ones that may differ


def _rows(path: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING}
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def server(app_release, session_tmp: Path) -> Iterator[str]:
    """`python -m genemail serve --release bob/genemail-release --revision v1` on a free port; yields its /v1 URL."""
    import httpx

    port = free_port()
    log = (session_tmp / f"serve-{port}.log").open("w")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_ENDPOINT": app_release.endpoint}
    proc = subprocess.Popen([sys.executable, "-m", "genemail", "serve", "--release", app_release.repo_id,
                             "--revision", "v1", "--port", str(port), "--batch-wait-ms", "20"],
                            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"genemail serve exited {proc.returncode}; see {log.name}"
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail(f"genemail serve did not answer within 180 s; see {log.name}")
        yield f"{url}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory) -> Path:
    from genemail.data import write_synthetic

    return write_synthetic(48, 5, tmp_path_factory.mktemp("serve") / "customers.csv")


def test_the_openai_backend_writes_the_local_backends_emails(server: str, app_release, small_csv: Path,
                                                            tmp_path: Path) -> None:
    common = ["campaign", "--release", app_release.repo_id, "--revision", "v1", "--data", str(small_csv),
              "--max-new-tokens", "8", "--batch-size", "16"]
    assert run([*common, "--out", str(tmp_path / "local.jsonl")]) == 0
    assert run([*common, "--out", str(tmp_path / "remote.jsonl"), "--backend", "openai", "--base-url", server]) == 0
    local, remote = _rows(tmp_path / "local.jsonl"), _rows(tmp_path / "remote.jsonl")
    assert len(local) == len(remote) > 40
    assert [r["email"] for r in remote] == [r["email"] for r in local]
    assert [r["baseline_email"] for r in remote] == [r["baseline_email"] for r in local]
    assert remote == local  # token counts, adapter shas, release revision: every field
    assert all(r["release_revision"] == "v1" and r["email"] for r in remote)
    assert len({r["adapter"] for r in remote}) >= 3  # several adapters went through the server


def test_an_experiment_sends_only_each_arms_email_through_the_server(server: str, app_release, small_csv: Path,
                                                                   tmp_path: Path) -> None:
    common = ["campaign", "--release", app_release.repo_id, "--revision", "v1", "--data", str(small_csv),
              "--max-new-tokens", "6", "--experiment", "serve-test", "--control", "0.3", "--holdout", "0.2"]
    assert run([*common, "--out", str(tmp_path / "local.jsonl")]) == 0
    assert run([*common, "--out", str(tmp_path / "remote.jsonl"), "--backend", "openai", "--base-url", server]) == 0
    local, remote = _rows(tmp_path / "local.jsonl"), _rows(tmp_path / "remote.jsonl")
    assert remote == local and {r["arm"] for r in remote} == {"segmented", "control", "holdout"}


def test_the_official_openai_client_talks_to_genemail_serve(server: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=server, api_key="EMPTY")
    models = {m.id: m for m in client.models.list().data}
    assert "Dormant" in models and "baseline" in models
    answer = client.completions.create(model="Dormant", prompt="客户：40岁\n邮件：", max_tokens=5, temperature=0)
    assert answer.choices[0].finish_reason in ("stop", "length") and answer.usage.completion_tokens >= 1


def test_genemail_serve_writes_checked_emails(server: str, small_csv: Path) -> None:
    import httpx
    import pandas as pd

    records = pd.read_csv(small_csv).head(2).to_json(orient="records")
    body = httpx.post(f"{server}/emails", content=f'{{"customers": {records}, "max_new_tokens": 6}}',
                      headers={"content-type": "application/json"}, timeout=300).json()
    assert [c["index"] for c in body["data"]] == [0, 1] and body["release"]["revision"] == "v1"
    assert all(e["qa_status"] in ("passed", "fallback") for c in body["data"] for e in c["emails"].values())
    assert body["summary"]["segmented"]["emails"] == body["summary"]["baseline"]["emails"] == 2


def test_a_server_that_is_down_or_a_missing_url_is_a_clear_error(server: str, app_release, small_csv: Path,
                                                                    tmp_path: Path, capsys) -> None:
    down = f"http://127.0.0.1:{free_port()}/v1"
    common = ["campaign", "--release", app_release.repo_id, "--revision", "v1", "--data", str(small_csv),
              "--out", str(tmp_path / "x.jsonl"), "--backend", "openai"]
    assert run([*common, "--base-url", down]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the completions server" in err and "Traceback" not in err
    assert run([*common]) == 2 and "--base-url" in capsys.readouterr().err
    assert run([*common, "--base-url", "ftp://x"]) == 2 and "base_url" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()
