"""Train and evaluate the hierarchical segmenter; write the artifacts the Hub card and the app read.

The library behind ``python -m training.train_segmenter`` and ``genemail segment train``:
:func:`train` runs the whole protocol below for a :class:`TrainConfig`. Without ``data`` it trains
on synthetic customers (``genemail.data.synthesize``), for the demo.

Evaluation protocol (docs/SEGMENTATION.md):
1. clean the file; customers with too little data (cold start) are set aside and counted; fewer
   than ``MIN_CUSTOMERS`` usable customers are refused with the counts that explain why;
2. a seeded, stratified hold-out split (>= 400 customers when the file allows) - strata are the
   fit-free parts of the business definition (activity state x has children), so choosing the
   split needs nothing fitted;
3. the segmenter (and the KMeans behind its value tiers) is fitted on training rows only; test
   labels come from the business definition with those train-fitted tiers;
4. metrics on the clean test rows and on a perturbed copy (10% of income and children fields set
   missing, ±10% noise on spends and recency). Test rows are never trained on.

Writes DIR/segmenter.skops, DIR/metrics.json, DIR/cleaning_report.json, DIR/plots/*.png,
DIR/clusters.json and DIR/cluster_profiles.csv.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genemail import taxonomy
from genemail.clock import utc_now
from genemail.errors import ConfigError, DataError, config_error
from genemail.features import DEFAULT_HALF_LIFE_DAYS

MIN_TEST = 400
# Fewest usable (not cold-started) customers for a held-out split that means anything: half are
# tested, and the value tiers, five segments and a cluster scan need a few dozen training rows.
MIN_CUSTOMERS = 100


@dataclass(frozen=True)
class TrainConfig:
    """Arguments of one training run (validated)."""

    out: Path
    data: Path | None = None
    seed: int = 0
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS
    test_fraction: float = 0.2
    n_synthetic: int = 3000
    threads: int = 1
    reference_date: str | None = None  # age and tenure are counted to this date (default: the file's latest)
    # The business definition's thresholds (genemail.segmentation.rules.RuleConfig), in days since the last purchase.
    dormant_days: float = 60.0
    reengage_days: float = 30.0

    def __post_init__(self) -> None:
        from genemail.segmentation.rules import RuleConfig

        RuleConfig(dormant_days=self.dormant_days, reengage_days=self.reengage_days)  # raises naming the field
        if not 0.05 <= self.test_fraction <= 0.5:
            raise config_error("test_fraction", self.test_fraction, "a share between 0.05 and 0.5, e.g. 0.2")
        if self.threads < 1:
            raise config_error("threads", self.threads, "a whole number >= 1")
        if self.n_synthetic < 200:
            raise config_error("n_synthetic", self.n_synthetic, "a whole number >= 200, e.g. 3000")
        if not math.isfinite(self.half_life_days) or self.half_life_days <= 0:
            raise config_error("half_life_days", self.half_life_days, "a positive number of days, e.g. 30")


def load_data(config: TrainConfig):  # noqa: ANN201 - genemail.data.LoadResult
    """Clean the given file, or synthesize ``n_synthetic`` customers when no file is given."""
    from genemail.data import load_customers, write_synthetic

    if config.data is not None:
        return load_customers(config.data, reference_date=config.reference_date)
    with tempfile.TemporaryDirectory(prefix="genemail-synth-") as tmp:
        path = Path(tmp) / "synthetic_customers.csv"
        write_synthetic(config.n_synthetic, config.seed, path)
        return load_customers(path)


def split(frame: pd.DataFrame, config: TrainConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded split stratified on activity state x has-children (nothing fitted is needed for it)."""
    from sklearn.model_selection import train_test_split

    from genemail.features import build_features
    from genemail.segmentation.rules import RuleConfig, activity_state

    features = build_features(frame)
    state = activity_state(features["recency"], RuleConfig(config.dormant_days, config.reengage_days))
    strata = pd.Series(state).astype(str) + "/" + (features["children"].fillna(0) > 0).astype(str).to_numpy()
    # A stratum of one customer cannot be split: rare strata join the largest one.
    sizes = strata.value_counts()
    strata = strata.where(~strata.isin(sizes.index[sizes < 2]), sizes.index[0])
    n_test = max(round(config.test_fraction * len(frame)), min(MIN_TEST, len(frame) // 2))
    return train_test_split(frame, test_size=n_test, random_state=config.seed, stratify=strata.to_numpy())


def check_enough(loaded, n_usable: int, config: TrainConfig) -> None:  # noqa: ANN001 - LoadResult
    """Refuse a file with fewer than :data:`MIN_CUSTOMERS` usable customers, saying where they went."""
    if n_usable >= MIN_CUSTOMERS:
        return
    report = loaded.report
    duplicates = report.count("dropped_rows", "(all but ID)")
    raise DataError(
        f"only {n_usable} customer(s) can be used to train and test the segmenter, at least {MIN_CUSTOMERS} are "
        f"needed (rows read {report.rows_in}, kept after cleaning {report.rows_out}, of which "
        f"{report.rows_out - n_usable} lack recency or both income and spend; {duplicates} row(s) were dropped as "
        "identical to an earlier row except ID)",
        where=str(config.data) if config.data else "synthetic customers",
        fix="train on a file with more distinct customers (see its cleaning report: genemail data check FILE), "
        "or omit --data to train on synthetic customers",
    )


def _scores(level: str, truth: np.ndarray, pred: np.ndarray, labels: list[str], suffix: str = "") -> dict[str, float]:
    """``{level}_accuracy{suffix}`` and ``{level}_macro_f1{suffix}``."""
    from sklearn.metrics import accuracy_score, f1_score

    return {
        f"{level}_accuracy{suffix}": float(accuracy_score(truth, pred)),
        f"{level}_macro_f1{suffix}": float(f1_score(truth, pred, labels=labels, average="macro", zero_division=0)),
    }


def evaluate(model, test: pd.DataFrame, seed: int) -> dict[str, object]:  # noqa: ANN001 - HierarchicalSegmenter
    """Metrics on the clean test rows and on their perturbed copy (labels from the clean rows)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from genemail.features import PerturbConfig, perturb_customers

    truth = model.rule_labels(test)
    l1_true, l2_true = truth["l1"].to_numpy(dtype=object), truth["l2"].to_numpy(dtype=object)
    l1_labels, l2_labels = list(taxonomy.L1_TIERS), [str(c) for c in model.l2_classes_]
    clean = model.segment(test)
    perturbed_frame = perturb_customers(test, PerturbConfig(missing_rate=0.1, noise=0.1), seed=seed + 1000)
    perturbed = model.segment(perturbed_frame)
    rules_on_perturbed = model.rule_labels(perturbed_frame)["l2"].fillna(taxonomy.COLD_START).to_numpy(dtype=object)
    l2_pred = clean["l2"].to_numpy(dtype=object)
    p, r, f, s = precision_recall_fscore_support(l2_true, l2_pred, labels=l2_labels, zero_division=0)
    metrics: dict[str, object] = {
        "l1_classes": l1_labels,
        "l2_classes": l2_labels,
        **_scores("l1", l1_true, clean["l1"].to_numpy(dtype=object), l1_labels),
        **_scores("l2", l2_true, l2_pred, l2_labels),
        **_scores("l1", l1_true, perturbed["l1"].to_numpy(dtype=object), l1_labels, "_perturbed"),
        **_scores("l2", l2_true, perturbed["l2"].to_numpy(dtype=object), l2_labels, "_perturbed"),
        "rules_l2_accuracy_perturbed": float(np.mean(rules_on_perturbed == l2_true)),
        "per_class": {
            name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, name in enumerate(l2_labels)
        },
        "confusion_matrix": {
            "labels": l2_labels,
            "matrix": confusion_matrix(l2_true, l2_pred, labels=l2_labels).tolist(),
            "rows": "true (business definition)",
            "columns": "predicted",
        },
        "hierarchy_consistent": bool(
            all(b in taxonomy.HIERARCHY.get(a, ()) for a, b in zip(clean["l1"], clean["l2"]) if a != taxonomy.COLD_START)
        ),
    }
    return metrics


def tier_silhouette(model, frame: pd.DataFrame) -> float | None:  # noqa: ANN001
    """Silhouette of the L1 KMeans tiers in their own standardized value space (training rows)."""
    from sklearn.metrics import silhouette_score

    from genemail.features import build_features
    from genemail.segmentation.rules import cold_start_reasons

    features = build_features(frame, model.feature_config)
    features = features[cold_start_reasons(features, model.rule_config).isna().to_numpy()]
    X = model.tiers_.transform(features)
    tiers = model.tiers_.predict(features)
    if not 2 <= len(set(tiers)) < len(X):  # silhouette is undefined for one tier
        return None
    return float(silhouette_score(X, tiers, sample_size=min(len(X), 5000), random_state=0))


def plot_confusion(matrix: dict, path: Path) -> None:
    """Confusion matrix PNG (rows: business definition, columns: prediction)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 6))
    ConfusionMatrixDisplay(np.array(matrix["matrix"]), display_labels=matrix["labels"]).plot(
        ax=ax, xticks_rotation=30, colorbar=False
    )
    ax.set_title("L2 segments on held-out customers")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# An extra report on the fitted model: (all cleaned customers, the model, the held-out customers' ids) -> metrics.
# The caller hands it in (the command line: hand labels), so segmentation knows no later stage.
Report = Callable[[pd.DataFrame, Any, set[str]], dict[str, Any]]


def train(config: TrainConfig, reports: Mapping[str, Report] | None = None) -> dict[str, object]:
    """Run the whole protocol; write every artifact into ``config.out``; return the metrics.

    ``reports`` (name -> :data:`Report`) add their metrics under their names, apart from the rule-label
    accuracy (the command line's ``--labels`` adds ``hand_labels`` this way).
    """
    from threadpoolctl import threadpool_limits

    out = config.out
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a directory", where="--out",
                          fix="pass a directory for segmenter.skops, metrics.json and plots/ (it is created)")
    out.mkdir(parents=True, exist_ok=True)
    with threadpool_limits(limits=config.threads):  # OpenMP oversubscription is ruinous on busy machines
        return _train(config, out, reports or {})


def _train(config: TrainConfig, out: Path, reports: Mapping[str, Report]) -> dict[str, object]:
    from genemail.features import build_features
    from genemail.segmentation import HierarchicalSegmenter, save_segmenter
    from genemail.segmentation.clusters import analyze_clusters
    from genemail.segmentation.rules import RuleConfig, cold_start_reasons

    loaded = load_data(config)
    loaded.report.to_json(out / "cleaning_report.json")
    frame = loaded.frame.reset_index(drop=True)
    rules = RuleConfig(config.dormant_days, config.reengage_days)
    cold = cold_start_reasons(build_features(frame), rules).notna().to_numpy()
    usable = frame[~cold]
    check_enough(loaded, len(usable), config)
    train_rows, test_rows = split(usable, config)
    model = HierarchicalSegmenter(
        half_life_days=config.half_life_days, dormant_days=config.dormant_days, reengage_days=config.reengage_days,
        random_state=config.seed, n_threads=config.threads,
    ).fit(train_rows)
    metrics = {
        "data": str(config.data) if config.data else f"synthetic(n={config.n_synthetic}, seed={config.seed})",
        "seed": config.seed,
        "half_life_days": config.half_life_days,
        # When the model was fitted: `genemail segment drift` counts its age against the retraining cadence.
        "trained_at": utc_now(),
        "n_customers": int(len(frame)),
        "n_cold_start": int(cold.sum()),
        "n_train": int(len(train_rows)),
        "n_test": int(len(test_rows)),
        "source_schema": loaded.source_schema,
        "feature_groups": model.feature_groups_,
        "missing_feature_groups": model.missing_feature_groups_,
        **evaluate(model, test_rows, config.seed),
        "silhouette": tier_silhouette(model, train_rows),
        "tier_centroids": json.loads(model.tiers_.centroids().to_json(orient="index")),
        "params": {k: v for k, v in model.get_params().items()},
    }
    save_segmenter(model, out / "segmenter.skops")
    plot_confusion(metrics["confusion_matrix"], out / "plots" / "confusion_matrix.png")
    segments = model.segment(frame)
    clusters = analyze_clusters(build_features(frame, model.feature_config), segments, out)
    metrics["cluster_analysis"] = {k: clusters[k] for k in ("best_k_by_silhouette", "segment_silhouette", "plots")}
    test_ids = set(test_rows["customer_id"].astype(str))
    for name, report in reports.items():  # reported apart from the rule-label accuracy above
        metrics[name] = report(frame, model, test_ids)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def summary(metrics: dict[str, object]) -> str:
    """A few lines for the terminal."""
    keys = ("n_train", "n_test", "l1_accuracy", "l2_accuracy", "l2_macro_f1", "l2_accuracy_perturbed",
            "rules_l2_accuracy_perturbed", "silhouette")
    lines = [f"{k:>28}: {metrics[k]:.4f}" if isinstance(metrics[k], float) else f"{k:>28}: {metrics[k]}"
             for k in keys]
    groups = metrics.get("feature_groups") or {}
    lines.append(f"{'feature groups used':>28}: {', '.join(groups) or 'n/a'}")
    missing = metrics.get("missing_feature_groups") or []
    lines.append(f"{'not in the data':>28}: {', '.join(missing) or 'none'}"
                 + (f" ({metrics.get('source_schema')} schema)" if missing else ""))
    return "\n".join(lines)
