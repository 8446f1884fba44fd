"""Unit tests of the local Hub's parts: auth, the git-backed store, range parsing, routing, CLI options."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from genemail.errors import ConfigError
from genemail.hub.server import git
from genemail.hub.server.auth import Auth, collect_tokens, load_tokens_file, parse_token_spec
from genemail.hub.server.errors import (
    BadRequest,
    Conflict,
    EntryNotFound,
    Forbidden,
    PreconditionFailed,
    RepoNotFound,
    RevisionNotFound,
    Unauthorized,
)
from genemail.hub.server.files import RangeNotSatisfiable, parse_range
from genemail.hub.server.storage import (
    AddFile,
    DeleteFile,
    DeleteFolder,
    RepoId,
    RepoStore,
    check_repo_path,
    is_valid_ref_name,
)

TOKENS = {"alice": "hf_alice_secret_1", "bob": "hf_bob_secret_22"}


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> RepoStore:
    return RepoStore(tmp_path / "root")


@pytest.fixture
def repo(store: RepoStore):
    return store.create(RepoId("model", "alice", "demo"), owner="alice", private=False)


# -- auth ---------------------------------------------------------------------------------------


def test_token_spec_parses_and_rejects_bad_values() -> None:
    assert parse_token_spec("alice:hf_secret_123") == ("alice", "hf_secret_123")
    for bad in ("alice", ":secret1234", "alice:", "bad name:secret1234", "api:secret1234", "alice:short"):
        with pytest.raises(ConfigError) as info:
            parse_token_spec(bad)
        assert "secret1234" not in str(info.value)  # secrets are never echoed back


def test_tokens_file_skips_comments_and_names_the_bad_line(tmp_path: Path) -> None:
    good = tmp_path / "tokens.txt"
    good.write_text("# users\nalice:hf_alice_secret_1\n\nbob:hf_bob_secret_22\n")
    assert load_tokens_file(good) == TOKENS
    assert collect_tokens(["alice:hf_other_secret"], good)["alice"] == "hf_other_secret"
    bad = tmp_path / "bad.txt"
    bad.write_text("alice:hf_alice_secret_1\nnocolon\n")
    with pytest.raises(ConfigError, match=r"bad\.txt:2"):
        load_tokens_file(bad)


def test_auth_maps_tokens_to_users_and_namespaces() -> None:
    auth = Auth(TOKENS)
    assert auth.user_for("Bearer hf_bob_secret_22") == "bob"
    assert auth.user_for(None) is None
    with pytest.raises(Unauthorized, match="Invalid credentials"):
        auth.user_for("Bearer not-a-token")
    assert auth.require_write("alice", "alice", "commit") == "alice"
    with pytest.raises(Forbidden, match="namespace 'bob'"):
        auth.require_write("alice", "bob", "commit")
    with pytest.raises(Unauthorized, match="needs a token"):
        auth.require_write(None, "alice", "commit")
    assert auth.can_read(None, "alice", private=False)
    assert not auth.can_read("bob", "alice", private=True)
    assert auth.can_read("alice", "alice", private=True)


# -- names and paths ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["main", "feat/x", "v1.0", "release-3"])
def test_valid_ref_names(name: str) -> None:
    assert is_valid_ref_name(name)


@pytest.mark.parametrize("name", ["", "main~1", "a..b", "x^", "a:b", "/x", "x/", "x.lock", ".hidden", "a b", "@"])
def test_invalid_ref_names(name: str) -> None:
    assert not is_valid_ref_name(name)


@pytest.mark.parametrize("path", ["../x", "a/../b", ".git/config", "a//b", ""])
def test_repo_paths_refuse_escapes(path: str) -> None:
    with pytest.raises(BadRequest):
        check_repo_path(path)


def test_repo_id_validation() -> None:
    assert RepoId("dataset", "alice", "ratings").url_prefix == "datasets/"
    for bad in (("model", "alice", "x.git"), ("model", "al/ice", "x"), ("thing", "alice", "x"), ("model", "a", "..x")):
        with pytest.raises(BadRequest):
            RepoId(*bad)


# -- the store ----------------------------------------------------------------------------------


def test_create_makes_a_bare_git_repo_with_an_initial_commit(store: RepoStore, repo) -> None:
    assert (repo.path / "HEAD").is_file() and not (repo.path / ".git").exists()
    head = store.resolve(repo, "main")
    assert git.SHA_RE.fullmatch(head)
    assert git.tree_of(repo.path, head) == git.EMPTY_TREE
    fsck = subprocess.run(["git", f"--git-dir={repo.path}", "fsck", "--no-dangling"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    meta = json.loads((repo.path / "genemail-repo.json").read_text())
    assert meta["private"] is False and meta["owner"] == "alice"
    with pytest.raises(Conflict):
        store.create(RepoId("model", "alice", "demo"), owner="alice", private=True)
    with pytest.raises(RepoNotFound):
        store.get(RepoId("model", "alice", "nope"))


def test_commit_add_delete_and_blob_ids(store: RepoStore, repo) -> None:
    data = b"\x00\x01binary"
    first = store.commit(repo, "main", [AddFile("a.txt", b"A"), AddFile("d/w.bin", data), AddFile("d/e/x", b"x")],
                         "add\n", "alice")
    entry = store.entry(repo, first, "d/w.bin")
    assert entry is not None and entry.oid == git_blob_sha(data) and entry.size == len(data)
    # git itself agrees: the object is a real blob with those bytes
    assert b"".join(git.stream_blob(repo.path, entry.oid)) == data
    second = store.commit(repo, "main", [DeleteFile("a.txt"), DeleteFolder("d/e")], "rm\n", "alice")
    files = {e.path for e in git.ls_tree(repo.path, second, recursive=True) if e.kind == "blob"}
    assert files == {"d/w.bin"}
    assert [r.oid for r in git.log(repo.path, second, 0, 10)][:2] == [second, first]
    with pytest.raises(EntryNotFound, match="doesn't exist"):
        store.commit(repo, "main", [DeleteFile("a.txt")], "again\n", "alice")
    with pytest.raises(BadRequest, match="is a file"):
        store.commit(repo, "main", [AddFile("d/w.bin/inner", b"z")], "clash\n", "alice")


def test_parent_commit_is_a_compare_and_swap(store: RepoStore, repo) -> None:
    base = store.resolve(repo, "main")
    new = store.commit(repo, "main", [AddFile("x", b"1")], "one\n", "alice", parent_commit=base)
    with pytest.raises(PreconditionFailed, match="parentCommit"):
        store.commit(repo, "main", [AddFile("x", b"2")], "two\n", "alice", parent_commit=base)
    assert store.resolve(repo, "main") == new
    # only the exact head passes: a prefix (even of the right sha) is not a compare-and-swap
    for prefix in (new[:1], new[:7], new[:39]):
        with pytest.raises(BadRequest, match="parentCommit"):
            store.commit(repo, "main", [AddFile("x", b"3")], "three\n", "alice", parent_commit=prefix)
    with pytest.raises(BadRequest, match="parentCommit"):
        store.commit(repo, "main", [AddFile("x", b"3")], "three\n", "alice", parent_commit=new.upper())
    assert store.commit(repo, "main", [AddFile("x", b"3")], "three\n", "alice", parent_commit=new) != new


def test_a_commit_that_changes_nothing_returns_the_head(store: RepoStore, repo) -> None:
    head = store.commit(repo, "main", [AddFile("x", b"1")], "one\n", "alice")
    assert store.commit(repo, "main", [AddFile("x", b"1")], "retry\n", "alice") == head
    assert git.count_commits(repo.path, head) == 2  # initial + one


def test_branches_tags_and_revision_resolution(store: RepoStore, repo) -> None:
    c1 = store.commit(repo, "main", [AddFile("x", b"1")], "one\n", "alice")
    store.create_tag(repo, "v1", c1, "first release", "alice")  # annotated
    store.create_branch(repo, "feat/x", c1)
    c2 = store.commit(repo, "main", [AddFile("x", b"2")], "two\n", "alice")
    store.create_tag(repo, "light", c2, None, "alice")  # lightweight
    assert store.resolve(repo, "v1") == c1  # annotated tag peeled to its commit
    assert store.resolve(repo, "feat/x") == c1
    assert store.resolve(repo, c1[:8]) == c1
    assert store.resolve(repo, "light") == c2
    branches, tags = store.refs(repo)
    assert dict(branches) == {"main": c2, "feat/x": c1}
    assert dict(tags) == {"v1": c1, "light": c2}
    with pytest.raises(Conflict):
        store.create_tag(repo, "v1", c2, None, "alice")
    with pytest.raises(Conflict):
        store.create_branch(repo, "feat/x", c2)
    for missing in ("nope", "main~1", "0" * 40, "HEAD^"):
        with pytest.raises(RevisionNotFound):
            store.resolve(repo, missing)
    store.delete_ref(repo, "tag", "light")
    with pytest.raises(RevisionNotFound):
        store.resolve(repo, "light")


def test_tree_listing_of_a_folder(store: RepoStore, repo) -> None:
    sha = store.commit(repo, "main", [AddFile("top.txt", b"t"), AddFile("sub/a", b"a"), AddFile("sub/deep/b", b"b")],
                       "m\n", "alice")
    assert [(e.kind, e.path) for e in store.tree(repo, sha, "sub")] == [("blob", "sub/a"), ("tree", "sub/deep")]
    assert {e.path for e in store.tree(repo, sha, "", recursive=True)} == {
        "top.txt", "sub", "sub/a", "sub/deep", "sub/deep/b"}
    with pytest.raises(EntryNotFound):
        store.tree(repo, sha, "nowhere")


def test_startup_recovery_removes_stale_ref_locks(tmp_path: Path) -> None:
    store = RepoStore(tmp_path / "root")
    repo = store.create(RepoId("model", "alice", "demo"), owner="alice", private=False)
    (repo.path / "refs" / "heads" / "main.lock").write_text("left by a killed process")
    (store.root / ".tmp" / "index-stale").write_text("x")
    with pytest.raises(Exception):  # git refuses to move a locked ref
        store.commit(repo, "main", [AddFile("x", b"1")], "m\n", "alice")
    RepoStore(tmp_path / "root")  # a restart
    assert not (repo.path / "refs" / "heads" / "main.lock").exists()
    assert not (store.root / ".tmp" / "index-stale").exists()
    assert store.commit(repo, "main", [AddFile("x", b"1")], "m\n", "alice")


def test_repo_is_usable_by_plain_git(store: RepoStore, repo, tmp_path: Path) -> None:
    store.commit(repo, "main", [AddFile("hello.txt", b"hi\n")], "hello\n", "alice")
    out = subprocess.run(["git", "clone", "-q", str(repo.path), str(tmp_path / "clone")], capture_output=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "clone" / "hello.txt").read_bytes() == b"hi\n"


# -- HTTP details -------------------------------------------------------------------------------


def test_range_parsing() -> None:
    assert parse_range("bytes=2-5", 10) == (2, 5)
    assert parse_range("bytes=7-", 10) == (7, 9)
    assert parse_range("bytes=-3", 10) == (7, 9)
    assert parse_range("bytes=5-100", 10) == (5, 9)
    for bad in ("bytes=10-", "bytes=5-2", "items=1-2", "bytes=-"):
        with pytest.raises(RangeNotSatisfiable):
            parse_range(bad, 10)


def test_app_routes_on_the_raw_path_and_sends_error_headers(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from genemail.hub.server.app import create_app

    client = TestClient(create_app(tmp_path / "root", TOKENS), base_url="http://127.0.0.1:9")
    auth = {"Authorization": f"Bearer {TOKENS['alice']}"}
    created = client.post("/api/repos/create", json={"name": "r", "organization": None, "type": "model"}, headers=auth)
    assert created.json()["url"] == "http://127.0.0.1:9/alice/r"
    assert client.post("/api/repos/create", json={"name": "r"}, headers=auth).status_code == 409
    assert client.post("/api/models/alice/r/branch/feat%2Fx", json={}, headers=auth).status_code == 200
    payload = b"\n".join(json.dumps(x).encode() for x in [
        {"key": "header", "value": {"summary": "s"}},
        {"key": "file", "value": {"path": "dir/f.txt", "encoding": "base64",
                                  "content": base64.b64encode(b"hello").decode()}}])
    commit = client.post("/api/models/alice/r/commit/feat%2Fx", content=payload, headers=auth).json()
    assert commit["commitUrl"].endswith(f"/alice/r/commit/{commit['commitOid']}")
    head = client.head("/alice/r/resolve/feat%2Fx/dir/f.txt")
    assert head.headers["x-repo-commit"] == commit["commitOid"]
    assert head.headers["etag"] == f'"{git_blob_sha(b"hello")}"'
    assert head.headers["content-length"] == "5"
    assert client.get("/alice/r/resolve/feat%2Fx/dir/f.txt").content == b"hello"
    missing = client.head("/alice/r/resolve/main/dir/f.txt")
    assert missing.status_code == 404 and missing.headers["x-error-code"] == "EntryNotFound"
    assert missing.headers["x-repo-commit"]
    assert client.get("/api/models/alice/r/revision/nope").headers["x-error-code"] == "RevisionNotFound"
    assert client.get("/api/models/alice/zz").headers["x-error-code"] == "RepoNotFound"
    anon = client.post("/api/models/alice/r/commit/main", content=payload)
    assert anon.status_code == 401 and "needs a token" in anon.json()["error"]
    pr = client.post("/api/models/alice/r/commit/main?create_pr=1", content=payload, headers=auth)
    assert pr.status_code == 400 and "pull requests" in pr.json()["error"]
    bad_yaml = client.post("/api/validate-yaml", json={"content": "---\nkey: [unclosed\n---\n"})
    assert bad_yaml.status_code == 400 and bad_yaml.json()["errors"]


def test_commit_history_is_paginated_with_link_headers(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from genemail.hub.server.app import create_app

    app = create_app(tmp_path / "root", TOKENS, commits_page_size=2)
    store = app.state.hub.store
    repo = store.create(RepoId("model", "alice", "hist"), owner="alice", private=False)
    for i in range(4):
        store.commit(repo, "main", [AddFile("n", str(i).encode())], f"commit {i}\n", "alice")
    client = TestClient(app, base_url="http://127.0.0.1:9")
    seen, url = [], "/api/models/alice/hist/commits/main"
    while url:
        resp = client.get(url)
        seen += [c["title"] for c in resp.json()]
        assert all(c["date"].endswith(".000Z") for c in resp.json())
        url = resp.links.get("next", {}).get("url")
    assert seen == ["commit 3", "commit 2", "commit 1", "commit 0", "initial commit"]


# -- configuration and CLI ----------------------------------------------------------------------


def test_serve_config_validation(tmp_path: Path) -> None:
    from genemail.hub.server.runner import ServeConfig

    with pytest.raises(ConfigError, match="--port"):
        ServeConfig(root=tmp_path, tokens=TOKENS, port=0)
    with pytest.raises(ConfigError, match="no users"):
        ServeConfig(root=tmp_path, tokens={})
    assert ServeConfig(root=tmp_path, tokens=TOKENS, port=1234).endpoint == "http://127.0.0.1:1234"
    assert "hf_alice" not in repr(ServeConfig(root=tmp_path, tokens=TOKENS))


def test_cli_serve_refuses_a_bad_token_without_a_traceback(tmp_path: Path, capsys) -> None:
    from genemail.cli import run

    assert run(["hub", "serve", "--root", str(tmp_path), "--token", "alice"]) == 2
    err = capsys.readouterr().err
    assert "NAME:SECRET" in err and "Traceback" not in err


def test_start_in_thread_serves_the_real_client(tmp_path: Path) -> None:
    from huggingface_hub import HfApi

    from genemail.hub.server.runner import ServeConfig, start_in_thread
    from tests.fixtures.net import free_port

    server = start_in_thread(ServeConfig(root=tmp_path / "root", tokens=TOKENS, port=free_port(), access_log=False))
    try:
        api = HfApi(endpoint=server.endpoint, token=TOKENS["bob"])
        assert api.whoami()["name"] == "bob"
        assert api.create_repo("bob/threaded").repo_id == "bob/threaded"
    finally:
        server.stop()
    assert not server._thread.is_alive()
