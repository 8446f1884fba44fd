"""Downloads are pinned to a commit: ``resolve/<branch or tag>`` redirects to ``/api/resolve-cache/.../<sha>/``."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from pathlib import Path

import pytest

TOKENS = {"alice": "hf_alice_secret_1", "bob": "hf_bob_secret_22"}
ALICE = {"Authorization": f"Bearer {TOKENS['alice']}"}


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.fixture
def client(tmp_path: Path):
    from starlette.testclient import TestClient

    from genemail.hub.server.app import create_app

    return TestClient(create_app(tmp_path / "root", TOKENS), base_url="http://127.0.0.1:9", follow_redirects=False)


def commit(client, repo: str, files: dict[str, bytes], repo_type: str = "model") -> str:
    lines = [{"key": "header", "value": {"summary": "s"}}] + [
        {"key": "file", "value": {"content": base64.b64encode(d).decode(), "path": p}} for p, d in files.items()]
    resp = client.post(f"/api/{repo_type}s/{repo}/commit/main", headers=ALICE,
                       content=b"\n".join(json.dumps(x).encode() for x in lines))
    assert resp.status_code == 200, resp.text
    return resp.json()["commitOid"]


def test_head_on_a_branch_redirects_to_a_pinned_location(client) -> None:
    client.post("/api/repos/create", json={"name": "r"}, headers=ALICE)
    first = commit(client, "alice/r", {"dir/weights.bin": b"one!"})
    head = client.head("/alice/r/resolve/main/dir/weights.bin", headers=ALICE)
    assert head.status_code == 307
    location = head.headers["location"]
    assert location == f"/api/resolve-cache/models/alice/r/{first}/dir/weights.bin"  # relative, as on the Hub
    assert head.headers["x-repo-commit"] == first

    second = commit(client, "alice/r", {"dir/weights.bin": b"two!"})  # lands between the HEAD and the GET
    pinned_head = client.head(location, headers=ALICE)
    pinned_get = client.get(location, headers=ALICE)
    assert pinned_get.status_code == pinned_head.status_code == 200
    assert pinned_get.content == b"one!"  # the bytes of the commit the HEAD named, not of the new head
    for name in ("x-repo-commit", "etag", "content-length", "content-type", "accept-ranges"):
        assert pinned_head.headers[name] == pinned_get.headers[name], name
    assert pinned_get.headers["x-repo-commit"] == first
    assert pinned_get.headers["etag"] == f'"{git_blob_sha(b"one!")}"'
    # the branch itself now points at the new commit
    assert client.head("/alice/r/resolve/main/dir/weights.bin").headers["x-repo-commit"] == second


def test_tags_short_shas_and_full_shas(client) -> None:
    client.post("/api/repos/create", json={"name": "r"}, headers=ALICE)
    first = commit(client, "alice/r", {"a.txt": b"v1"})
    assert client.post(f"/api/models/alice/r/tag/{first}", json={"tag": "v1", "message": "m"},
                       headers=ALICE).status_code == 200
    commit(client, "alice/r", {"a.txt": b"v2"})
    for rev in ("v1", first[:8]):
        resp = client.get(f"/alice/r/resolve/{rev}/a.txt")
        assert resp.status_code == 307 and f"/{first}/a.txt" in resp.headers["location"]
    direct = client.get(f"/alice/r/resolve/{first}/a.txt")  # already pinned: served as it is
    assert direct.status_code == 200 and direct.content == b"v1" and direct.headers["x-repo-commit"] == first
    ranged = client.get(f"/api/resolve-cache/models/alice/r/{first}/a.txt", headers={"Range": "bytes=1-"})
    assert ranged.status_code == 206 and ranged.content == b"1"


def test_pinned_location_errors_and_visibility(client) -> None:
    client.post("/api/repos/create", json={"name": "p", "private": True}, headers=ALICE)
    client.post("/api/repos/create", json={"name": "d", "type": "dataset"}, headers=ALICE)
    private = commit(client, "alice/p", {"s.txt": b"secret"})
    data = commit(client, "alice/d", {"t b/é.csv": b"a,b\n"}, repo_type="dataset")
    hop = client.head("/datasets/alice/d/resolve/main/t%20b/%C3%A9.csv")
    assert hop.headers["location"] == f"/api/resolve-cache/datasets/alice/d/{data}/t%20b/%C3%A9.csv"
    assert client.get(hop.headers["location"]).content == b"a,b\n"
    hidden = client.head(f"/api/resolve-cache/models/alice/p/{private}/s.txt")
    assert hidden.status_code == 404 and hidden.headers["x-error-code"] == "RepoNotFound"
    bob = client.head(f"/api/resolve-cache/models/alice/p/{private}/s.txt",
                      headers={"Authorization": f"Bearer {TOKENS['bob']}"})
    assert bob.status_code == 404
    assert client.head(f"/api/resolve-cache/models/alice/p/{private}/s.txt", headers=ALICE).status_code == 200
    by_branch = client.head("/api/resolve-cache/models/alice/p/main/s.txt", headers=ALICE)
    assert by_branch.status_code == 404 and by_branch.headers["x-error-code"] == "RevisionNotFound"
    missing = client.head("/alice/p/resolve/main/nope.txt", headers=ALICE)  # no redirect for a missing file
    assert missing.status_code == 404 and missing.headers["x-error-code"] == "EntryNotFound"
    assert missing.headers["x-repo-commit"] == private


@pytest.mark.integration
def test_downloads_racing_commits_file_every_blob_under_its_own_commit(hub_api, repo_name, tmp_path: Path) -> None:
    from huggingface_hub import hf_hub_download

    repo = repo_name("race")
    hub_api.create_repo(repo)
    hub_api.upload_file(path_or_fileobj=b"version 000000", path_in_repo="f.txt", repo_id=repo)
    stop = threading.Event()
    errors: list[BaseException] = []

    def committer() -> None:
        i = 1
        while not stop.is_set():  # same length every time: a mix-up could not show as a size mismatch
            hub_api.upload_file(path_or_fileobj=f"version {i:06d}".encode(), path_in_repo="f.txt", repo_id=repo)
            i += 1

    seen: list[tuple[str, str, str]] = []  # (commit the file is filed under, git sha of its bytes, blob name)

    def downloader(k: int) -> None:
        try:
            while not stop.is_set():
                path = Path(hf_hub_download(repo, "f.txt", cache_dir=tmp_path / f"cache{k}", force_download=True,
                                            token=hub_api.token))
                seen.append((path.parent.name, git_blob_sha(path.read_bytes()), path.resolve().name))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=committer)] + [threading.Thread(target=downloader, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    time.sleep(4)
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors, errors
    commits = {c for c, _, _ in seen}
    assert len(seen) > 30 and len(commits) > 3  # the downloads really did race many commits
    truth = {c: hub_api.get_paths_info(repo, ["f.txt"], revision=c)[0].blob_id for c in commits}
    wrong = [(c, sha) for c, sha, _ in seen if truth[c] != sha]
    assert not wrong, f"{len(wrong)} of {len(seen)} downloads were filed under the wrong commit"
    assert all(sha == blob for _, sha, blob in seen)  # and every cached blob is named by its own git sha
