"""Drift: PSI, the migration matrix on synthetic drift with a known migration, the retrain verdict, the CLI."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genemail.errors import ConfigError
from genemail.segmentation.drift import (
    GONE,
    NEW,
    DriftConfig,
    DriftSpec,
    categorical_psi,
    drift_report,
    migration_matrix,
    migration_shares,
    psi,
    synthesize_drift,
)
from genemail.taxonomy import DORMANT, NEED_REENGAGEMENT

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory):
    """A fitted segmenter, a clean synthetic snapshot and one 45 days later (60% of customers returned)."""
    from genemail.data import clean_frame, synthesize
    from genemail.segmentation import HierarchicalSegmenter

    raw = synthesize(1500, 7, dirty=False)
    later, returned = synthesize_drift(raw, DriftSpec(days=45, returning=0.6, seed=3))
    before, after = clean_frame(raw).frame, clean_frame(later).frame
    model = HierarchicalSegmenter(max_iter=20, n_augment=0, random_state=0).fit(before)
    root = tmp_path_factory.mktemp("drift")
    raw.to_csv(root / "before.csv", index=False)
    later.to_csv(root / "after.csv", index=False)
    return model, raw, later, returned, before, after, root


def test_psi_is_zero_for_the_same_distribution_and_grows_with_the_shift() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, 20_000)
    assert psi(x, rng.normal(0, 1, 20_000)) < 0.01
    small, large = psi(x, rng.normal(0.2, 1, 20_000)), psi(x, rng.normal(1.0, 1, 20_000))
    assert 0.02 < small < 0.1 < 0.25 < large
    with_missing = np.where(rng.random(20_000) < 0.3, np.nan, x)
    assert psi(x, with_missing) > 0.25  # 30% newly missing is a shift of its own (the missing bin)
    assert categorical_psi(pd.Series(list("aab")), pd.Series(list("aab"))) == 0.0
    assert categorical_psi(pd.Series(list("aaab")), pd.Series(list("abbb"))) > 0.25


def test_migration_matrix_counts_movers_new_and_gone() -> None:
    before = pd.DataFrame({"customer_id": ["1", "2", "3", "4"], "l2": ["Dormant", "Dormant", "Parent_Active", "X"]})
    after = pd.DataFrame({"customer_id": ["1", "2", "3", "5"], "l2": ["Dormant", "Parent_Active", "Dormant", "Dormant"]})
    m = migration_matrix(before, after, ["Parent_Active", "Dormant"])
    assert m.loc["Dormant", "Dormant"] == 1 and m.loc["Dormant", "Parent_Active"] == 1
    assert m.loc["Parent_Active", "Dormant"] == 1 and m.loc["X", GONE] == 1 and m.loc[NEW, "Dormant"] == 1
    assert int(m.to_numpy().sum()) == 5
    shares = migration_shares(m)
    assert NEW not in shares.index and shares.loc["Dormant"].sum() == pytest.approx(1.0)


def test_synthetic_drift_moves_exactly_the_lapsed_customers(snapshots) -> None:
    model, raw, later, returned, before, after, _ = snapshots
    report = drift_report(model, before, after, trained_at=NOW - timedelta(days=10), as_of=NOW)
    seg_b = model.segment(before).set_index("customer_id")["l2"]
    seg_a = model.segment(after).set_index("customer_id")["l2"]
    ids = raw["ID"].astype(str)
    old_recency = pd.Series(raw["Recency"].to_numpy(), index=ids)
    lapsed = ids[(~returned).to_numpy() & (old_recency + 45 > 60).to_numpy()]  # known truth: now past 60 days
    assert (seg_a[lapsed] == DORMANT).mean() > 0.97
    came_back = ids[returned.to_numpy()]
    assert not (seg_a[came_back] == DORMANT).any()  # recency <= 30: active again
    moved = (seg_b != seg_a.reindex(seg_b.index)).mean()
    assert report.moved_share == pytest.approx(moved, abs=1e-4) and report.moved_share > report.config.migration_threshold
    m = report.migration
    assert m.loc[NEW].sum() == 0 and m[GONE].sum() == 0 and report.n_both == len(before)
    assert m[DORMANT].sum() == (seg_a == DORMANT).sum()
    assert m.loc[NEED_REENGAGEMENT, DORMANT] > 0
    assert report.retrain and any("changed segment" in r for r in report.reasons)
    assert report.psi["recency"] > report.config.psi_threshold and report.psi["income"] < 0.01
    assert not any("days old" in r for r in report.reasons)


def test_no_drift_no_retrain_but_an_old_model_is_retrained(snapshots) -> None:
    model, _, _, _, before, _, _ = snapshots
    same = drift_report(model, before, before.copy(), trained_at=NOW - timedelta(days=30), as_of=NOW)
    assert not same.retrain and same.reasons == [] and same.moved_share == 0.0
    assert max(same.psi.values()) < 1e-9
    old = drift_report(model, before, before.copy(), trained_at=NOW - timedelta(days=120), as_of=NOW)
    assert old.retrain and old.reasons == ["the model is 120 days old, older than the 90-day cadence"]
    assert old.model_age_days == 120.0


def test_cli_drift_and_synth_drift(snapshots, tmp_path: Path, capsys) -> None:
    from genemail.cli import run
    from genemail.segmentation import save_segmenter

    model, _, _, _, _, _, root = snapshots
    save_segmenter(model, tmp_path / "seg")
    (tmp_path / "seg" / "metrics.json").write_text(json.dumps({"trained_at": "2026-01-01T00:00:00Z"}))
    assert run(["segment", "synth-drift", "--data", str(root / "before.csv"), "--out", str(tmp_path / "later.csv"),
                "--days", "45", "--returning", "0.6", "--seed", "3"]) == 0
    assert "returned" in capsys.readouterr().out
    code = run(["segment", "drift", "--model", str(tmp_path / "seg"), "--before", str(root / "before.csv"),
                "--after", str(tmp_path / "later.csv"), "--as-of", "2026-06-01", "--json", str(tmp_path / "d.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "RETRAIN RECOMMENDED" in out and "Segment migration" in out and "metrics.json trained_at" in out
    report = json.loads((tmp_path / "d.json").read_text())
    assert report["retrain"] and report["model_age_days"] == 151.0
    assert any("151 days old" in r for r in report["reasons"])
    assert report["migration"]["rows"][-1] == NEW and report["migration"]["columns"][-1] == GONE
    assert run(["segment", "drift", "--model", str(tmp_path / "seg"), "--before", str(root / "before.csv"),
                "--after", str(tmp_path / "missing.csv")]) == 2
    assert run(["segment", "drift", "--model", str(tmp_path / "seg"), "--before", str(root / "before.csv"),
                "--after", str(tmp_path / "later.csv"), "--psi-threshold", "0"]) == 2


def test_configs_are_validated() -> None:
    with pytest.raises(ConfigError, match="psi_threshold"):
        DriftConfig(psi_threshold=0)
    with pytest.raises(ConfigError, match="migration_threshold"):
        DriftConfig(migration_threshold=1.5)
    with pytest.raises(ConfigError, match="days"):
        DriftSpec(days=0)
    with pytest.raises(ConfigError, match="returning"):
        DriftSpec(returning=1.2)
