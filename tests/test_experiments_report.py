"""The report: counting rules, JSON shape, text lines, cumulative rates, errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from genemail.errors import ConfigError, DataError
from genemail.experiments import (
    ExperimentConfig,
    cumulative_rates,
    experiment_report,
    format_report,
    ingest_events,
    list_experiments,
    simulate_events,
)
from genemail.experiments.ingest import IngestThresholds
from genemail.experiments.report import OPEN_NOTE, SRM_NOTE
from genemail.experiments.tables import write_table
from tests.fixtures.experiments import build_send_log

CONFIG = ExperimentConfig("report-test", control=0.4, holdout=0.2, seed=1)
LENIENT = IngestThresholds(max_unmatched_share=0.2)
GROUP_KEYS = {"arms", "lift", "lift_vs_holdout", "p_win", "p_value", "p_value_adj", "decision", "srm",
              "variance_reduction", "guardrails"}


@pytest.fixture
def small_db(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """A database with 60 customers and hand-written events (known counts)."""
    log_path = tmp_path / "log.jsonl"
    log = build_send_log(log_path, {"Dormant": 30, "Parent_Active": 30}, CONFIG)
    seg = log.loc[(log["l2"] == "Dormant") & (log["arm"] == "segmented"), "customer_id"].tolist()
    hold = log.loc[(log["l2"] == "Dormant") & (log["arm"] == "holdout"), "customer_id"].tolist()
    rows = [(seg[0], "click", "2025-03-01T10:00:00Z", None), (seg[0], "click", "2025-03-01T11:00:00Z", None),
            (seg[0], "click", "2025-03-02T10:00:00Z", None),                       # one clicker, three clicks
            (seg[1], "click", "2025-02-28T10:00:00Z", None),                       # before the send: not counted
            (seg[1], "conversion", "2025-03-01T12:00:00Z", 20.0), (seg[1], "conversion", "2025-03-03T12:00:00Z", 5.5),
            (hold[0], "conversion", "2025-03-02T12:00:00Z", 10.0),                 # organic: counts for holdout
            ("NOBODY", "click", "2025-03-01T10:00:00Z", None)]                     # not a recipient
    events = pd.DataFrame(rows, columns=["customer_id", "event_type", "time", "revenue"])
    # NOBODY's click is 1 of 8 rows (12.5%): accepted at ingest and at report time by a 20% threshold
    ingest_events(tmp_path / "r.sqlite", log_path, write_table(events, tmp_path / "e.csv"), thresholds=LENIENT)
    return tmp_path / "r.sqlite", log


def test_counts_are_unique_customers_after_their_send(small_db) -> None:
    db, log = small_db
    dormant = log[log["l2"] == "Dormant"]
    report = experiment_report(db, CONFIG.name, metric="click", min_n=5)
    arms = report["segments"]["Dormant"]["arms"]
    assert {arm: arms[arm]["n"] for arm in arms} == dormant["arm"].value_counts().to_dict()
    assert arms["segmented"]["events"] == 1 and arms["control"]["events"] == 0
    assert arms["segmented"]["rate"] == pytest.approx(1 / arms["segmented"]["n"])
    assert report["overall"]["arms"]["segmented"]["events"] == 1  # NOBODY's click is not a recipient's
    conversion = experiment_report(db, CONFIG.name, metric="conversion", min_n=5)["segments"]["Dormant"]["arms"]
    assert (conversion["segmented"]["events"], conversion["segmented"]["revenue"]) == (1, 25.5)
    assert (conversion["holdout"]["events"], conversion["holdout"]["revenue"]) == (1, 10.0)
    assert report["n_customers"] == 60 and report["release"][0]["revision"] == "v1"


def test_json_shape_and_small_segments(small_db) -> None:
    db, _ = small_db
    report = experiment_report(db, CONFIG.name, thresholds=LENIENT)  # min_n 500: every segment is too small
    assert {"experiment", "metric", "segments", "overall", "min_n", "alpha", "notes", "release"} <= set(report)
    assert report["metric"] == "click" and OPEN_NOTE in report["notes"]
    assert sorted(report["segments"]) == ["Dormant", "Parent_Active"]
    for entry in [*report["segments"].values(), report["overall"]]:
        assert GROUP_KEYS <= set(entry)
        assert set(entry["arms"]) == {"segmented", "control", "holdout"}
        for arm in entry["arms"].values():
            assert {"n", "events", "rate", "ci"} <= set(arm) and arm["ci"][0] <= arm["rate"] <= arm["ci"][1]
        assert set(entry["lift"]) == {"estimate", "ci"} and entry["decision"] == "not_enough_data"
        assert entry["p_value_adj"] is None  # no decision, so not in the family
    assert SRM_NOTE in report["notes"]  # these hand-written events have no deliveries: nothing to check
    assert experiment_report(db, CONFIG.name, metric="conversion")["notes"] == [SRM_NOTE]
    assert report["analysis"] == "sequential" and report["as_of"] is None and report["covariates"] == []
    for entry in [*report["segments"].values(), report["overall"]]:
        assert entry["variance_reduction"] == 0 and entry["srm"]["p_value"] is None and not entry["srm"]["blocked"]
        assert set(entry["guardrails"]) == {"unsubscribe", "complaint"}
        assert set(entry["guardrails"]["unsubscribe"]) >= {"delta", "ci", "margin", "breached"}


def test_text_has_one_line_per_segment_and_says_when_too_small(small_db) -> None:
    db, _ = small_db
    text = format_report(experiment_report(db, CONFIG.name, thresholds=LENIENT))
    lines = text.splitlines()
    assert lines[0].startswith("Ingest: 1 file(s) ingested, 8 events stored; 8 rows read, 0 duplicates, 0 bad, 1 of")
    lines = lines[1:]
    assert lines[0].startswith("Experiment report-test: click rate") and "always-valid" in lines[0]
    assert lines[1].startswith("Intervals tuned for 2,000 per arm; guardrails: unsubscribe")
    assert lines[2].startswith("Note: opens") and lines[3].startswith("Note: no delivery")
    assert [line.split(":")[0] for line in lines[4:]] == ["Dormant", "Parent_Active", "Overall"]
    assert all("→ not_enough_data" in line and "needs 500 per arm" in line for line in lines[4:])
    decided = format_report(experiment_report(db, CONFIG.name, min_n=5, thresholds=LENIENT)).splitlines()[5]
    assert "lift" in decided and "P(win)" in decided and "vs holdout" in decided and "→ " in decided
    assert "SRM not checked" in decided
    fixed = format_report(experiment_report(db, CONFIG.name, analysis="fixed", thresholds=LENIENT)).splitlines()
    assert "fixed-horizon" in fixed[1] and not fixed[2].startswith("Intervals tuned")


def test_cumulative_rates_rise_to_the_reported_rate(tmp_path: Path) -> None:
    log_path = tmp_path / "log.jsonl"
    log = build_send_log(log_path, {"Parent_Active": 3000}, CONFIG)
    truth = {"default": {"control": 0.05, "segmented": 0.1}}
    events = simulate_events(log, truth, seed=2)
    ingest_events(tmp_path / "r.sqlite", log_path, write_table(events, tmp_path / "e.parquet"))
    curve = cumulative_rates(tmp_path / "r.sqlite", CONFIG.name, "click")
    assert list(curve.columns) == ["time", "segment", "arm", "n", "events", "rate"]
    assert str(curve["time"].dt.tz) == "UTC" and set(curve["segment"]) == {"Parent_Active", "ALL"}
    report = experiment_report(tmp_path / "r.sqlite", CONFIG.name)
    for (segment, arm), part in curve.groupby(["segment", "arm"]):
        assert part["rate"].is_monotonic_increasing and part["rate"].iloc[0] == 0
        entry = report["overall"] if segment == "ALL" else report["segments"][segment]
        assert part["rate"].iloc[-1] == pytest.approx(entry["arms"][arm]["rate"])


def test_list_and_errors(small_db, tmp_path: Path) -> None:
    db, _ = small_db
    assert list_experiments(db) == [CONFIG.name]
    assert list_experiments(tmp_path / "none.sqlite") == [] and not (tmp_path / "none.sqlite").exists()
    with pytest.raises(DataError, match=r"'autumn' is not in the results database \(it has: report-test\)"):
        experiment_report(db, "autumn")
    with pytest.raises(DataError, match="genemail results ingest"):
        experiment_report(tmp_path / "none.sqlite", CONFIG.name)
    with pytest.raises(ConfigError, match="metric='clicks'"):
        experiment_report(db, CONFIG.name, metric="clicks")
    with pytest.raises(ConfigError, match="min_n"):
        experiment_report(db, CONFIG.name, min_n=0)
    with pytest.raises(ConfigError, match="alpha"):
        experiment_report(db, CONFIG.name, alpha=5)


def test_an_experiment_without_holdout_reports_no_holdout_lift(tmp_path: Path) -> None:
    log_path = tmp_path / "log.csv"
    config = ExperimentConfig("no-holdout", control=0.5, holdout=0.0)
    log = build_send_log(log_path, {"Dormant": 200}, config)
    events = write_table(simulate_events(log, {"default": {"control": 0.1, "segmented": 0.1}}, seed=0),
                         tmp_path / "e.jsonl")
    ingest_events(tmp_path / "r.sqlite", log_path, events)
    entry = experiment_report(tmp_path / "r.sqlite", config.name, min_n=50)["segments"]["Dormant"]
    assert entry["arms"]["holdout"] == {"n": 0, "events": 0, "rate": None, "ci": None, "revenue": 0.0}
    assert entry["lift_vs_holdout"] == {"estimate": None, "ci": None} and entry["lift"]["estimate"] is not None
    assert "vs holdout" not in format_report(experiment_report(tmp_path / "r.sqlite", config.name, min_n=50))


def test_simulate_refuses_a_frame_without_the_send_log_columns() -> None:
    with pytest.raises(DataError, match="no column.*arm"):
        simulate_events(pd.DataFrame({"customer_id": ["1"], "l2": ["Dormant"]}), {"default": {"control": 0.1,
                                                                                             "segmented": 0.1}})
