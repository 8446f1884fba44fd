"""Cluster analysis: KMeans scan, HDBSCAN, profiles, plots and the JSON report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genemail.errors import ConfigError, DataError
from genemail.features import build_features
from genemail.segmentation.clusters import (
    ClusterConfig,
    analyze_clusters,
    cluster_profiles,
    hdbscan_summary,
    kmeans_scan,
)
from genemail.segmentation.rules import RuleConfig, ValueTiers, business_labels

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def labelled(customers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    features = build_features(customers)
    return features, business_labels(features, ValueTiers().fit(features), RuleConfig())


def _blobs(k: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-20, 20, size=(k, 4))
    return np.vstack([c + rng.normal(0, 0.5, size=(60, 4)) for c in centers])


def test_kmeans_scan_finds_the_true_k() -> None:
    scan = kmeans_scan(_blobs(4), ClusterConfig(k_min=2, k_max=6))
    assert [r["k"] for r in scan] == [2, 3, 4, 5, 6]
    best_sil = max(scan, key=lambda r: r["silhouette"])["k"]
    best_db = min(scan, key=lambda r: r["davies_bouldin"])["k"]
    assert best_sil == best_db == 4


def test_hdbscan_finds_blobs_and_noise_share() -> None:
    summary = hdbscan_summary(_blobs(3, seed=1), ClusterConfig(min_cluster_size=20))
    assert summary["n_clusters"] == 3
    assert 0.0 <= summary["noise_fraction"] < 0.1
    assert summary["silhouette_non_noise"] > 0.8
    assert sum(summary["cluster_sizes"].values()) == round(180 * (1 - summary["noise_fraction"]))


def test_profiles_are_group_means(labelled) -> None:  # noqa: ANN001
    features, labels = labelled
    profiles = cluster_profiles(features, labels)
    l2 = profiles[profiles["level"] == "l2"]
    expected = features.groupby(labels["l2"].to_numpy())["recency"].mean().round(2)
    pd.testing.assert_series_equal(l2["recency"], expected, check_names=False)
    assert l2["n_customers"].sum() == len(features)
    assert set(profiles[profiles["level"] == "l1"].index) == {"High", "Mid", "Low"}


@pytest.mark.integration
def test_analyze_writes_plots_and_report(labelled, tmp_path: Path) -> None:  # noqa: ANN001
    features, labels = labelled
    report = analyze_clusters(features, labels, tmp_path, ClusterConfig(k_min=2, k_max=4))
    on_disk = json.loads((tmp_path / "clusters.json").read_text())
    assert on_disk["best_k_by_silhouette"] == report["best_k_by_silhouette"]
    assert [r["k"] for r in on_disk["kmeans"]] == [2, 3, 4]
    assert all(-1 <= r["silhouette"] <= 1 and r["davies_bouldin"] > 0 for r in on_disk["kmeans"])
    assert sum(on_disk["segment_sizes"].values()) == len(features)
    for rel in on_disk["plots"].values():
        assert (tmp_path / rel).read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "cluster_profiles.csv").is_file()


def test_bad_config_and_mismatched_input(labelled, tmp_path: Path) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match="k_min"):
        ClusterConfig(k_min=5, k_max=3)
    features, labels = labelled
    with pytest.raises(DataError, match="segment rows"):
        analyze_clusters(features, labels.head(10), tmp_path)
