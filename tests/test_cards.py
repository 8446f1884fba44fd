"""Cards rendered from hub_cards/ templates: metadata in the YAML front matter, deterministic bodies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from huggingface_hub import DatasetCard, ModelCard

from genemail.errors import ArtifactError
from genemail.hub import cards
from genemail.hub.manifest import ArtifactPin, BaseModelRef, FileRef, ReleaseManifest

LABELS = ["HighValue_Active", "Dormant"]


@pytest.fixture()
def segmenter_dir(tmp_path: Path) -> Path:
    d = tmp_path / "segmenter"
    (d / "plots").mkdir(parents=True)
    metrics = {"accuracy": 0.9123, "macro_f1": 0.88, "perturbed": {"accuracy": 0.87}, "n_test": 400,
               "confusion_matrix": {"labels": LABELS, "matrix": [[40, 2], [3, 55]]}}
    (d / "metrics.json").write_text(json.dumps(metrics))
    (d / "clusters.json").write_text(json.dumps({"kmeans_silhouette": 0.41, "hdbscan_clusters": 4}))
    for name in ("confusion_matrix.png", "clusters_pca.png", "tiers.png"):
        (d / "plots" / name).write_bytes(b"\x89PNG")
    return d


def _files(d: Path) -> list[str]:
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file())


def test_segmenter_card_front_matter_has_eval_results(segmenter_dir: Path) -> None:
    text = cards.render_segmenter_card(segmenter_dir, "demo/genemail-segmenter", _files(segmenter_dir),
                                       ["numpy.dtype", "sklearn.x.TreePredictor"])
    card = ModelCard(text)
    assert card.data.library_name == "sklearn"
    assert "skops" in card.data.tags and "genemail" in card.data.tags
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results["accuracy"] == pytest.approx(0.9123)
    assert results["perturbed.accuracy"] == pytest.approx(0.87)
    assert "confusion_matrix" not in " ".join(results)  # the matrix is a table, not a metric


def test_segmenter_card_body_shows_metrics_confusion_plots_and_trusted_types(segmenter_dir: Path) -> None:
    trusted = ["genemail.segmentation.model.HierarchicalSegmenter", "numpy.dtype"]
    body = ModelCard(cards.render_segmenter_card(segmenter_dir, "demo/genemail-segmenter",
                                                 _files(segmenter_dir), trusted)).text
    assert "| accuracy | 0.9123 |" in body
    assert "| HighValue_Active | 40 | 2 |" in body and "| Dormant | 3 | 55 |" in body
    assert "![Confusion matrix](plots/confusion_matrix.png)" in body
    assert "![Cluster projection](plots/clusters_pca.png)" in body
    assert "[plots/tiers.png](plots/tiers.png)" in body
    assert "| kmeans_silhouette | 0.4100 |" in body
    for t in trusted:
        assert f'"{t}",' in body
    assert 'hf_hub_download("demo/genemail-segmenter"' in body


def test_segmenter_card_is_deterministic(segmenter_dir: Path) -> None:
    args = (segmenter_dir, "demo/genemail-segmenter", _files(segmenter_dir), ["numpy.dtype"])
    assert cards.render_segmenter_card(*args) == cards.render_segmenter_card(*args)


def test_segmenter_card_without_metrics_says_so(tmp_path: Path) -> None:
    body = ModelCard(cards.render_segmenter_card(tmp_path, "demo/genemail-segmenter", [], [])).text
    assert "No metrics were recorded" in body and "No confusion matrix" in body


def test_invalid_metrics_json_is_an_artifact_error(segmenter_dir: Path) -> None:
    (segmenter_dir / "metrics.json").write_text("{oops")
    with pytest.raises(ArtifactError, match="metrics.json"):
        cards.render_segmenter_card(segmenter_dir, "demo/genemail-segmenter", [], [])


@pytest.mark.integration  # imports skops + scikit-learn (seconds on a busy machine)
def test_trusted_types_come_from_the_skops_file(tmp_path: Path) -> None:
    import numpy as np
    import skops.io as sio

    sio.dump({"dtype": np.dtype("float32"), "values": np.arange(3)}, tmp_path / "m.skops")
    trusted = cards.segmenter_trusted_types(tmp_path / "m.skops")
    assert trusted == ["numpy.dtype"]
    assert sio.load(tmp_path / "m.skops", trusted=trusted)["dtype"] == np.dtype("float32")
    (tmp_path / "bad.skops").write_bytes(b"not a zip")
    with pytest.raises(ArtifactError, match="bad.skops"):
        cards.segmenter_trusted_types(tmp_path / "bad.skops")


def test_adapter_card_names_the_published_base(tmp_path: Path) -> None:
    d = tmp_path / "Dormant"
    d.mkdir()
    (d / "README.md").write_text("---\nbase_model: artifacts/base\nlibrary_name: peft\ntags:\n- lora\n"
                                 "segment: Dormant\nstrategy: win-back\n---\n\n# Adapter\nTrained on artifacts/base.\n")
    card = ModelCard(cards.render_adapter_card(d, "Dormant", "demo/genemail-base"))
    assert card.data.base_model == "demo/genemail-base"
    assert card.data.library_name == "peft"
    assert card.data.strategy == "win-back" and card.data.segment == "Dormant"
    assert "segment:Dormant" in card.data.tags and card.data.tags.count("lora") == 1
    assert "Trained on demo/genemail-base." in card.text and "artifacts/base" not in card.text


def test_adapter_card_for_a_bare_peft_folder(tmp_path: Path) -> None:
    card = ModelCard(cards.render_adapter_card(tmp_path, "baseline", "Qwen/Qwen3-0.6B"))
    assert card.data.base_model == "Qwen/Qwen3-0.6B" and card.data.segment == "baseline"
    assert "baseline" in card.text


def test_release_card_links_every_pinned_commit() -> None:
    sha, sha2 = "1" * 40, "2" * 40
    m = ReleaseManifest(
        namespace="demo", segmenter=ArtifactPin("demo/genemail-segmenter", "model", sha),
        corpus=ArtifactPin("demo/genemail-corpus", "dataset", sha2),
        adapters={"Dormant": ArtifactPin("demo/genemail-adapter-dormant", "model", sha2)},
        base_model=BaseModelRef("Qwen/Qwen3-0.6B", sha), strategies=FileRef("strategies.yaml", "a" * 64, "1.0"),
        created_at="2026-01-02T03:04:05Z",
    )
    text = cards.render_release_card(m, "demo/genemail-release", "http://127.0.0.1:9/")
    card = ModelCard(text)
    assert "genemail-release" in card.data.tags
    assert f"(http://127.0.0.1:9/demo/genemail-segmenter/tree/{sha})" in card.text
    assert f"(http://127.0.0.1:9/datasets/demo/genemail-corpus/tree/{sha2})" in card.text
    assert f"[`{sha2[:12]}`](http://127.0.0.1:9/demo/genemail-adapter-dormant/tree/{sha2})" in card.text
    assert "adapter:Dormant" in card.text and "Qwen/Qwen3-0.6B" in card.text and "version 1.0" in card.text


def test_check_dataset_card(tmp_path: Path) -> None:
    good = tmp_path / "good.md"
    good.write_text(str(DatasetCard("---\nlicense: apache-2.0\n---\n# corpus\n")))
    cards.check_dataset_card(good)
    bad = tmp_path / "bad.md"
    bad.write_text("---\nlicense: [unclosed\n---\n# corpus\n")
    with pytest.raises(ArtifactError, match="bad.md"):
        cards.check_dataset_card(bad)
