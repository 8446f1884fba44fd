"""Bad payloads are 400s naming the field; one path rule everywhere; exact parentCommit; boolean settings.

These run the app in-process (Starlette's TestClient): no server process, a fresh root per test.
"""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import pytest

from genemail.hub.server import git
from genemail.hub.server.errors import RepoNotFound
from genemail.hub.server.payload import check_repo_path
from genemail.hub.server.storage import AddFile, RepoId

TOKENS = {"alice": "hf_alice_secret_1", "bob": "hf_bob_secret_22"}
ALICE = {"Authorization": f"Bearer {TOKENS['alice']}"}
BOB = {"Authorization": f"Bearer {TOKENS['bob']}"}


def ndjson(*items: object) -> bytes:
    return b"\n".join(json.dumps(item).encode() if not isinstance(item, bytes) else item for item in items)


def add(path: str, data: bytes = b"x") -> dict:
    return {"key": "file", "value": {"content": base64.b64encode(data).decode(), "path": path, "encoding": "base64"}}


HEADER = {"key": "header", "value": {"summary": "s", "description": ""}}


@pytest.fixture
def client(tmp_path: Path):
    from starlette.testclient import TestClient

    from genemail.hub.server.app import create_app

    client = TestClient(create_app(tmp_path / "root", TOKENS), base_url="http://127.0.0.1:9")
    assert client.post("/api/repos/create", json={"name": "r"}, headers=ALICE).status_code == 200
    assert client.post("/api/models/alice/r/commit/main", content=ndjson(HEADER, add("a.txt", b"A")),
                       headers=ALICE).status_code == 200
    return client


def head_sha(client) -> str:
    return client.get("/api/models/alice/r").json()["sha"]


# -- commit payloads ----------------------------------------------------------------------------

BAD_COMMITS = [
    (ndjson({"value": {}}), "line 1.key"),
    (ndjson({"key": 7, "value": {}}), "line 1.key"),
    (ndjson({"key": "teleport", "value": {}}), "line 1.key"),
    (ndjson({"key": "file"}), "line 1.value"),
    (ndjson({"key": "file", "value": "a.txt"}), "line 1.value"),
    (ndjson(HEADER, {"key": "file", "value": {"content": "QQ==", "encoding": "base64"}}), "line 2.value.path"),
    (ndjson({"key": "file", "value": {"content": "QQ==", "path": ["a"]}}), "line 1.value.path"),
    (ndjson({"key": "file", "value": {"content": 5, "path": "a"}}), "line 1.value.content"),
    (ndjson({"key": "file", "value": {"path": "a"}}), "line 1.value.content"),
    (ndjson({"key": "file", "value": {"content": "QQ", "path": "a"}}), "line 1.value.content"),
    (ndjson({"key": "file", "value": {"content": "QQ==", "path": "a", "encoding": "utf-7"}}), "line 1.value.encoding"),
    (ndjson({"key": "deletedFile", "value": {"path": None}}), "line 1.value.path"),
    (ndjson({"key": "header", "value": {"summary": ["s"]}}), "header.summary"),
    (ndjson({"key": "header", "value": {"summary": "s", "parentCommit": 12}}), "header.parentCommit"),
    (ndjson(HEADER, HEADER), "second header"),
    (ndjson(b'{"key": "file", "value": {"content": "QQ==", "path": "a\\u0000b"}}'), "line 1.value.path"),
    (ndjson(b'{"key": "file", "value": {"content": "QQ==", "path": "a\\ud800b"}}'), "line 1.value.path"),
    (ndjson(b'{"key": "header", "value": {"summary": "a\\u0000b"}}'), "line 1.value.summary"),
    (ndjson(b'{"key": "header", "value": {"summary": "\\udc00"}}'), "line 1.value.summary"),
    (ndjson(b'{"key": "header", "value": {"summary": "s"}'), "line 1 is not valid JSON"),
    (ndjson(b'{"key": "header", "value": NaN}'), "line 1 is not valid JSON"),
    (ndjson(b"\xff\xfe{}"), "line 1 is not valid UTF-8"),
    (ndjson(b"[" * 100_000 + b"]" * 100_000), "line 1"),
    (ndjson(json.loads("[" * 80 + "]" * 80)), "nested more than 64"),
    (ndjson({"key": "lfsFile", "value": {"path": "a", "oid": "0" * 64, "size": 1}}), "LFS"),
]


@pytest.mark.parametrize("payload, named", BAD_COMMITS, ids=[n for _, n in BAD_COMMITS])
def test_bad_commit_payloads_are_400s_naming_the_field(client, payload: bytes, named: str) -> None:
    before = head_sha(client)
    resp = client.post("/api/models/alice/r/commit/main", content=payload, headers=ALICE)
    assert resp.status_code == 400, resp.text
    assert named in resp.json()["error"]
    assert head_sha(client) == before  # nothing was committed


def test_long_strings_outside_file_contents_are_refused_by_name(client) -> None:
    huge = "A" * 400_000  # longer than the in-memory bound: only file contents may be that long
    resp = client.post("/api/models/alice/r/commit/main", headers=ALICE,
                       content=ndjson({"key": "header", "value": {"summary": huge}}))
    assert resp.status_code == 400 and "header.summary" in resp.json()["error"]
    assert "longer than" in resp.json()["error"]
    bad = client.post("/api/models/alice/r/commit/main", headers=ALICE,
                      content=ndjson({"key": "file", "value": {"content": huge[:-1] + "!", "path": "big"}}))
    assert bad.status_code == 400 and "line 1.value.content" in bad.json()["error"]


def test_a_long_file_content_with_json_escapes_is_stored_exactly(client) -> None:
    data = bytes(range(256)) * 2000  # 512 KB: over the in-memory bound, so it is streamed
    text = base64.b64encode(data).decode().replace("/", "\\/")  # a JSON encoder may escape '/'
    line = ('{"key": "file", "value": {"content": "' + text + '", "path": "bin/data.bin"}}').encode()
    resp = client.post("/api/models/alice/r/commit/main", content=ndjson(HEADER, line), headers=ALICE)
    assert resp.status_code == 200, resp.text
    assert client.get("/alice/r/resolve/main/bin/data.bin").content == data


# -- one path rule on commit and on request -----------------------------------------------------

BAD_PATHS = ["", "/", "a//b", "../x", "a/../b", "./a", "a/.", ".git/config", "x/.GIT/hooks", "sub/.git",
             ":(glob)*", ":!a.txt", "a\\b", "a\x00b", "a\nb", "\ud800.txt", "a/" + "b" * 5000]
GOOD_PATHS = ["a.txt", "dir/sub/f.bin", "with space.txt", "é/ü.txt", "a..b", ".gitignore", "x.git", "*", "[ab]"]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_the_path_rule_refuses(path: str) -> None:
    from genemail.hub.server.errors import BadRequest

    with pytest.raises(BadRequest, match="invalid file path"):
        check_repo_path(path, where="files[0].path")


@pytest.mark.parametrize("path", GOOD_PATHS)
def test_the_path_rule_accepts(path: str) -> None:
    assert check_repo_path("/" + path + "/") == path


@pytest.mark.parametrize("path", [p for p in BAD_PATHS if p.strip("/") and "\ud800" not in p])
def test_bad_paths_are_refused_on_commit_and_on_request(client, path: str) -> None:
    from urllib.parse import quote

    commit = client.post("/api/models/alice/r/commit/main", content=ndjson(HEADER, add(path)), headers=ALICE)
    assert commit.status_code == 400 and "line 2.value.path" in commit.json()["error"], commit.text
    url_path = quote(path, safe="/").replace(".", "%2E")  # or the HTTP client would collapse ./..
    for resp in (client.head(f"/alice/r/resolve/main/{url_path}"),
                 client.get(f"/api/models/alice/r/tree/main/{url_path}"),
                 client.post("/api/models/alice/r/paths-info/main", data={"paths": path}),
                 client.post("/api/models/alice/r/preupload/main", headers=ALICE,
                             json={"files": [{"path": path, "size": 1, "sample": ""}]})):
        if resp.status_code == 404 and path.startswith(("a//", "/")):
            continue  # an empty URL segment may not reach the route at all
        assert resp.status_code == 400, (resp.request.method, resp.request.url, resp.status_code, resp.text)


def test_lone_surrogates_in_urls_are_refused(client) -> None:
    assert client.head("/alice/r/resolve/main/%ED%A0%80.txt").status_code == 400  # U+D800 in "UTF-8"
    assert client.head("/alice/r/resolve/main/%FF.txt").status_code == 400


def test_git_reads_paths_literally(client) -> None:
    resp = client.post("/api/models/alice/r/commit/main", headers=ALICE,
                       content=ndjson(HEADER, add("*", b"star"), add("[ab]", b"brackets"), add("ab", b"ab"),
                                      add("b", b"b")))
    assert resp.status_code == 200
    assert client.get("/alice/r/resolve/main/%2A").content == b"star"
    assert client.get("/alice/r/resolve/main/%5Bab%5D").content == b"brackets"
    assert client.head("/alice/r/resolve/main/a%3F").status_code == 404  # "a?" is no glob for "ab"
    infos = client.post("/api/models/alice/r/paths-info/main", data={"paths": ["*"]}).json()
    assert [i["path"] for i in infos] == ["*"]


# -- JSON bodies ---------------------------------------------------------------------------------

BAD_JSON = [
    ("post", "/api/repos/create", {"name": 5}, "name"),
    ("post", "/api/repos/create", {"name": "n", "private": "false"}, "private"),
    ("post", "/api/repos/create", {"name": "n", "visibility": "hidden"}, "visibility"),
    ("post", "/api/repos/create", {"name": "n", "type": "bucket"}, "type"),
    ("post", "/api/repos/create", {"name": "n", "organization": ["alice"]}, "organization"),
    ("post", "/api/repos/create", {"name": "n\u0000"}, "name"),
    ("post", "/api/repos/create", [1, 2], "JSON object"),
    ("put", "/api/models/alice/r/settings", {"private": "false"}, "private"),
    ("put", "/api/models/alice/r/settings", {"private": 1}, "private"),
    ("put", "/api/models/alice/r/settings", {"visibility": True}, "visibility"),
    ("put", "/api/models/alice/r/settings", {"gated": "auto"}, "gated"),
    ("post", "/api/models/alice/r/tag/main", {"tag": 3}, "tag"),
    ("post", "/api/models/alice/r/tag/main", {}, "tag"),
    ("post", "/api/models/alice/r/tag/main", {"tag": "v1", "message": {"m": 1}}, "message"),
    ("post", "/api/models/alice/r/branch/dev", {"startingPoint": ["main"]}, "startingPoint"),
    ("post", "/api/models/alice/r/preupload/main", {"files": {"path": "a"}}, "files"),
    ("post", "/api/models/alice/r/preupload/main", {}, "files"),
    ("post", "/api/models/alice/r/preupload/main", {"files": ["a"]}, "files[0]"),
    ("post", "/api/models/alice/r/preupload/main", {"files": [{"path": "a", "size": "1"}]}, "files[0].size"),
    ("post", "/api/models/alice/r/preupload/main", {"files": [{"size": 1}]}, "files[0].path"),
    ("post", "/api/models/alice/r/paths-info/main", {"paths": "a"}, "paths"),
    ("post", "/api/models/alice/r/paths-info/main", {"paths": [1]}, "paths[0]"),
    ("post", "/api/validate-yaml", {"content": 5}, "content"),
]


@pytest.mark.parametrize("method, url, body, named", BAD_JSON, ids=[f"{u} {n}" for _, u, _, n in BAD_JSON])
def test_bad_json_bodies_are_400s_naming_the_field(client, method: str, url: str, body: object, named: str) -> None:
    resp = client.request(method.upper(), url, json=body, headers=ALICE)
    assert resp.status_code == 400, resp.text
    assert named in resp.json()["error"]


@pytest.mark.parametrize("raw", [b'{"name": "a\\ud800"}', b'{"name": "x", "private": NaN}', b"{" * 5000,
                                 b'{"name": "x"', b"\xc3\x28", b'{"a": ' * 70 + b"1" + b"}" * 70])
def test_malformed_json_is_a_400(client, raw: bytes) -> None:
    resp = client.post("/api/repos/create", content=raw, headers={**ALICE, "Content-Type": "application/json"})
    assert resp.status_code == 400, resp.text


def test_settings_flags_must_be_booleans(client) -> None:
    assert client.put("/api/models/alice/r/settings", json={"private": "false"}, headers=ALICE).status_code == 400
    assert client.get("/api/models/alice/r").json()["private"] is False  # "false" did not make it private
    assert client.put("/api/models/alice/r/settings", json={"private": True}, headers=ALICE).json() == {"private": True}
    assert client.get("/api/models/alice/r").status_code == 404  # anonymous: now invisible
    assert client.put("/api/models/alice/r/settings", json={"visibility": "public"}, headers=ALICE).json() == {
        "private": False}
    assert client.put("/api/models/alice/r/settings", json={"private": True, "visibility": "public"},
                      headers=ALICE).status_code == 400


# -- parentCommit -------------------------------------------------------------------------------


def test_parent_commit_must_be_the_exact_head(client) -> None:
    head = head_sha(client)

    def commit(parent: str, name: str) -> object:
        header = {"key": "header", "value": {"summary": name, "parentCommit": parent}}
        return client.post("/api/models/alice/r/commit/main", content=ndjson(header, add(name)), headers=ALICE)

    for prefix in (head[:1], head[:7], head[:39]):
        resp = commit(prefix, "p.txt")
        assert resp.status_code == 400 and "header.parentCommit" in resp.json()["error"]
    assert commit(head, "ok.txt").status_code == 200
    stale = commit(head, "late.txt")
    assert stale.status_code == 412 and "not the head" in stale.json()["error"]
    assert "late.txt" not in {e["path"] for e in client.get("/api/models/alice/r/tree/main").json()}


# -- commits racing delete_repo -----------------------------------------------------------------


def test_a_commit_on_a_deleted_repo_is_not_found(tmp_path: Path) -> None:
    from genemail.hub.server.storage import RepoStore

    store = RepoStore(tmp_path / "root")
    repo = store.create(RepoId("model", "alice", "gone"), owner="alice", private=False)
    store.delete(repo)  # between the request's lookup and its commit
    with pytest.raises(RepoNotFound):
        store.commit(repo, "main", [AddFile("x", b"1")], "m\n", "alice")
    with pytest.raises(RepoNotFound):
        store.write_blob(repo, b"data")
    again = store.create(RepoId("model", "alice", "gone"), owner="alice", private=False)
    with pytest.raises(RepoNotFound):  # a new repo of the same name is not the one the request saw
        store.commit(repo, "main", [AddFile("x", b"1")], "m\n", "alice")
    assert git.count_commits(again.path, store.resolve(again, "main")) == 1


def test_commits_racing_delete_repo_get_404_or_409_never_500(client) -> None:
    statuses: list[int] = []
    for round_ in range(6):
        name = f"race{round_}"
        assert client.post("/api/repos/create", json={"name": name}, headers=ALICE).status_code == 200
        start = threading.Barrier(5)

        def commit(i: int, name: str = name) -> None:
            start.wait()
            resp = client.post(f"/api/models/alice/{name}/commit/main", headers=ALICE,
                               content=ndjson(HEADER, add(f"f{i}.bin", bytes(300_000))))
            statuses.append(resp.status_code)

        threads = [threading.Thread(target=commit, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        start.wait()
        assert client.request("DELETE", "/api/repos/delete", json={"name": name}, headers=ALICE).status_code == 200
        for t in threads:
            t.join(30)
    assert statuses and set(statuses) <= {200, 404, 409}, statuses


def test_control_characters_in_commit_messages_round_trip_in_history(client) -> None:
    summary, description = "a\x1eb\x1fc\tend", "line\x1e1\n\nline 2"
    header = {"key": "header", "value": {"summary": summary, "description": description}}
    assert client.post("/api/models/alice/r/commit/main", content=ndjson(header, add("m.txt")),
                       headers=ALICE).status_code == 200
    history = client.get("/api/models/alice/r/commits/main")
    assert history.status_code == 200
    assert (history.json()[0]["title"], history.json()[0]["message"]) == (summary, description)
