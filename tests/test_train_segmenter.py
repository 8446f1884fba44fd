"""The training script (synthetic and real data) and `genemail segment predict`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genemail import taxonomy
from genemail.cli import run
from genemail.segmentation.training import MIN_TEST, TrainConfig, split
from training.train_segmenter import main

REQUIRED_METRICS = (
    "l1_classes", "l2_classes", "n_train", "n_test", "l1_accuracy", "l2_accuracy", "l2_macro_f1",
    "l2_accuracy_perturbed", "silhouette", "per_class", "confusion_matrix",
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("segmenter")
    assert main(["--out", str(out), "--n-synthetic", "600", "--seed", "1"]) == 0
    return out


def test_split_is_disjoint_stratified_and_large_enough(customers: pd.DataFrame, tmp_path: Path) -> None:
    train, test = split(customers, TrainConfig(out=tmp_path, seed=3))
    assert set(train["customer_id"]).isdisjoint(test["customer_id"])
    assert len(train) + len(test) == len(customers)
    assert len(test) == min(MIN_TEST, len(customers) // 2)  # 551 rows: 20% would be < 400
    again = split(customers, TrainConfig(out=tmp_path, seed=3))[1]
    assert list(again["customer_id"]) == list(test["customer_id"])
    dormant = lambda f: (f["recency"] > 60).mean()  # noqa: E731
    assert abs(dormant(train) - dormant(test)) < 0.03


@pytest.mark.integration
def test_synthetic_training_writes_every_artifact(trained: Path) -> None:
    for name in ("segmenter.skops", "metrics.json", "cleaning_report.json", "clusters.json", "cluster_profiles.csv"):
        assert (trained / name).is_file(), name
    assert {p.name for p in (trained / "plots").glob("*.png")} >= {"confusion_matrix.png", "pca_segments.png",
                                                                   "segment_sizes.png", "kmeans_k_scan.png"}
    metrics = json.loads((trained / "metrics.json").read_text())
    assert set(REQUIRED_METRICS) <= set(metrics)
    assert metrics["n_train"] + metrics["n_test"] == metrics["n_customers"] - metrics["n_cold_start"]
    matrix = np.array(metrics["confusion_matrix"]["matrix"])
    assert matrix.sum() == metrics["n_test"]
    assert np.trace(matrix) / matrix.sum() == pytest.approx(metrics["l2_accuracy"])
    assert metrics["hierarchy_consistent"] is True
    assert metrics["l2_accuracy"] > 0.85


@pytest.mark.integration
def test_segment_predict_cli(trained: Path, synthetic_raw_csv: Path, customers: pd.DataFrame,
                             tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "segments.csv"
    code = run(["segment", "predict", "--model", str(trained), "--data", str(synthetic_raw_csv),
                "--out", str(out), "--chunksize", "150", "--quiet"])
    assert code == 0, capsys.readouterr().err
    scored = pd.read_csv(out, dtype={"customer_id": str})
    assert len(scored) == len(customers)  # four chunks appended into one file
    assert set(scored["customer_id"]) == set(customers["customer_id"])
    assert {"l1", "l2", "l2_proba", "cold_start_reason", "reasons", "p_Dormant"} <= set(scored.columns)
    for l1, l2 in zip(scored["l1"], scored["l2"]):
        assert l2 == taxonomy.COLD_START if l1 == taxonomy.COLD_START else l2 in taxonomy.HIERARCHY[l1]
    assert scored["reasons"].str.startswith(("Last purchase", "Cold start")).all()


def test_segment_predict_reports_a_missing_model(tmp_path: Path, synthetic_raw_csv: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    code = run(["segment", "predict", "--model", str(tmp_path / "none"), "--data", str(synthetic_raw_csv),
                "--out", str(tmp_path / "x.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "no saved segmenter found" in err and "Traceback" not in err


@pytest.mark.integration
@pytest.mark.realdata
def test_real_data_meets_kr1(real_data_file: Path, tmp_path: Path) -> None:
    assert main(["--data", str(real_data_file), "--out", str(tmp_path), "--seed", "0"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n_test"] >= MIN_TEST
    assert metrics["l2_accuracy"] > 0.85 and metrics["l2_accuracy_perturbed"] > 0.85


@pytest.mark.integration
def test_prd_schema_file_trains_and_meets_kr1(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The PRD's own sample format (no spend, purchases or join date) trains with the same script."""
    from genemail.data import write_synthetic
    from genemail.data.schema import PRD_REQUIRED

    data = write_synthetic(2500, 3, tmp_path / "prd.csv", schema="prd")
    assert tuple(pd.read_csv(data, nrows=0).columns) == PRD_REQUIRED
    out = tmp_path / "seg"
    assert main(["--data", str(data), "--out", str(out), "--seed", "0"]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["source_schema"] == "prd"
    assert set(metrics["feature_groups"]) == {"income", "activity", "family", "age"}
    assert set(metrics["missing_feature_groups"]) == {"spend", "purchases", "history"}
    assert "feature groups used: income, activity, family, age" in printed and "spend" in printed
    assert metrics["n_test"] >= MIN_TEST
    assert metrics["l2_accuracy"] > 0.85 and metrics["l2_accuracy_perturbed"] > 0.85
    assert metrics["hierarchy_consistent"] is True
    # The saved model scores PRD rows with the feature groups it was trained on.
    assert run(["segment", "predict", "--model", str(out), "--data", str(data), "--out", str(tmp_path / "s.csv"),
                "--quiet"]) == 0
    scored = pd.read_csv(tmp_path / "s.csv")
    assert set(scored["l2"]) <= {*taxonomy.L2_SEGMENTS, taxonomy.COLD_START}


@pytest.mark.integration
def test_training_evaluates_on_hand_labels_apart_from_the_rule_labels(synthetic_raw_csv: Path, tmp_path: Path,
                                                                      capsys) -> None:
    """A small, made-up label file (two labelers): the report must match what the saved model predicts."""
    from genemail.data import load_customers
    from genemail.segmentation import load_segmenter

    frame = load_customers(synthetic_raw_csv).frame
    ids = frame["customer_id"].astype(str).tolist()[:80]
    segments = [taxonomy.DORMANT if i % 2 else taxonomy.HIGHVALUE_ACTIVE for i in range(80)]
    rows = [{"customer_id": c, "rater": "ann", "l1": "unsure", "l2": s} for c, s in zip(ids, segments)]
    rows += [{"customer_id": c, "rater": "bob", "l1": "unsure", "l2": s if i < 60 else taxonomy.PARENT_ACTIVE}
             for i, (c, s) in enumerate(zip(ids, segments))]
    labels = tmp_path / "labels.csv"
    pd.DataFrame(rows).to_csv(labels, index=False)
    out = tmp_path / "seg"
    assert main(["--data", str(synthetic_raw_csv), "--out", str(out), "--labels", str(labels)]) == 0
    assert "hand labels: 160 labels by 2 labeler(s)" in capsys.readouterr().out
    report = json.loads((out / "metrics.json").read_text())["hand_labels"]
    assert report["n_customers"] == 60 and report["disputed"] == 20  # the last 20 are one-to-one ties
    model = load_segmenter(out / "segmenter.skops")
    agreed = frame[frame["customer_id"].astype(str).isin(ids[:60])]
    predicted = dict(zip(model.segment(agreed)["customer_id"].astype(str), model.segment(agreed)["l2"]))
    truth = dict(zip(ids[:60], segments[:60]))
    expected = np.mean([predicted[c] == truth[c] for c in truth])
    assert report["all"]["model"]["l2"]["accuracy"] == pytest.approx(expected)
    low, high = report["all"]["model"]["l2"]["ci"]
    assert low <= expected <= high and report["all"]["rules"]["l2"]["n"] == 60
    assert report["agreement"]["kappa_n"] == 80 and report["agreement"]["cohen_kappa"] < 1
    assert "l2_accuracy" in json.loads((out / "metrics.json").read_text())  # the rule-label KR1 is still there
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,l2\nX,VIP\n", encoding="utf-8")
    assert main(["--data", str(synthetic_raw_csv), "--out", str(tmp_path / "x"), "--labels", str(bad)]) == 2
