"""Cluster analysis (FR-10): is the segment structure visible in the data, and how well separated?

* KMeans over a range of k with silhouette (higher is better) and Davies-Bouldin (lower is better);
* HDBSCAN (density-based; finds its own number of clusters and marks noise);
* a 2-D PCA projection coloured by segment, a segment-size chart, and a cluster-profile table
  (feature means per segment and per L1 tier).

:func:`analyze_clusters` writes PNGs to ``DIR/plots/``, the profile table to ``DIR/cluster_profiles.csv``
and every number to ``DIR/clusters.json``, ready for the model card and the app's segment explorer.
Large inputs are subsampled (seeded) for the quadratic-cost metrics.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genemail import taxonomy
from genemail.errors import DataError, config_error

# Standardized feature space of the analysis: value, activity and family signals.
CLUSTER_FEATURES: tuple[str, ...] = (
    "log_income",
    "log_annual_spend",
    "log_purchases",
    "recency",
    "children",
    "purchase_frequency",
)
PROFILE_FEATURES: tuple[str, ...] = (
    "income", "annual_spend", "decayed_spend_rate", "total_purchases", "recency", "activity_weight", "children",
)


@dataclass(frozen=True)
class ClusterConfig:
    """Settings of the cluster analysis.

    Args:
        k_min, k_max: range of k scanned by KMeans (inclusive).
        min_cluster_size: HDBSCAN's smallest cluster.
        max_rows: rows kept (seeded sample) for silhouette, HDBSCAN and the scatter plot.
        random_state: seed of KMeans and of the sample.
    """

    k_min: int = 2
    k_max: int = 8
    min_cluster_size: int = 25
    max_rows: int = 4000
    random_state: int = 0

    def __post_init__(self) -> None:
        if not 2 <= self.k_min <= self.k_max:
            raise config_error("k_min/k_max", (self.k_min, self.k_max), "2 <= k_min <= k_max, e.g. 2 and 8")
        if self.min_cluster_size < 2:
            raise config_error("min_cluster_size", self.min_cluster_size, "a whole number >= 2")
        if self.max_rows < 50:
            raise config_error("max_rows", self.max_rows, "a whole number >= 50")


def standardize(features: pd.DataFrame, columns: tuple[str, ...] = CLUSTER_FEATURES) -> np.ndarray:
    """Median-impute and z-score ``columns`` (all-missing columns are dropped), shape (n, d)."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    usable = [c for c in columns if features[c].notna().any()]
    X = features[usable].to_numpy(dtype="float64")
    return StandardScaler().fit_transform(SimpleImputer(strategy="median").fit_transform(X))


def kmeans_scan(X: np.ndarray, config: ClusterConfig) -> list[dict[str, float]]:
    """KMeans for k in [k_min, k_max]: silhouette, Davies-Bouldin and inertia per k."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import davies_bouldin_score, silhouette_score
    from threadpoolctl import threadpool_limits

    rows = []
    for k in range(config.k_min, min(config.k_max, len(X) - 1) + 1):
        with threadpool_limits(limits=1):  # see analyze_clusters
            labels = KMeans(n_clusters=k, n_init=10, random_state=config.random_state).fit_predict(X)
        rows.append(
            {
                "k": k,
                "silhouette": float(silhouette_score(X, labels)),
                "davies_bouldin": float(davies_bouldin_score(X, labels)),
            }
        )
    return rows


def hdbscan_summary(X: np.ndarray, config: ClusterConfig) -> dict[str, object]:
    """HDBSCAN clusters: count, sizes, noise share, and silhouette of the non-noise points."""
    from sklearn.cluster import HDBSCAN
    from sklearn.metrics import silhouette_score

    labels = HDBSCAN(min_cluster_size=config.min_cluster_size, copy=True).fit_predict(X)
    clustered = labels >= 0
    n_clusters = int(len(set(labels[clustered])))
    score = float(silhouette_score(X[clustered], labels[clustered])) if n_clusters >= 2 else None
    sizes = pd.Series(labels[clustered]).value_counts().sort_index()
    return {
        "n_clusters": n_clusters,
        "noise_fraction": float(1.0 - clustered.mean()),
        "silhouette_non_noise": score,
        "cluster_sizes": {str(k): int(v) for k, v in sizes.items()},
        "min_cluster_size": config.min_cluster_size,
    }


def segment_silhouette(X: np.ndarray, labels: np.ndarray) -> float | None:
    """Silhouette of a given labelling (e.g. the L2 segments) in the space ``X``; None if < 2 labels."""
    from sklearn.metrics import silhouette_score

    return float(silhouette_score(X, labels)) if len(set(labels)) >= 2 else None


def cluster_profiles(features: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """Mean of :data:`PROFILE_FEATURES` and the size per L2 segment and per L1 tier (``level`` column)."""
    table = features[list(PROFILE_FEATURES)].copy()
    parts = []
    for level in ("l1", "l2"):
        grouped = table.groupby(segments[level].to_numpy(), dropna=True)
        profile = grouped.mean().round(2)
        profile.insert(0, "n_customers", grouped.size())
        profile.insert(0, "level", level)
        parts.append(profile)
    out = pd.concat(parts)
    out.index.name = "segment"
    return out


def _plots(X: np.ndarray, labels: np.ndarray, scan: list[dict], sizes: pd.Series, plots: Path) -> dict[str, str]:
    """Write the three PNGs; return {name: file name}."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in Spaces
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    plots.mkdir(parents=True, exist_ok=True)
    files = {}
    xy = PCA(n_components=2, random_state=0).fit_transform(X)
    fig, ax = plt.subplots(figsize=(7, 5.5))
    for name in sorted(set(labels)):
        rows = labels == name
        ax.scatter(xy[rows, 0], xy[rows, 1], s=8, alpha=0.6, label=f"{name} ({rows.sum()})")
    ax.set(title="Customers in 2-D (PCA of standardized features)", xlabel="PC 1", ylabel="PC 2")
    ax.legend(fontsize=8, markerscale=2)
    files["projection"] = _save(fig, plots / "pca_segments.png")

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.barh(sizes.index.astype(str), sizes.to_numpy())
    ax.set(title="Segment sizes", xlabel="customers")
    files["sizes"] = _save(fig, plots / "segment_sizes.png")

    fig, ax1 = plt.subplots(figsize=(7, 4))
    ks = [r["k"] for r in scan]
    ax1.plot(ks, [r["silhouette"] for r in scan], "o-", label="silhouette (higher is better)")
    ax1.plot(ks, [r["davies_bouldin"] for r in scan], "s--", label="Davies-Bouldin (lower is better)")
    ax1.set(title="KMeans: choice of k", xlabel="k")
    ax1.legend(fontsize=8)
    files["k_scan"] = _save(fig, plots / "kmeans_k_scan.png")
    return files


def _save(fig, path: Path) -> str:  # noqa: ANN001 - matplotlib figure
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def analyze_clusters(
    features: pd.DataFrame, segments: pd.DataFrame, out_dir: str | Path, config: ClusterConfig | None = None
) -> dict[str, object]:
    """Run the analysis on ``features`` (from build_features) labelled by ``segments`` (columns l1, l2).

    Writes ``out_dir/plots/*.png``, ``out_dir/cluster_profiles.csv`` and ``out_dir/clusters.json``;
    returns the JSON content.
    """
    from threadpoolctl import threadpool_limits

    config = config or ClusterConfig()
    with threadpool_limits(limits=1):  # small data; OpenMP threads spin badly on shared machines
        return _analyze(features, segments, Path(out_dir), config)


def _analyze(features: pd.DataFrame, segments: pd.DataFrame, out: Path, config: ClusterConfig) -> dict[str, object]:
    if len(features) != len(segments):
        raise DataError(
            f"{len(features)} feature rows but {len(segments)} segment rows", where="analyze_clusters",
            fix="pass segments computed on the same customers",
        )
    # Cold-start customers have no segment worth profiling (and mostly imputed features).
    keep = (segments["l2"].notna() & (segments["l2"] != taxonomy.COLD_START)).to_numpy(dtype=bool)
    if keep.sum() < max(config.min_cluster_size, config.k_max + 1):
        raise DataError(f"only {keep.sum()} segmented customers", where="analyze_clusters", fix="use more customers")
    features, segments = features[keep], segments[keep]
    rng = np.random.default_rng(config.random_state)
    sample = np.sort(rng.choice(len(features), min(config.max_rows, len(features)), replace=False))
    X = standardize(features)[sample]
    labels = segments["l2"].to_numpy(dtype=object)[sample].astype(str)
    profiles = cluster_profiles(features, segments)
    out.mkdir(parents=True, exist_ok=True)
    profiles.to_csv(out / "cluster_profiles.csv")
    scan = kmeans_scan(X, config)
    sizes = segments["l2"].value_counts().sort_values()
    report = {
        "config": asdict(config),
        "n_customers": int(len(features)),
        "n_sampled": int(len(sample)),
        "features": [c for c in CLUSTER_FEATURES if features[c].notna().any()],
        "kmeans": scan,
        "best_k_by_silhouette": max(scan, key=lambda r: r["silhouette"])["k"],
        "hdbscan": hdbscan_summary(X, config),
        "segment_silhouette": segment_silhouette(X, labels),
        "segment_sizes": {str(k): int(v) for k, v in segments["l2"].value_counts().items()},
        "tier_sizes": {str(k): int(v) for k, v in segments["l1"].value_counts().items()},
        "profiles": json.loads(profiles.reset_index().to_json(orient="records")),
        "plots": {k: f"plots/{v}" for k, v in _plots(X, labels, scan, sizes, out / "plots").items()},
    }
    (out / "clusters.json").write_text(json.dumps(report, indent=2))
    return report
