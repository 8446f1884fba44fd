"""Pulling releases by revision: round trip, verification, branches, offline cache, `hf download`, restarts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genemail.cli import run
from genemail.errors import HubError, ReleaseError
from genemail.hub.publish import PublishConfig, publish
from genemail.hub.release import format_pull_table, list_release_tags, pull_release
from genemail.segmentation import load_segmenter
from tests.fixtures.artifacts import NS, RELEASE, build_artifacts, new_tag

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def published(tmp_path_factory, hub_server, tiny_base_model_dir, tiny_adapters_dir, tiny_corpus_dir):
    """One publish shared by this module: (result, artifacts dir, fitted segmenter, customers)."""
    art, model, customers = build_artifacts(tmp_path_factory.mktemp("pull"), tiny_base_model_dir,
                                            tiny_adapters_dir, tiny_corpus_dir)
    result = publish(PublishConfig(art, NS, new_tag(), token=hub_server.alice_token))
    return result, art, model, customers


def test_round_trip_loads_what_was_published(published) -> None:
    result, art, model, customers = published
    pulled = pull_release(RELEASE, result.tag)
    assert pulled.release_sha == result.release_sha and pulled.revision_kind == "tag"
    assert not pulled.is_mutable and pulled.warnings == []
    assert pulled.manifest == result.manifest
    segmenter = load_segmenter(pulled.segmenter_path)
    assert (segmenter.predict(customers) == model.predict(customers)).all()
    assert (segmenter.predict_proba(customers) == model.predict_proba(customers)).all()
    assert set(pulled.adapters) == set(result.manifest.adapters)
    dormant = pulled.adapters["Dormant"]
    assert dormant.revision == result.manifest.adapters["Dormant"].sha and dormant.path.name == dormant.revision
    assert (dormant.path / "adapter_model.safetensors").read_bytes() == \
        (art / "adapters" / "Dormant" / "adapter_model.safetensors").read_bytes()
    assert (pulled.base_model_path / "config.json").is_file() and pulled.base_model.id == "alice/genemail-base"
    assert (pulled.corpus_path / "train.jsonl").read_bytes() == (art / "corpus" / "train.jsonl").read_bytes()
    assert pulled.strategies.read_bytes() == (art / "strategies.yaml").read_bytes()
    assert pulled.eval == json.loads((art / "eval" / "eval.json").read_text())
    table = format_pull_table(pulled)
    for pin in result.manifest.pins().values():
        assert f"{pin.repo_id}  " in table and pin.sha[:12] in table


def test_pull_by_sha_and_by_branch(published) -> None:
    result = published[0]
    by_sha = pull_release(RELEASE, result.release_sha)
    assert by_sha.revision_kind == "sha" and not by_sha.is_mutable and by_sha.manifest == result.manifest
    main = pull_release(RELEASE, "main")
    assert main.revision_kind == "branch" and main.is_mutable
    assert main.warnings == ["main is a branch: this pull is not reproducible; pin a tag or sha"]


def test_pull_into_a_local_dir(published, tmp_path: Path) -> None:
    result = published[0]
    pulled = pull_release(RELEASE, result.tag, local_dir=tmp_path / "rel")
    assert pulled.release_sha == result.release_sha
    assert pulled.segmenter_path == tmp_path / "rel" / "segmenter" / "segmenter.skops"
    assert (tmp_path / "rel" / "adapter-Dormant" / "adapter_config.json").is_file()
    assert pulled.adapters["baseline"].path == tmp_path / "rel" / "adapter-baseline"


def test_missing_repo_revision_and_tags(published) -> None:
    result = published[0]
    assert result.tag in list_release_tags(RELEASE)
    with pytest.raises(HubError, match="neither a tag nor a branch") as info:
        pull_release(RELEASE, "no-such-tag")
    assert result.tag in str(info.value)  # says which tags exist
    with pytest.raises(HubError, match="not found"):
        pull_release("alice/no-such-release-repo", "v1")
    with pytest.raises(HubError, match="not found"):
        list_release_tags("alice/no-such-release-repo")


def _fake_release(hub_api, repo_name, manifest: dict, extra: dict[str, bytes] | None = None) -> str:
    from huggingface_hub import CommitOperationAdd

    repo = repo_name("fake-release")
    hub_api.create_repo(repo)
    files = {"release.json": json.dumps(manifest).encode(), **(extra or {})}
    hub_api.create_commit(repo, [CommitOperationAdd(p, b) for p, b in files.items()], commit_message="fake")
    return repo


def test_invalid_manifest_and_pin_mismatches_are_release_errors(published, hub_api, repo_name) -> None:
    data = published[0].manifest.to_dict()
    branch_pin = json.loads(json.dumps(data))
    branch_pin["artifacts"]["segmenter"]["sha"] = "main"
    with pytest.raises(ReleaseError, match="full 40-hex"):
        pull_release(_fake_release(hub_api, repo_name, branch_pin), "main")

    missing_file = json.loads(json.dumps(data))
    missing_file["artifacts"]["segmenter"]["files"].append("not-there.bin")
    with pytest.raises(ReleaseError, match="not-there.bin"):
        pull_release(_fake_release(hub_api, repo_name, missing_file, {"strategies.yaml": b"x"}), "main")

    wrong_strategies = _fake_release(hub_api, repo_name, data, {"strategies.yaml": b"version: 9\n"})
    with pytest.raises(ReleaseError, match="sha256"):
        pull_release(wrong_strategies, "main")

    wrong_commit = json.loads(json.dumps(data))
    wrong_commit["artifacts"]["segmenter"]["sha"] = "0" * 40
    with pytest.raises(HubError):  # no such commit in the segmenter repo
        pull_release(_fake_release(hub_api, repo_name, wrong_commit), "main")

    with pytest.raises(ReleaseError, match="release.json"):
        repo = repo_name("not-a-release")
        hub_api.create_repo(repo)
        hub_api.upload_file(path_or_fileobj=b"hi", path_in_repo="x.txt", repo_id=repo)
        pull_release(repo, "main")


def test_cli_pull_prints_the_table_and_errors_cleanly(published, capsys) -> None:
    result = published[0]
    assert run(["release", "pull", RELEASE, "--revision", result.tag]) == 0
    out = capsys.readouterr().out
    assert result.release_sha in out and result.manifest.segmenter.sha[:12] in out and "adapter:Dormant" in out
    assert run(["release", "tags", RELEASE]) == 0 and result.tag in capsys.readouterr().out
    assert run(["release", "pull", RELEASE, "--revision", "nope"]) == 2
    assert "neither a tag nor a branch" in capsys.readouterr().err


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO_ROOT,
                          timeout=300)


def test_offline_pull_loads_from_the_cache(published, hub_server) -> None:
    result = published[0]
    pull_release(RELEASE, result.tag)  # fills this session's HF_HOME cache
    env = {**hub_server.env(), "HF_HUB_OFFLINE": "1"}  # read at import: only a new process sees it
    code = ("from genemail.hub.release import pull_release as p; from genemail.segmentation import load_segmenter; "
            "r = p(%r, %r); "
            "print(r.release_sha, r.revision_kind, type(load_segmenter(r.segmenter_path)).__name__, len(r.adapters))")
    out = _python(code % (RELEASE, result.tag), env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [result.release_sha, "unknown", "HierarchicalSegmenter", "4"]
    cli = subprocess.run([sys.executable, "-m", "genemail", "release", "pull", RELEASE, "--revision", "never-pulled"],
                         capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300)
    assert cli.returncode == 2 and "Traceback" not in cli.stderr and "not in the local cache" in cli.stderr


def test_hf_download_by_tag(published, hub_server, tmp_path: Path) -> None:
    result = published[0]
    hf = Path(sys.executable).with_name("hf")
    for repo, rev, sub in [(RELEASE, result.tag, "release"), ("alice/genemail-adapter-dormant", result.tag, "dormant")]:
        out = subprocess.run([str(hf), "download", repo, "--revision", rev, "--local-dir", str(tmp_path / sub)],
                             capture_output=True, text=True, env=hub_server.env(), timeout=300)
        assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "release" / "release.json").read_text()) == result.manifest.to_dict()
    assert (tmp_path / "dormant" / "adapter_model.safetensors").is_file()


def test_nothing_is_lost_when_the_server_restarts(published, tmp_path: Path) -> None:
    """Own `genemail hub serve` subprocess: publish, stop it, start it again on the same root, pull."""
    from genemail.hub.server.runner import ServeConfig, start_process
    from tests.fixtures.net import free_port
    from tests.fixtures.hub import new_tokens

    art, tokens, root = published[1], new_tokens(), tmp_path / "hub-root"

    def env(endpoint: str, home: str) -> dict[str, str]:
        return {**os.environ, "HF_ENDPOINT": endpoint, "HF_TOKEN": tokens["alice"], "HF_HOME": str(tmp_path / home)}

    server = start_process(ServeConfig(root=root, tokens=tokens, port=free_port()), via_cli=True)
    try:
        pub = subprocess.run([sys.executable, "-m", "training.publish", "--artifacts", str(art), "--namespace", NS,
                              "--tag", "v1"], capture_output=True, text=True, env=env(server.endpoint, "h1"),
                             cwd=REPO_ROOT, timeout=300)
        assert pub.returncode == 0, pub.stderr
    finally:
        server.stop()
    release_line = next(line for line in pub.stdout.splitlines() if line.startswith("release "))
    sha12 = release_line.split()[2]

    server = start_process(ServeConfig(root=root, tokens=tokens, port=free_port()), via_cli=True)
    try:
        pull = subprocess.run([sys.executable, "-m", "genemail", "release", "pull", RELEASE, "--revision", "v1"],
                              capture_output=True, text=True, env=env(server.endpoint, "h2"), cwd=REPO_ROOT,
                              timeout=300)
    finally:
        server.stop()
    assert pull.returncode == 0, pull.stderr
    assert f"-> {sha12}" in pull.stdout and "(tag)" in pull.stdout
    assert "loaded: segmenter HierarchicalSegmenter, 4 adapter(s)" in pull.stdout
