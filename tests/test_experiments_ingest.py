"""Ingest: formats, platform column names, duplicates, bad rows, unknown customers, crash safety."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from genemail.errors import DataError
from genemail.experiments import ExperimentConfig, ResultsStore, ingest_events, simulate_events
from genemail.experiments.ingest import IngestThresholds
from genemail.experiments.tables import write_table
from tests.conftest import REPO_ROOT
from tests.fixtures.experiments import build_send_log

CONFIG = ExperimentConfig("ingest-test", control=0.3, holdout=0.2, seed=5)


@pytest.fixture
def send_log(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """A send log of 200 customers and the frame it was written from."""
    path = tmp_path / "sendlog.jsonl"
    return path, build_send_log(path, {"Dormant": 100, "Parent_Active": 100}, CONFIG)


def _first(log: pd.DataFrame, arm: str, k: int = 1) -> list[str]:
    return log.loc[log["arm"] == arm, "customer_id"].head(k).tolist()


def _generic_events(log: pd.DataFrame) -> pd.DataFrame:
    seg = _first(log, "segmented", 3)
    return pd.DataFrame([
        {"event_id": "e1", "customer_id": seg[0], "event_type": "click", "time": "2025-03-01T10:00:00Z", "revenue": None},
        {"event_id": "e2", "customer_id": seg[1], "event_type": "open", "time": "2025-03-01T11:00:00+01:00", "revenue": None},
        {"event_id": "e3", "customer_id": seg[2], "event_type": "conversion", "time": "2025-03-02 08:00:00",
         "revenue": 12.5},
    ])


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet", ".tsv"])
def test_every_format_ingests_the_same_events(tmp_path: Path, send_log, suffix: str) -> None:
    path, log = send_log
    events = write_table(_generic_events(log), tmp_path / f"events{suffix}")
    result = ingest_events(tmp_path / "r.sqlite", path, events)
    assert (result.read, result.added, result.duplicates, result.bad) == (3, 3, 0, 0)
    assert result.sends_added == 200 and result.mapping["profile"] == "generic"
    stored = ResultsStore(tmp_path / "r.sqlite").events(CONFIG.name).set_index("event_id")
    assert stored.loc["e2", "time"] == "2025-03-01T10:00:00.000000Z"  # +01:00 converted to UTC
    assert stored.loc["e3", "time"] == "2025-03-02T08:00:00.000000Z"  # no offset: read as UTC
    assert stored.loc["e3", "revenue"] == 12.5 and stored.loc["e1", "event_type"] == "click"


def test_ingesting_twice_adds_nothing_and_counts_duplicates(tmp_path: Path, send_log) -> None:
    path, log = send_log
    events = write_table(_generic_events(log), tmp_path / "events.csv")
    first = ingest_events(tmp_path / "r.sqlite", path, events)
    second = ingest_events(tmp_path / "r.sqlite", path, events)
    assert (first.added, second.added, second.duplicates) == (3, 0, 3)
    assert (second.sends_added, second.sends_known) == (0, 200)
    assert ResultsStore(tmp_path / "r.sqlite").count_events() == 3
    runs = ResultsStore(tmp_path / "r.sqlite").ingests()
    assert len(runs) == 2 and all(r["finished_at"] for r in runs) and runs[1]["result"]["duplicates"] == 3


def test_events_without_ids_are_keyed_by_content(tmp_path: Path, send_log) -> None:
    path, log = send_log
    events = _generic_events(log).drop(columns="event_id")
    events = pd.concat([events, events.iloc[[0]]])  # the same click twice in one file
    file = write_table(events, tmp_path / "events.csv")
    result = ingest_events(tmp_path / "r.sqlite", path, file)
    assert (result.added, result.duplicates) == (3, 1)
    assert ingest_events(tmp_path / "r.sqlite", path, file).added == 0


def test_sendgrid_webhook_export(tmp_path: Path, send_log) -> None:
    path, log = send_log
    who = _first(log, "segmented", 2)
    rows = [{"email": "a@example.com", "timestamp": 1740823200, "event": "open", "sg_event_id": "sg1",
             "sg_message_id": "m1", "customer_id": who[0]},
            {"email": "a@example.com", "timestamp": 1740823260, "event": "click", "sg_event_id": "sg2",
             "customer_id": who[0], "url": "https://example.com"},
            {"email": "b@example.com", "timestamp": 1740823000, "event": "processed", "sg_event_id": "sg3",
             "customer_id": who[1]},
            {"email": "b@example.com", "timestamp": 1740823001, "event": "group_unsubscribe", "sg_event_id": "sg4",
             "customer_id": who[1]}]
    file = tmp_path / "sendgrid.json"
    file.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    result = ingest_events(tmp_path / "r.sqlite", path, file)
    assert result.mapping["profile"] == "sendgrid" and result.mapping["columns"]["event_id"] == "sg_event_id"
    assert (result.added, result.skipped) == (3, {"processed": 1})
    stored = ResultsStore(tmp_path / "r.sqlite").events(CONFIG.name)
    assert sorted(stored["event_type"]) == ["click", "open", "unsubscribe"]
    assert stored.loc[stored["event_id"] == "sg1", "time"].item() == "2025-03-01T10:00:00.000000Z"  # epoch seconds


def test_mailgun_events_with_nested_user_variables(tmp_path: Path, send_log) -> None:
    path, log = send_log
    who = _first(log, "control")[0]
    rows = [{"id": "mg1", "event": "opened", "timestamp": 1740823200.25, "recipient": "x@example.com",
             "user-variables": {"customer_id": who}},
            {"id": "mg2", "event": "clicked", "timestamp": 1740823300.5, "user-variables": {"customer_id": who}}]
    file = tmp_path / "mailgun.jsonl"
    file.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    result = ingest_events(tmp_path / "r.sqlite", path, file)
    assert result.mapping["profile"] == "mailgun" and result.added == 2
    assert "user-variables.customer_id" in result.mapping["description"]


def test_jsonl_keys_that_appear_only_on_later_lines_are_mapped(tmp_path: Path, send_log) -> None:
    path, log = send_log
    who = _first(log, "segmented")[0]
    rows = [{"customer_id": who, "event": "open", "timestamp": "2025-03-01T10:00:00Z"}] * 3
    rows.append({"customer_id": who, "event": "purchase", "timestamp": "2025-03-01T12:00:00Z", "revenue": 19.9})
    file = tmp_path / "events.jsonl"
    file.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    result = ingest_events(tmp_path / "r.sqlite", path, file)
    assert result.mapping["columns"]["revenue"] == "revenue" and (result.added, result.duplicates) == (2, 2)
    stored = ResultsStore(tmp_path / "r.sqlite").events(CONFIG.name)
    assert stored.loc[stored["event_type"] == "conversion", "revenue"].tolist() == [19.9]


def test_marketing_cloud_per_type_extract_with_us_dates(tmp_path: Path, send_log) -> None:
    path, log = send_log
    who = _first(log, "segmented", 2)
    file = tmp_path / "Clicks.csv"
    file.write_text("SubscriberKey,EventDate,URL\n"
                    f"{who[0]},3/1/2025 10:30:00 AM,https://example.com\n"
                    f"{who[1]},3/1/2025 1:05:00 PM,https://example.com\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"sfmc export but has no column for event_type"):
        ingest_events(tmp_path / "r.sqlite", path, file)
    result = ingest_events(tmp_path / "r.sqlite", path, file, default_event_type="click")
    assert result.mapping["profile"] == "sfmc" and result.added == 2
    times = sorted(ResultsStore(tmp_path / "r.sqlite").events(CONFIG.name)["time"])
    assert times == ["2025-03-01T10:30:00.000000Z", "2025-03-01T13:05:00.000000Z"]


def test_generic_names_match_without_case_spaces_or_underscores(tmp_path: Path, send_log) -> None:
    path, log = send_log
    who = _first(log, "segmented")[0]
    file = tmp_path / "export.csv"
    file.write_text(f"Customer ID;Event Type;Timestamp;Value\n{who};Clicked;2025-03-01T10:00:00Z;\n"
                    f"{who};Placed Order;2025-03-01T12:00:00Z;30,5\n", encoding="utf-8")  # ; separated
    result = ingest_events(tmp_path / "r.sqlite", path, file)
    assert result.mapping["columns"] == {"customer_id": "Customer ID", "event_type": "Event Type",
                                         "time": "Timestamp", "revenue": "Value"}
    assert result.added == 2 and result.bad == 0  # 30,5: a decimal comma, read as the customer table reads it
    assert ResultsStore(tmp_path / "r.sqlite").events(CONFIG.name)["revenue"].dropna().tolist() == [30.5]


def test_bad_rows_are_counted_and_listed_by_line(tmp_path: Path, send_log) -> None:
    path, log = send_log
    who = _first(log, "segmented")[0]
    file = tmp_path / "events.csv"
    file.write_text("customer_id,event_type,time,revenue\n"
                    f"{who},click,2025-03-01T10:00:00Z,\n"           # line 2: fine
                    f"{who},teleport,2025-03-01T10:00:00Z,\n"        # line 3: unknown type
                    f"{who},open,yesterday,\n"                       # line 4: bad time
                    ",open,2025-03-01T10:00:00Z,\n"                  # line 5: missing id
                    f"{who},conversion,2025-03-01T10:00:00Z,-4\n"    # line 6: negative revenue: amount missing
                    f"{who},open\n"                                  # line 7: too few fields
                    f"{who},,2025-03-01T10:00:00Z,\n", encoding="utf-8")  # line 8: no type
    result = ingest_events(tmp_path / "r.sqlite", path, file, thresholds=IngestThresholds(max_bad_share=1.0))
    assert (result.read, result.added, result.bad, result.revenue_missing) == (7, 2, 5, 1)
    lines = dict(result.bad_rows)
    assert sorted(lines) == [3, 4, 5, 7, 8]
    assert "unknown event type 'teleport'" in lines[3] and "bad time 'yesterday'" in lines[4]
    assert "missing customer id" in lines[5] and "fields" in lines[7]
    assert "missing event type" in lines[8]
    assert result.revenue_missing_rows == [(6, "revenue '-4' is not an amount >= 0: counted as missing")]
    assert "line 3: unknown event type" in result.summary() and "line 6: revenue '-4'" in result.summary()


def test_unknown_customers_before_send_and_holdout_engagement_are_reported(tmp_path: Path, send_log) -> None:
    path, log = send_log
    seg, hold = _first(log, "segmented")[0], _first(log, "holdout")[0]
    events = pd.DataFrame([
        {"customer_id": "STRANGER-1", "event_type": "click", "time": "2025-03-01T10:00:00Z"},
        {"customer_id": "STRANGER-2", "event_type": "open", "time": "2025-03-01T10:00:00Z"},
        {"customer_id": seg, "event_type": "click", "time": "2025-02-27T10:00:00Z"},     # before sent_at
        {"customer_id": hold, "event_type": "conversion", "time": "2025-03-02T10:00:00Z"},  # counts: organic
        {"customer_id": hold, "event_type": "click", "time": "2025-03-02T10:00:00Z"},
    ])
    result = ingest_events(tmp_path / "r.sqlite", path, write_table(events, tmp_path / "e.csv"),
                           thresholds=IngestThresholds(max_unmatched_share=0.5))
    assert (result.unknown_customer_events, result.unknown_customers) == (2, 2)
    assert result.unknown_customer_ids == ["STRANGER-1", "STRANGER-2"]
    assert (result.before_send, result.holdout_engagement, result.added) == (1, 1, 5)
    text = result.summary()
    assert "not in the send log" in text and "earlier than" in text and "holdout" in text


def test_a_send_log_that_moves_a_customer_to_another_arm_is_refused(tmp_path: Path, send_log) -> None:
    path, log = send_log
    events = write_table(_generic_events(log), tmp_path / "events.csv")
    ingest_events(tmp_path / "r.sqlite", path, events)
    moved = log.copy()
    first = moved.index[moved["arm"] == "control"][0]
    moved.loc[first, ["arm", "email"]] = ["holdout", None]
    write_table(moved, tmp_path / "moved.jsonl")
    with pytest.raises(DataError, match=r"recorded in experiment 'ingest-test' with arm 'control'") as info:
        ingest_events(tmp_path / "r.sqlite", tmp_path / "moved.jsonl", events)
    assert "keeps its arm" in str(info.value)


def test_files_without_needed_columns_or_with_two_experiments_are_refused(tmp_path: Path, send_log) -> None:
    path, log = send_log
    (tmp_path / "e.csv").write_text("who,what\n1,click\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"e.csv, header: no column for customer_id, time, event_type") as info:
        ingest_events(tmp_path / "r.sqlite", path, tmp_path / "e.csv")
    assert "--event-type" in str(info.value) and "found: who, what" in str(info.value)
    two = pd.concat([log, log.assign(experiment="other")])
    write_table(two, tmp_path / "two.jsonl")
    with pytest.raises(DataError, match="2 experiments"):
        ingest_events(tmp_path / "r.sqlite", tmp_path / "two.jsonl", tmp_path / "e.csv")
    with pytest.raises(DataError, match="event type .teleport. is unknown"):
        ingest_events(tmp_path / "r.sqlite", path, tmp_path / "e.csv", default_event_type="teleport")


_CHILD = """
import sys, time
from genemail.experiments import ingest_events

def acknowledge(progress):
    print(progress.added, flush=True)  # the caller was told: these events are stored
    time.sleep(0.05)  # slow the run down so the parent can kill it mid-way

ingest_events(sys.argv[1], sys.argv[2], sys.argv[3], chunk_rows=400, on_progress=acknowledge)
print("finished", flush=True)
"""


@pytest.mark.integration
def test_a_killed_ingest_keeps_what_it_acknowledged_and_a_rerun_completes(tmp_path: Path) -> None:
    log_path = tmp_path / "sendlog.jsonl"
    log = build_send_log(log_path, {"HighValue_Active": 6000}, CONFIG)
    truth = {"default": {"control": 0.3, "segmented": 0.4, "open": {"control": 0.6, "segmented": 0.6}}}
    events = write_table(simulate_events(log, truth, seed=1), tmp_path / "e.jsonl")
    total = sum(1 for _ in events.open(encoding="utf-8"))
    db = tmp_path / "r.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(db), str(log_path), str(events)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acknowledged = [int(child.stdout.readline()) for _ in range(3)]
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL  # killed mid-ingest, not finished
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        unfinished = conn.execute("SELECT COUNT(*) FROM ingests WHERE finished_at IS NULL").fetchone()[0]
    assert acknowledged[-1] <= stored < total and unfinished == 1
    rerun = ingest_events(db, log_path, events)
    assert rerun.duplicates == stored and rerun.added == total - stored
    assert ResultsStore(db).count_events() == total
