"""The local Hub survives restarts and ``kill -9`` (servers run as ``genemail hub serve`` subprocesses)."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download

from genemail.hub.server.runner import ServeConfig, ServerProcess, start_process
from tests.fixtures.net import free_port
from tests.fixtures.hub import new_tokens

pytestmark = pytest.mark.integration


def _start(root: Path, tokens: dict[str, str], port: int, delay: float = 0.0) -> ServerProcess:
    config = ServeConfig(root=root, tokens=tokens, port=port, commit_delay=delay)
    return start_process(config, via_cli=True, log_path=root.parent / f"server-{port}-{time.time_ns()}.log")


def _download(api: HfApi, repo: str, filename: str, revision: str, cache: Path) -> bytes:
    path = hf_hub_download(repo, filename, revision=revision, endpoint=api.endpoint, token=api.token,
                           cache_dir=cache)
    return Path(path).read_bytes()


def test_restart_and_kill9_lose_nothing(tmp_path: Path) -> None:
    root, tokens, port = tmp_path / "root", new_tokens(), free_port()
    server = _start(root, tokens, port)
    api = HfApi(endpoint=server.endpoint, token=tokens["alice"])
    try:
        api.create_repo("alice/keep")
        api.create_repo("alice/hidden", private=True)
        first = api.upload_file(path_or_fileobj=b"v1", path_in_repo="m.txt", repo_id="alice/keep").oid
        api.create_tag("alice/keep", tag="v1")
        api.create_branch("alice/keep", branch="exp")
        second = api.upload_file(path_or_fileobj=b"v2", path_in_repo="m.txt", repo_id="alice/keep").oid
    finally:
        server.stop()

    server = _start(root, tokens, port)  # graceful restart
    try:
        assert [c.commit_id for c in api.list_repo_commits("alice/keep")][:2] == [second, first]
        refs = api.list_repo_refs("alice/keep")
        assert {t.name: t.target_commit for t in refs.tags} == {"v1": first}
        assert {b.name for b in refs.branches} == {"main", "exp"}
        assert _download(api, "alice/keep", "m.txt", "v1", tmp_path / "c1") == b"v1"
        assert HfApi(endpoint=server.endpoint, token=False).repo_exists("alice/hidden") is False
        assert api.model_info("alice/hidden").private is True
        third = api.upload_file(path_or_fileobj=b"v3", path_in_repo="m.txt", repo_id="alice/keep").oid
    finally:
        server.kill()  # crash right after an acknowledged commit

    server = _start(root, tokens, port)
    try:
        assert api.model_info("alice/keep").sha == third
        assert _download(api, "alice/keep", "m.txt", "main", tmp_path / "c2") == b"v3"
    finally:
        server.stop()


def test_kill9_in_the_middle_of_a_commit_leaves_history_intact(tmp_path: Path) -> None:
    root, tokens, port = tmp_path / "root", new_tokens(), free_port()
    server = _start(root, tokens, port)
    api = HfApi(endpoint=server.endpoint, token=tokens["alice"])
    try:
        api.create_repo("alice/crash")
        before = api.upload_file(path_or_fileobj=b"safe", path_in_repo="safe.txt", repo_id="alice/crash").oid
    finally:
        server.stop()

    # The test hook sleeps after the commit object is written and before the branch moves.
    server = _start(root, tokens, port, delay=60)
    outcome: list[object] = []

    def doomed_commit() -> None:
        try:
            outcome.append(api.upload_file(path_or_fileobj=b"lost", path_in_repo="lost.txt", repo_id="alice/crash"))
        except Exception as exc:  # the connection drops when the server dies
            outcome.append(exc)

    worker = threading.Thread(target=doomed_commit)
    worker.start()
    deadline = time.monotonic() + 30
    while "before update-ref (test hook)" not in server.log_text():
        assert time.monotonic() < deadline, server.log_text()
        time.sleep(0.05)
    server.kill()
    worker.join(30)
    assert outcome and isinstance(outcome[0], Exception)  # never acknowledged

    server = _start(root, tokens, port)
    try:
        assert api.model_info("alice/crash").sha == before
        assert "lost.txt" not in api.list_repo_files("alice/crash")
        after = api.upload_file(path_or_fileobj=b"next", path_in_repo="next.txt", repo_id="alice/crash").oid
        assert [c.commit_id for c in api.list_repo_commits("alice/crash")][:2] == [after, before]
    finally:
        server.stop()
    repo = root / "models" / "alice" / "crash.git"
    fsck = subprocess.run(["git", f"--git-dir={repo}", "fsck", "--no-dangling"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def test_tokens_never_reach_the_log_or_the_command_line(tmp_path: Path) -> None:
    root, tokens, port = tmp_path / "root", new_tokens(), free_port()
    server = _start(root, tokens, port)
    try:
        api = HfApi(endpoint=server.endpoint, token=tokens["alice"])
        api.create_repo("alice/logs")
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="alice/logs")
        with pytest.raises(Exception):
            HfApi(endpoint=server.endpoint, token="hf_wrong_token_value").whoami()
        with pytest.raises(Exception):
            HfApi(endpoint=server.endpoint, token=tokens["bob"]).create_repo("alice/not-yours")
        cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes().decode(errors="replace")
    finally:
        server.stop()
    log = server.log_text()
    assert '"POST /api/repos/create HTTP/1.1" 200' in log  # the access log is on...
    for secret in (*tokens.values(), "hf_wrong_token_value"):
        assert secret not in log and secret not in cmdline  # ...and never shows a token
