"""Lineage: the manifest's optional block, the preference dataset on the Hub, tuned adapters that say their parents."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from genemail.errors import ReleaseError
from genemail.hub.lineage import AdapterLineage, Lineage, parse_ref
from genemail.hub.manifest import ArtifactPin, ReleaseManifest
from tests.fixtures.artifacts import NS, RELEASE, build_artifacts, new_tag

A, B, C = "a" * 40, "b" * 40, "c" * 40


def _manifest(lineage: Lineage | None = None) -> ReleaseManifest:
    pin = ArtifactPin("demo/genemail-segmenter", "model", A, ("segmenter.skops",))
    return ReleaseManifest(namespace="demo", segmenter=pin, lineage=lineage, created_at="2026-01-01T00:00:00Z")


def _lineage(**changes) -> Lineage:
    values = dict(parent_release={"repo_id": "demo/genemail-release", "revision": "v1", "sha": A},
                  experiment="loop-v1", preferences={"repo_id": "demo/genemail-preferences", "repo_type": "dataset",
                                                     "sha": B},
                  adapters={"Dormant": AdapterLineage("demo/genemail-adapter-dormant", C, "dpo", 120)})
    return Lineage(**{**values, **changes})


def test_a_release_without_lineage_keeps_its_bytes_and_one_with_it_round_trips() -> None:
    plain = _manifest()
    assert "lineage" not in plain.to_dict()  # releases published before lineage existed are unchanged
    assert ReleaseManifest.from_json(plain.to_json()).lineage is None
    tuned = _manifest(_lineage())
    back = ReleaseManifest.from_json(tuned.to_json())
    assert back.lineage == tuned.lineage and back.to_json() == tuned.to_json()
    assert back.to_dict()["lineage"]["adapters"]["Dormant"] == {"parent_repo": "demo/genemail-adapter-dormant",
                                                                "parent_sha": C, "method": "dpo", "pairs": 120}
    assert not plain.same_content(tuned)


@pytest.mark.parametrize("change", [
    {"parent_release": {"repo_id": "demo/genemail-release", "revision": "v1", "sha": "v1"}},
    {"preferences": {"repo_id": "demo/genemail-preferences", "sha": "main"}},
    {"adapters": {"Dormant": AdapterLineage("demo/genemail-adapter-dormant", "abc123")}},
])
def test_lineage_pins_only_full_shas(change: dict) -> None:
    with pytest.raises(ReleaseError, match="full commit sha"):
        _lineage(**change)


def test_parse_ref() -> None:
    assert parse_ref("demo/genemail-preferences@" + B) == ("demo/genemail-preferences", B)
    assert parse_ref("demo/x") == ("demo/x", "main")
    assert parse_ref("not a repo") is None and parse_ref("/tmp/folder") is None


def _preference_folder(out: Path, pairs: list[dict], adapter_repo: str, adapter_sha: str) -> Path:
    """A dataset folder in the layout `genemail results preferences` writes (one segment: Dormant)."""
    (out / "data").mkdir(parents=True)
    (out / "data" / "Dormant.jsonl").write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs))
    info = {"experiment": "loop-t", "release": [{"repo_id": RELEASE, "revision": "v1", "sha": A, "rows": 99}],
            "files": {"Dormant": "data/Dormant.jsonl"},
            "segments": {"Dormant": {"adapter_repo": adapter_repo, "adapter_sha": adapter_sha, "sent": 50,
                                     "clicked": 8, "not_clicked": 40, "pairs": len(pairs), "skipped": None}}}
    (out / "preferences_info.json").write_text(json.dumps(info))
    (out / "README.md").write_text("---\nlicense: cc0-1.0\n---\n# pairs\n")
    return out


@pytest.mark.integration
def test_tuned_release_pins_its_parents_and_preference_data(tmp_path: Path, hub_server, hub_api, tiny_base_model_dir,
                                                            tiny_adapters_dir, tiny_corpus_dir, capsys) -> None:
    from huggingface_hub import ModelCard

    from genemail.hub.lineage import push_folder, resolve_dataset
    from genemail.hub.publish import PublishConfig, publish
    from training import train_preference

    art, _, _ = build_artifacts(tmp_path, tiny_base_model_dir, tiny_adapters_dir, tiny_corpus_dir)
    v1 = publish(PublishConfig(art, NS, new_tag(), token=hub_server.alice_token))
    parent = v1.manifest.adapters["Dormant"]
    records = [json.loads(x) for x in (tiny_corpus_dir / "train.jsonl").read_text("utf-8").splitlines()]
    pairs = [{"prompt": a["input"], "chosen": a["output"], "rejected": b["output"]}
             for a, b in zip(records[:8], records[40:48])]
    folder = _preference_folder(tmp_path / "prefs", pairs, parent.repo_id, parent.sha)

    repo = f"{NS}/genemail-preferences"
    sha, committed = push_folder(folder, repo, message="pairs", token=hub_server.alice_token)
    assert committed and push_folder(folder, repo, message="pairs", token=hub_server.alice_token) == (sha, False)
    local, resolved = resolve_dataset(repo, sha, token=hub_server.alice_token)
    assert resolved == sha and (local / "data" / "Dormant.jsonl").is_file()

    args = ["--artifacts", str(art), "--preferences", f"{repo}@{sha}", "--max-steps", "1", "--batch-size", "4",
            "--no-progress", "--base-model-id", f"{NS}/genemail-base"]
    assert train_preference.main([*args, "--out", str(tmp_path / "next")]) == 0, capsys.readouterr().err
    assert "(verified)" in capsys.readouterr().out
    v2 = publish(PublishConfig(tmp_path / "next", NS, new_tag(), token=hub_server.alice_token))

    lineage = v2.manifest.lineage
    assert lineage is not None and lineage.preferences == {"repo_id": repo, "repo_type": "dataset", "sha": sha}
    assert lineage.adapters["Dormant"].parent_sha == parent.sha and lineage.experiment == "loop-t"
    assert v2.manifest.adapters["Dormant"].sha != parent.sha  # a new adapter revision ...
    assert v2.manifest.adapters["HighValue_Active"] == v1.manifest.adapters["HighValue_Active"]  # ... only that one
    assert v2.manifest.segmenter == v1.manifest.segmenter and v2.manifest.eval is None
    released = ReleaseManifest.from_json(Path(hub_api.hf_hub_download(RELEASE, "release.json", revision=v2.tag))
                                         .read_text())
    assert released.lineage == lineage
    release_card = Path(hub_api.hf_hub_download(RELEASE, "README.md", revision=v2.tag)).read_text()
    assert "## Lineage" in release_card and sha in release_card and parent.sha[:12] in release_card
    card = ModelCard(Path(hub_api.hf_hub_download(parent.repo_id, "README.md", revision=v2.tag)).read_text())
    assert card.data.base_model == f"{NS}/genemail-base" and "dpo" in card.data.tags
    assert card.data.genemail_lineage["parent"]["sha"] == parent.sha and card.data.datasets == [repo]
    assert parent.sha in card.text and sha in card.text

    # An adapter folder that is not the one that wrote the emails is refused, not silently "tuned from v1".
    other = tmp_path / "other"
    shutil.copytree(art, other)
    weights = other / "adapters" / "Dormant" / "adapter_model.safetensors"
    shutil.copyfile(art / "adapters" / "HighValue_Active" / "adapter_model.safetensors", weights)
    assert train_preference.main([*args, "--artifacts", str(other), "--out", str(tmp_path / "bad")]) == 2
    assert "not the one that wrote the experiment's emails" in capsys.readouterr().err
