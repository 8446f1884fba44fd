"""Who may write is decided before the body is read; bodies have limits (413 naming the limit)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from genemail.errors import ConfigError
from genemail.hub.server.body import MIB, Limits

TOKENS = {"alice": "hf_alice_secret_1", "bob": "hf_bob_secret_22"}
ALICE = {"Authorization": f"Bearer {TOKENS['alice']}"}
LIMITS = Limits(max_commit_bytes=2 * MIB, max_request_bytes=64 * 1024)


def raw_request(endpoint: str, request_head: str, timeout: float = 5.0) -> tuple[int, str, float]:
    """Send only the request line and headers (never the announced body); return (status, body, seconds)."""
    parts = urlsplit(endpoint)
    start = time.monotonic()
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(request_head.replace("\n", "\r\n").encode() + b"\r\n")
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace"), time.monotonic() - start


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory) -> Iterator[str]:
    """A server subprocess with small limits (2 MiB commits, 64 KiB other bodies) and alice/x created."""
    from huggingface_hub import HfApi

    from genemail.hub.server.runner import ServeConfig, start_process
    from tests.fixtures.net import free_port

    root = tmp_path_factory.mktemp("limits")
    config = ServeConfig(root=root / "root", tokens=TOKENS, port=free_port(),
                         max_commit_bytes=LIMITS.max_commit_bytes, max_request_bytes=LIMITS.max_request_bytes)
    server = start_process(config, log_path=root / "server.log")
    try:
        HfApi(endpoint=server.endpoint, token=TOKENS["alice"]).create_repo("alice/x")
        yield server.endpoint
    finally:
        server.stop()


def commit_head(endpoint: str, token: str | None, length: int) -> str:
    auth = f"Authorization: Bearer {token}\n" if token else ""
    return (f"POST /api/models/alice/x/commit/main HTTP/1.1\nHost: {urlsplit(endpoint).netloc}\n{auth}"
            f"Content-Type: application/x-ndjson\nContent-Length: {length}\n")


@pytest.mark.integration
@pytest.mark.parametrize("token, status, says", [
    (None, 401, "needs a token"),
    (TOKENS["bob"], 403, "may not write to namespace 'alice'"),
    ("hf_not_a_known_token", 401, "Invalid credentials"),
])
def test_uploads_are_refused_before_their_body_is_sent(limited_server: str, token, status: int, says: str) -> None:
    code, body, seconds = raw_request(limited_server, commit_head(limited_server, token, 1_000_000_000))
    assert code == status and says in body
    assert seconds < 3  # answered at once: the server did not wait for the 1 GB it was promised


@pytest.mark.integration
def test_a_body_over_the_limit_is_a_413_naming_the_limit(limited_server: str) -> None:
    code, body, seconds = raw_request(limited_server, commit_head(limited_server, TOKENS["alice"], 3 * MIB))
    assert code == 413 and "limit of 2 MiB" in body and "--max-commit-mb" in body and seconds < 3
    host = urlsplit(limited_server).netloc
    anon = raw_request(limited_server, f"POST /api/repos/create HTTP/1.1\nHost: {host}\nContent-Length: 999999999\n")
    assert anon[0] == 401  # the guard runs before the size check: nothing is read for a stranger
    json_head = (f"POST /api/repos/create HTTP/1.1\nHost: {host}\nAuthorization: Bearer {TOKENS['alice']}\n"
                 "Content-Type: application/json\nContent-Length: 70000\n")
    code, body, _ = raw_request(limited_server, json_head)
    assert code == 413 and "limit of 64 KiB" in body and "--max-request-mb" in body


def test_a_chunked_body_is_cut_off_at_the_limit(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from genemail.hub.server.app import create_app

    client = TestClient(create_app(tmp_path / "root", TOKENS, limits=LIMITS), base_url="http://127.0.0.1:9")
    client.post("/api/repos/create", json={"name": "x"}, headers=ALICE)
    def body() -> Iterator[bytes]:  # no Content-Length: the server counts as it reads
        yield json.dumps({"key": "header", "value": {"summary": "big"}}).encode() + b"\n"
        yield b'{"key": "file", "value": {"path": "big.bin", "content": "'
        for _ in range(64):
            yield b"A" * 65536
        yield b'"}}\n'

    resp = client.post("/api/models/alice/x/commit/main", content=body(), headers=ALICE)
    assert resp.status_code == 413 and "limit of 2 MiB" in resp.json()["error"]
    assert "big.bin" not in {e["path"] for e in client.get("/api/models/alice/x/tree/main").json()}
    too_much = client.post("/api/repos/create", headers=ALICE, content=(b" " * 70_000 + b'{"name": "y"}'))
    assert too_much.status_code == 413


def test_limits_are_validated() -> None:
    from genemail.hub.server.runner import ServeConfig

    for bad in (0, -1, 1000, True, 2.5):
        with pytest.raises(ConfigError, match="max_commit_bytes"):
            Limits(max_commit_bytes=bad)
    with pytest.raises(ConfigError, match="max_request_bytes"):
        ServeConfig(root=Path("x"), tokens=TOKENS, max_request_bytes=10)
    config = ServeConfig(root=Path("x"), tokens=TOKENS, max_commit_bytes=3 * MIB)
    assert config.limit_args() == ["--max-commit-mb", "3.000000"]


def test_commit_memory_bounds_are_per_line_and_for_what_is_kept(tmp_path: Path) -> None:
    import base64
    import os

    from starlette.testclient import TestClient

    from genemail.hub.server.app import create_app

    client = TestClient(create_app(tmp_path / "root", TOKENS, limits=Limits(max_commit_bytes=64 * MIB,
                                                                            max_request_bytes=MIB)),
                        base_url="http://127.0.0.1:9")
    client.post("/api/repos/create", json={"name": "x"}, headers=ALICE)

    def post(lines: list[dict]):
        return client.post("/api/models/alice/x/commit/main", headers=ALICE,
                           content=b"\n".join(json.dumps(line).encode() for line in lines))

    header = {"key": "header", "value": {"summary": "s"}}
    # 40 files of 100 KB: 5 MiB of short contents in all, far over 1 MiB, but never more than one line at a time
    files = [{"key": "file", "value": {"path": f"f{i}.bin", "content": base64.b64encode(os.urandom(100_000)).decode()}}
             for i in range(40)]
    assert post([header, *files]).status_code == 200
    wide = {"key": "file", "value": {"path": "w", "content": "QQ==", "extra": ["A" * 200_000] * 6}}
    resp = post([header, wide])
    assert resp.status_code == 413 and "one commit payload line" in resp.json()["error"]
    many = [{"key": "deletedFile", "value": {"path": f"{'d' * 200}/{i}"}} for i in range(5000)]
    resp = post([header, *many])
    assert resp.status_code == 413 and "list of operations" in resp.json()["error"]
