"""Publishing an artifacts folder to the local Hub through the real ``huggingface_hub`` client.

All artifact repos live in ``alice/genemail-*`` (the fixed repo names of the design), so every test
uses its own unique tag and measures only what *it* changed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from genemail.errors import ArtifactError, ConfigError, HubError
from genemail.hub.publish import PublishConfig, RepoPlan, diff, plan_adapter, publish
from tests.fixtures.artifacts import NS, RELEASE, build_artifacts, new_tag

@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, tiny_base_model_dir, tiny_adapters_dir, tiny_corpus_dir):
    """(artifacts dir, fitted segmenter, customers) shared by this module's tests."""
    return build_artifacts(tmp_path_factory.mktemp("pub"), tiny_base_model_dir, tiny_adapters_dir, tiny_corpus_dir)


def commit_counts(api, result) -> dict[str, int]:
    repos = [(r.repo_id, r.repo_type) for r in result.repos] + [(result.release_repo, "model")]
    return {rid: len(api.list_repo_commits(rid, repo_type=rt)) for rid, rt in repos}


def tags_of(api, repo_id: str, repo_type: str = "model") -> dict[str, str]:
    return {t.name: t.target_commit for t in api.list_repo_refs(repo_id, repo_type=repo_type).tags}


# ------------------------------------------------------------------------------- unit (no server)

def test_config_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="segmenter.skops"):
        PublishConfig(tmp_path, "alice", "v1")
    (tmp_path / "segmenter").mkdir()
    (tmp_path / "segmenter" / "segmenter.skops").write_bytes(b"x")
    for ns, tag, field in [("bad ns", "v1", "namespace"), ("alice", "main", "tag"), ("alice", "a" * 40, "tag"),
                           ("alice", "", "tag")]:
        with pytest.raises(ConfigError, match=field):
            PublishConfig(tmp_path, ns, tag)
    assert PublishConfig(tmp_path, "alice", "v1.2").tag == "v1.2"


def test_diff_compares_content_not_names() -> None:
    plan = RepoPlan("x", "a/b", "model", {"same.txt": b"same", "new.txt": b"new", "changed.txt": b"v2"})
    from genemail.hub.publish import git_blob_sha1

    remote = {"same.txt": (git_blob_sha1(b"same"), None), "changed.txt": (git_blob_sha1(b"v1"), None),
              "stale.txt": ("0" * 40, None), ".gitattributes": ("1" * 40, None)}
    assert diff(plan, remote) == (["changed.txt", "new.txt"], ["stale.txt"])
    import hashlib

    lfs = {p: ("pointer-oid", hashlib.sha256(plan.blob(p)).hexdigest()) for p in plan.files}  # real Hub LFS
    assert diff(plan, lfs) == ([], [])


def test_adapter_folder_must_be_a_segment(tmp_path: Path) -> None:
    cfg_dir = tmp_path / "a"
    (cfg_dir / "segmenter").mkdir(parents=True)
    (cfg_dir / "segmenter" / "segmenter.skops").write_bytes(b"x")
    cfg = PublishConfig(cfg_dir, "alice", "v1")
    (tmp_path / "Whales").mkdir()
    with pytest.raises(ArtifactError, match="not a segment name"):
        plan_adapter(cfg, tmp_path / "Whales", None)
    (tmp_path / "Dormant").mkdir()
    with pytest.raises(ArtifactError, match="adapter_config.json"):
        plan_adapter(cfg, tmp_path / "Dormant", None)


# ----------------------------------------------------------------------------- against the Hub

@pytest.mark.integration
def test_publish_pins_and_tags_every_repo(artifacts, hub_server, hub_api) -> None:
    art = artifacts[0]
    tag = new_tag()
    result = publish(PublishConfig(art, NS, tag, token=hub_server.alice_token))
    m = result.manifest
    assert set(m.adapters) == {"HighValue_Active", "Parent_Active", "Dormant", "baseline"}
    assert m.adapters["Dormant"].repo_id == "alice/genemail-adapter-dormant"
    assert m.corpus.repo_type == "dataset" and m.base.repo_id == "alice/genemail-base"
    assert m.base_model.id == "alice/genemail-base" and m.base_model.revision == m.base.sha
    assert m.strategies.version == "2.0" and m.eval.path == "eval/eval.json"
    for pin in m.pins().values():  # each artifact repo carries the tag at its pinned commit
        assert tags_of(hub_api, pin.repo_id, pin.repo_type)[tag] == pin.sha
        assert hub_api.repo_info(pin.repo_id, repo_type=pin.repo_type, revision=tag).sha == pin.sha
    assert tags_of(hub_api, RELEASE)[tag] == result.release_sha

    released = json.loads(Path(hub_api.hf_hub_download(RELEASE, "release.json", revision=tag)).read_text())
    assert released == m.to_dict()
    files = set(hub_api.list_repo_files(RELEASE, revision=tag))
    assert {"release.json", "README.md", "strategies.yaml", "eval/eval.json"} <= files


@pytest.mark.integration
def test_published_cards_and_configs(artifacts, hub_server, hub_api) -> None:
    from huggingface_hub import ModelCard

    art = artifacts[0]
    tag = new_tag()
    result = publish(PublishConfig(art, NS, tag, token=hub_server.alice_token))
    seg = ModelCard.load("alice/genemail-segmenter")
    seg_card = ModelCard(Path(hub_api.hf_hub_download("alice/genemail-segmenter", "README.md", revision=tag)).read_text())
    assert seg_card.data.library_name == "sklearn"
    assert {r.metric_type: r.metric_value for r in seg_card.data.eval_results}["l2_accuracy"] == 0.91
    assert "![Confusion matrix](plots/confusion_matrix.png)" in seg_card.text
    assert "genemail.segmentation.model.HierarchicalSegmenter" in seg_card.text  # the trusted-types list
    assert seg.data.library_name == "sklearn"

    dormant = "alice/genemail-adapter-dormant"
    card = ModelCard(Path(hub_api.hf_hub_download(dormant, "README.md", revision=tag)).read_text())
    assert card.data.base_model == "alice/genemail-base" and card.data.library_name == "peft"
    assert card.data.segment == "Dormant" and "Base: alice/genemail-base" in card.text
    config = json.loads(Path(hub_api.hf_hub_download(dormant, "adapter_config.json", revision=tag)).read_text())
    assert config["base_model_name_or_path"] == "alice/genemail-base"
    assert {"adapter_model.safetensors", "training_metrics.json"} <= set(hub_api.list_repo_files(dormant))

    release_card = Path(hub_api.hf_hub_download(RELEASE, "README.md", revision=tag)).read_text()
    for pin in result.manifest.pins().values():
        kind = "datasets/" if pin.repo_type == "dataset" else ""
        assert f"{hub_server.endpoint}/{kind}{pin.repo_id}/tree/{pin.sha}" in release_card
    assert not (art / "segmenter" / "README.md").exists()  # cards are rendered in memory, never into artifacts


@pytest.mark.integration
def test_republishing_unchanged_makes_no_commits(artifacts, hub_server, hub_api) -> None:
    art = artifacts[0]
    cfg = PublishConfig(art, NS, new_tag(), token=hub_server.alice_token)
    first = publish(cfg)
    before = commit_counts(hub_api, first)
    again = publish(cfg)  # same tag, same content: a no-op
    assert again.release_sha == first.release_sha and not again.release_committed
    assert not any(r.committed for r in again.repos)
    other = publish(PublishConfig(art, NS, new_tag(), token=hub_server.alice_token))  # new tag, same content
    assert other.release_sha == first.release_sha and other.manifest.to_json() == first.manifest.to_json()
    assert commit_counts(hub_api, other) == before
    assert tags_of(hub_api, RELEASE)[other.tag] == tags_of(hub_api, RELEASE)[first.tag]


@pytest.mark.integration
def test_a_change_makes_a_new_release_and_old_tags_stay(artifacts, tmp_path, hub_server, hub_api) -> None:
    art = artifacts[0]
    v1 = publish(PublishConfig(art, NS, new_tag(), token=hub_server.alice_token))
    changed = tmp_path / "artifacts"
    shutil.copytree(art, changed)
    metrics = json.loads((changed / "segmenter" / "metrics.json").read_text())
    (changed / "segmenter" / "metrics.json").write_text(json.dumps({**metrics, "l2_accuracy": 0.95}))
    with (changed / "strategies.yaml").open("a") as fh:
        fh.write("# edited\n")
    counts = commit_counts(hub_api, v1)

    with pytest.raises(HubError, match="choose a new tag"):  # v1's tag never moves
        publish(PublishConfig(changed, NS, v1.tag, token=hub_server.alice_token))
    assert commit_counts(hub_api, v1) == counts  # refused before anything was written

    v2 = publish(PublishConfig(changed, NS, new_tag(), token=hub_server.alice_token))
    assert v2.release_sha != v1.release_sha and v2.release_committed
    assert v2.manifest.segmenter.sha != v1.manifest.segmenter.sha
    assert v2.manifest.adapters == v1.manifest.adapters and v2.manifest.base == v1.manifest.base
    assert v2.manifest.strategies.sha256 != v1.manifest.strategies.sha256
    assert hub_api.repo_info(RELEASE, revision=v1.tag).sha == v1.release_sha
    old = json.loads(Path(hub_api.hf_hub_download(RELEASE, "release.json", revision=v1.tag)).read_text())
    assert old["artifacts"]["segmenter"]["sha"] == v1.manifest.segmenter.sha
    assert hub_api.repo_info("alice/genemail-segmenter", revision=v1.tag).sha == v1.manifest.segmenter.sha


@pytest.mark.integration
def test_unreachable_hub_is_a_hub_error(artifacts) -> None:
    from huggingface_hub import HfApi

    from tests.fixtures.net import free_port

    api = HfApi(endpoint=f"http://127.0.0.1:{free_port()}", token="x")
    with pytest.raises(HubError, match="unreachable") as info:
        publish(PublishConfig(artifacts[0], NS, "v1"), api=api)
    assert "genemail hub serve" in str(info.value)


@pytest.mark.integration
def test_cli_publish_in_a_subprocess(artifacts, hub_server, hub_api) -> None:
    tag = new_tag()
    cmd = [sys.executable, "-m", "training.publish", "--artifacts", str(artifacts[0]), "--namespace", NS, "--tag", tag]
    out = subprocess.run(cmd, capture_output=True, text=True, env=hub_server.env(hub_server.alice_token), timeout=300)
    assert out.returncode == 0, out.stderr
    sha = tags_of(hub_api, RELEASE)[tag]
    assert f"{RELEASE}" in out.stdout and sha[:12] in out.stdout and f"--revision {tag}" in out.stdout
    bad = subprocess.run([*cmd[:-1], "main"], capture_output=True, text=True, env=hub_server.env(), timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "tag='main' is invalid" in bad.stderr
    noauth = subprocess.run([*cmd[:-1], new_tag()], capture_output=True, text=True, env=hub_server.env(), timeout=300)
    assert noauth.returncode == 2 and "Traceback" not in noauth.stderr and "HF_TOKEN" in noauth.stderr
