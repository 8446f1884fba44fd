"""The local Hub through the real ``huggingface_hub`` client and ``hf`` CLI (session server on HUB_PORT)."""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import CommitScheduler, HfApi, hf_hub_download, snapshot_download
from huggingface_hub import errors as E

from tests.conftest import REPO_ROOT

SHA = re.compile(r"[0-9a-f]{40}")
CONFORMANCE = REPO_ROOT.parent / "shared" / "tools" / "hub_conformance.py"


@pytest.fixture
def released(hub_api: HfApi, repo_name, tmp_path: Path) -> dict:
    """A repo with two commits on main, tag v1 on the first, a branch `exp` and a branch `feat/x`."""
    repo = repo_name("rel")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "config.json").write_text('{"r": 8}')
    (src / "sub" / "weights.bin").write_bytes(os.urandom(50_000))
    hub_api.create_repo(repo)
    first = hub_api.upload_folder(repo_id=repo, folder_path=src, commit_message="first").oid
    hub_api.create_tag(repo, tag="v1", tag_message="first release")
    hub_api.create_branch(repo, branch="exp", revision="v1")
    hub_api.create_branch(repo, branch="feat/x")
    second = hub_api.upload_file(path_or_fileobj=b'{"r": 16}', path_in_repo="config.json", repo_id=repo).oid
    return {"repo": repo, "src": src, "first": first, "second": second}


def test_create_repo_twice_with_exist_ok(hub_api: HfApi, repo_name) -> None:
    repo = repo_name()
    url = hub_api.create_repo(repo)
    assert url.repo_id == repo and url.startswith(hub_api.endpoint)
    assert hub_api.create_repo(repo, exist_ok=True).repo_id == repo
    with pytest.raises(E.HfHubHTTPError) as info:
        hub_api.create_repo(repo)
    assert info.value.response.status_code == 409
    bare = repo.split("/")[1] + "-bare"
    assert hub_api.create_repo(bare).repo_id == f"alice/{bare}"  # no namespace: the caller's


def test_upload_refs_history_and_tree(hub_api: HfApi, released: dict) -> None:
    repo, first, second = released["repo"], released["first"], released["second"]
    assert SHA.fullmatch(first) and SHA.fullmatch(second) and first != second
    refs = hub_api.list_repo_refs(repo)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": second, "exp": first, "feat/x": first}
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1", first)]
    commits = hub_api.list_repo_commits(repo)
    assert [c.commit_id for c in commits[:2]] == [second, first]
    assert commits[1].title == "first" and commits[0].authors == ["alice"]
    assert commits[-1].title == "initial commit"
    tree = {e.path: e for e in hub_api.list_repo_tree(repo, recursive=True)}
    assert tree["sub/weights.bin"].size == 50_000
    assert tree["sub/weights.bin"].blob_id == _git_blob_sha((released["src"] / "sub" / "weights.bin").read_bytes())
    assert type(tree["sub"]).__name__ == "RepoFolder"
    assert [e.path for e in hub_api.list_repo_tree(repo, path_in_repo="sub")] == ["sub/weights.bin"]
    assert [p.path for p in hub_api.get_paths_info(repo, ["config.json", "nope"])] == ["config.json"]


def test_repo_info_at_tag_sha_and_branch(hub_api: HfApi, released: dict) -> None:
    repo, first, second = released["repo"], released["first"], released["second"]
    assert hub_api.model_info(repo, revision="v1").sha == first
    assert hub_api.model_info(repo, revision=first).sha == first
    info = hub_api.model_info(repo)
    assert info.sha == second and info.private is False and info.last_modified is not None
    assert {s.rfilename for s in info.siblings} == {"config.json", "sub/weights.bin"}


def test_downloads_by_branch_tag_and_sha(hub_api: HfApi, released: dict, tmp_path: Path) -> None:
    repo, src, first = released["repo"], released["src"], released["first"]
    assert Path(hf_hub_download(repo, "config.json")).read_bytes() == b'{"r": 16}'
    assert Path(hf_hub_download(repo, "config.json", revision="v1")).read_bytes() == b'{"r": 8}'
    weights = (src / "sub" / "weights.bin").read_bytes()
    for rev in ("feat/x", "v1", first):
        snap = Path(snapshot_download(repo, revision=rev, cache_dir=tmp_path / f"cache-{rev.replace('/', '_')}"))
        assert (snap / "sub" / "weights.bin").read_bytes() == weights
        assert (snap / "config.json").read_bytes() == b'{"r": 8}'


def test_missing_things_raise_the_right_errors(hub_api: HfApi, released: dict) -> None:
    repo = released["repo"]
    with pytest.raises(E.RepositoryNotFoundError):
        hub_api.model_info(f"{repo}-missing")
    with pytest.raises(E.RevisionNotFoundError):
        hub_api.model_info(repo, revision="no-such-rev")
    with pytest.raises(E.EntryNotFoundError):
        hf_hub_download(repo, "no-such-file.bin")
    assert hub_api.file_exists(repo, "sub/weights.bin") is True
    assert hub_api.file_exists(repo, "nope.bin") is False
    assert hub_api.revision_exists(repo, "v1") is True
    assert hub_api.revision_exists(repo, "nope") is False
    assert hub_api.repo_exists(f"{repo}-missing") is False


def test_writes_need_a_token_and_stay_in_their_namespace(hub_server, hub_api: HfApi, released: dict,
                                                         repo_name) -> None:
    repo = released["repo"]
    anon = HfApi(endpoint=hub_server.endpoint, token=False)
    bob = HfApi(endpoint=hub_server.endpoint, token=hub_server.bob_token)
    with pytest.raises(E.HfHubHTTPError, match="needs a token"):
        anon.upload_file(path_or_fileobj=b"x", path_in_repo="intruder.txt", repo_id=repo)
    with pytest.raises(E.HfHubHTTPError, match="may not write to namespace 'alice'"):
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="intruder.txt", repo_id=repo)
    with pytest.raises(E.HfHubHTTPError) as info:
        bob.create_repo(repo_name(user="alice"))
    assert info.value.response.status_code == 403
    assert "intruder.txt" not in hub_api.list_repo_files(repo)
    assert bob.create_repo(repo_name(user="bob")).repo_id.startswith("bob/")
    assert anon.model_info(repo).sha == released["second"]  # public reads need no token


def test_private_repo_is_invisible_to_others(hub_server, hub_api: HfApi, repo_name) -> None:
    repo = repo_name("priv")
    hub_api.create_repo(repo, private=True)
    hub_api.upload_file(path_or_fileobj=b"secret", path_in_repo="s.txt", repo_id=repo)
    assert hub_api.model_info(repo).private is True
    for token in (False, hub_server.bob_token):
        other = HfApi(endpoint=hub_server.endpoint, token=token)
        with pytest.raises(E.RepositoryNotFoundError):
            other.model_info(repo)
        assert other.repo_exists(repo) is False
        assert other.file_exists(repo, "s.txt") is False
    with pytest.raises(E.RepositoryNotFoundError):
        hf_hub_download(repo, "s.txt", token=False)


def test_delete_file_folder_and_repo(hub_api: HfApi, repo_name) -> None:
    repo = repo_name("del")
    hub_api.create_repo(repo)
    hub_api.upload_file(path_or_fileobj=b"1", path_in_repo="a/one.txt", repo_id=repo)
    hub_api.upload_file(path_or_fileobj=b"2", path_in_repo="two.txt", repo_id=repo)
    hub_api.delete_file("two.txt", repo_id=repo)
    hub_api.delete_folder("a", repo_id=repo)
    assert hub_api.list_repo_files(repo) == []
    hub_api.delete_repo(repo)
    assert hub_api.repo_exists(repo) is False


@pytest.mark.integration
def test_commit_scheduler_pushes_a_jsonl_file(hub_api: HfApi, repo_name, tmp_path: Path) -> None:
    repo = repo_name("feedback")
    folder = tmp_path / "feedback"
    folder.mkdir()
    scheduler = CommitScheduler(repo_id=repo, repo_type="dataset", folder_path=folder, every=5, hf_api=hub_api)
    try:
        (folder / "ratings.jsonl").write_text('{"rating": 5}\n')
        scheduler.trigger().result()
        (folder / "ratings.jsonl").write_text('{"rating": 5}\n{"rating": 3}\n')
        scheduler.trigger().result()
    finally:
        scheduler.stop()
    text = Path(hf_hub_download(repo, "ratings.jsonl", repo_type="dataset", token=hub_api.token)).read_text()
    assert text.splitlines() == ['{"rating": 5}', '{"rating": 3}']


@pytest.mark.integration
def test_hf_cli_download_by_tag(hub_server, released: dict, tmp_path: Path) -> None:
    out = tmp_path / "local"
    env = hub_server.env()
    env["HF_HOME"] = str(tmp_path / "cli-home")
    proc = subprocess.run([str(Path(sys.executable).parent / "hf"), "download", released["repo"], "--revision", "v1",
                           "--local-dir", str(out)], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (out / "config.json").read_bytes() == b'{"r": 8}'
    assert (out / "sub" / "weights.bin").read_bytes() == (released["src"] / "sub" / "weights.bin").read_bytes()


@pytest.mark.integration
def test_concurrent_downloads_and_commits(hub_api: HfApi, released: dict) -> None:
    repo = released["repo"]
    weights = hashlib.sha256((released["src"] / "sub" / "weights.bin").read_bytes()).hexdigest()

    def download(_: int) -> str:
        path = hf_hub_download(repo, "sub/weights.bin", revision="v1", force_download=True)
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()

    def commit(i: int) -> str:
        return hub_api.upload_file(path_or_fileobj=f"file {i}".encode(), path_in_repo=f"parallel/{i}.txt",
                                   repo_id=repo, commit_message=f"parallel {i}").oid

    with cf.ThreadPoolExecutor(25) as pool:
        downloads = [pool.submit(download, i) for i in range(20)]
        commits = [pool.submit(commit, i) for i in range(5)]
        digests = [f.result() for f in downloads]
        oids = [f.result() for f in commits]
    assert digests == [weights] * 20
    history = [c.commit_id for c in hub_api.list_repo_commits(repo)]
    assert set(oids) <= set(history) and len(set(oids)) == 5  # every acknowledged commit is there
    assert history[5:7] == [released["second"], released["first"]]  # linear: the five sit on top
    files = set(hub_api.list_repo_files(repo))
    assert {f"parallel/{i}.txt" for i in range(5)} <= files


@pytest.mark.integration
def test_conformance_script_passes(tmp_path: Path) -> None:
    if not CONFORMANCE.is_file():
        pytest.skip(f"conformance script absent: {CONFORMANCE} (needs ../shared)")
    from genemail.hub.server.runner import ServeConfig, start_process
    from tests.fixtures.net import free_port
    from tests.fixtures.hub import new_tokens

    tokens = new_tokens()
    server = start_process(ServeConfig(root=tmp_path / "root", tokens=tokens, port=free_port()))
    try:
        env = {**os.environ, "HF_ENDPOINT": server.endpoint, "HF_TOKEN": tokens["alice"],
               "HF_TOKEN_OTHER": tokens["bob"]}
        proc = subprocess.run([sys.executable, str(CONFORMANCE), "--cli", str(Path(sys.executable).parent / "hf")],
                              capture_output=True, text=True, timeout=400, env=env)
    finally:
        server.stop()
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr
    assert proc.returncode == 0 and last.endswith(" 0 failed"), proc.stdout[-3000:] + proc.stderr[-2000:]


def _git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
