"""The report end to end on simulated events: sample-ratio block, guardrails, covariates, daily replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from genemail.cli import run
from genemail.errors import DataError
from genemail.experiments import ExperimentConfig, experiment_report, format_report, ingest_events, simulate_events
from genemail.experiments.tables import write_table
from tests.fixtures.experiments import SENT_AT, build_send_log

CONFIG = ExperimentConfig("guards", control=0.5, holdout=0.0, seed=3)
SIZES = {"Parent_Active": 6000, "Dormant": 1500}


def _db(tmp_path: Path, truth: dict, *, covariates: bool = False, seed: int = 1) -> Path:
    log_path = tmp_path / "log.jsonl"
    log = build_send_log(log_path, SIZES, CONFIG, covariates=covariates)
    events = write_table(simulate_events(log, truth, seed=seed), tmp_path / "events.parquet")
    ingest_events(tmp_path / "r.sqlite", log_path, events)
    return tmp_path / "r.sqlite"


def test_a_platform_that_drops_part_of_one_arm_blocks_the_decision(tmp_path: Path) -> None:
    truth = {"default": {"control": 0.05, "segmented": 0.05},
             "Parent_Active": {"control": 0.05, "segmented": 0.05, "not_sent": {"control": 0.15}}}
    report = experiment_report(_db(tmp_path, truth), CONFIG.name)
    blocked, clean = report["segments"]["Parent_Active"], report["segments"]["Dormant"]
    assert blocked["decision"] == "srm_blocked" and blocked["srm"]["blocked"]
    assert blocked["srm"]["p_value"] < 0.001 and blocked["p_value_adj"] is None  # out of the family
    assert blocked["srm"]["lost"]["arm"] == "control"
    n_control = blocked["arms"]["control"]["n"]
    assert blocked["srm"]["lost"]["sends"] == pytest.approx(0.15 * 0.99 * n_control, rel=0.25)
    assert blocked["srm"]["observed"]["control"] < blocked["srm"]["expected"]["control"]
    assert not clean["srm"]["blocked"] and clean["srm"]["p_value"] > 0.001
    assert report["overall"]["decision"] == "srm_blocked"  # the dropped sends show in the total too
    text = format_report(report)
    assert "Parent_Active: click" in text and "srm_blocked: control lost about" in text and "suppression" in text


def test_a_click_win_that_raises_unsubscribes_is_not_a_win(tmp_path: Path) -> None:
    truth = {"default": {"control": 0.03, "segmented": 0.03},
             "Parent_Active": {"control": 0.03, "segmented": 0.08, "unsubscribe": {"control": 0.002,
                                                                                    "segmented": 0.03}}}
    db = _db(tmp_path, truth)
    report = experiment_report(db, CONFIG.name)
    entry = report["segments"]["Parent_Active"]
    guard = entry["guardrails"]["unsubscribe"]
    assert guard["breached"] and guard["ci"][0] > 0 and guard["margin"] == 0.0
    assert entry["decision"] == "guardrail_breached" and entry["lift"]["ci"][0] > 0  # clicks did win
    assert not entry["guardrails"]["complaint"]["breached"]
    assert "guardrail_breached: unsubscribe" in format_report(report)
    # A team that tolerates 5 points more unsubscribes gets its win back.
    from genemail.experiments.guardrails import GuardrailConfig

    tolerant = experiment_report(db, CONFIG.name, guardrails=GuardrailConfig.parse(["unsubscribe=0.05"]))
    assert tolerant["segments"]["Parent_Active"]["decision"] == "significant_win"


def test_covariates_cut_the_variance_and_keep_the_lift(tmp_path: Path) -> None:
    truth = {"default": {"control": 0.10, "segmented": 0.10, "covariates": {"pre_responses": 0.08}},
             "Parent_Active": {"control": 0.10, "segmented": 0.13, "covariates": {"pre_responses": 0.08}}}
    db = _db(tmp_path, truth, covariates=True)
    adjusted = experiment_report(db, CONFIG.name)
    plain = experiment_report(db, CONFIG.name, use_covariates=False)
    assert adjusted["covariates"] == ["pre_responses", "pre_spend"] and plain["covariates"] == []
    seg, raw = adjusted["segments"]["Parent_Active"], plain["segments"]["Parent_Active"]
    # pre_responses ~ Bin(5, 0.2) moves P(click) 8 points per answer: R² = 0.08² x 0.8 / 0.09 ≈ 0.057
    assert 0.03 < seg["variance_reduction"] < 0.09 and raw["variance_reduction"] == 0
    width = lambda e: e["lift"]["ci"][1] - e["lift"]["ci"][0]  # noqa: E731
    assert width(seg) < width(raw)
    assert seg["lift"]["ci"][0] <= 0.03 <= seg["lift"]["ci"][1]
    assert "covariates cut its variance" in format_report(adjusted)


def test_as_of_replays_what_was_known_then(tmp_path: Path, capsys) -> None:
    db = _db(tmp_path, {"default": {"control": 0.05, "segmented": 0.07}})
    full = experiment_report(db, CONFIG.name)
    early = experiment_report(db, CONFIG.name, as_of="2025-03-01T12:00:00Z")  # 3 hours after the send
    later = experiment_report(db, CONFIG.name, as_of="2025-03-01")           # the end of that day, UTC
    events = lambda r: r["overall"]["arms"]["segmented"]["events"]  # noqa: E731
    assert 0 < events(early) < events(later) <= events(full)
    assert early["as_of"] == "2025-03-01T12:00:00.000000Z" and full["as_of"] is None
    assert early["overall"]["arms"]["segmented"]["n"] == full["overall"]["arms"]["segmented"]["n"]
    with pytest.raises(DataError, match="no customer of 'guards' was sent at or before"):
        experiment_report(db, CONFIG.name, as_of="2025-02-28T00:00:00Z")
    assert SENT_AT.startswith("2025-03-01")
    assert run(["results", "report", "--experiment", CONFIG.name, "--db", str(db), "--as-of",
                "2025-03-01T12:00:00Z", "--analysis", "fixed", "--multiplicity", "bh"]) == 0
    out = capsys.readouterr().out
    assert "fixed-horizon" in out and "Benjamini-Hochberg" in out and "As of 2025-03-01T12:00:00" in out


def test_a_database_from_before_complaints_and_covariates_keeps_every_event(tmp_path: Path) -> None:
    from typing import ClassVar

    import pandas as pd

    from genemail.experiments.store import MIGRATIONS as ALL_MIGRATIONS
    from genemail.experiments.store import ResultsStore
    from genemail.sqlite import Migration

    class OldStore(ResultsStore):  # what an older GenEmail created: migration 1 only
        MIGRATIONS: ClassVar[tuple[Migration, ...]] = ALL_MIGRATIONS[:1]

    db = tmp_path / "old.sqlite"
    old = OldStore(db)
    with old._write() as conn:
        conn.execute("INSERT INTO sends (experiment, customer_id, segment, arm, sent_at, recorded_at) "
                     "VALUES ('x', 'c1', 'Dormant', 'control', '2025-03-01T09:00:00.000000Z', 'now')")
    events = pd.DataFrame({"event_key": ["k1", "k2"], "event_id": [None, None], "customer_id": ["c1", "c1"],
                           "event_type": ["delivered", "click"], "time": ["2025-03-01T09:01:00.000000Z"] * 2,
                           "revenue": [None, None], "line": [2, 3]})
    assert old.add_events("x", events, "e.csv") == 2
    store = ResultsStore(db)  # migrations 2 and later run here
    assert store.schema_version() == len(ALL_MIGRATIONS) and store.count_events("x") == 2
    assert list(store.events("x")["event_type"]) == ["delivered", "click"]
    complaint = events.iloc[:1].assign(event_key="k3", event_type="complaint")
    assert store.add_events("x", complaint, "e.csv") == 1  # the new event type is accepted
    assert store.recipients("x")["covariates"].tolist() == [None]
