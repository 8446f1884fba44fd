"""Each way an export used to give wrong counts with exit 0 now gives exact counts or a refusal.

One test per failure class of the issue "outcomes are never lost or double counted"; each builds the
export that broke, and checks the stored counts exactly, or that the file was refused (exit 2,
nothing stored, the likely cause named) and that the report then gives no decision.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from genemail.cli import run
from genemail.errors import DataError
from genemail.experiments import ExperimentConfig, ResultsStore, experiment_report, format_report, ingest_events
from genemail.experiments.sendlog import read_send_log
from genemail.experiments.store import MIGRATIONS as STORE_MIGRATIONS
from genemail.experiments.tables import write_table
from tests.fixtures.experiments import build_send_log

CONFIG = ExperimentConfig("failures", control=0.3, holdout=0.1, seed=3)
T0 = 1740826800  # 2025-03-01T11:00:00Z, after every send


@pytest.fixture
def send_log(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    path = tmp_path / "sendlog.jsonl"
    return path, build_send_log(path, {"Dormant": 150, "Parent_Active": 150}, CONFIG)


def _ids(log: pd.DataFrame, k: int, arm: str = "segmented") -> list[str]:
    return log.loc[log["arm"] == arm, "customer_id"].head(k).tolist()


def _counts(db: Path, metric: str) -> tuple[int, float]:
    counts = ResultsStore(db).arm_counts(CONFIG.name, metric)
    return int(counts["events"].sum()), round(float(counts["revenue"].sum()), 2)


def _refused(argv: list[str], capsys) -> str:
    """Run the CLI, expect exit 2 without a traceback, return what it printed to stderr."""
    assert run(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err and "this is a bug" not in captured.err
    return captured.err


# --- ids ----------------------------------------------------------------------------------------
def test_rows_without_an_id_beside_rows_with_one_are_all_counted(tmp_path: Path, send_log) -> None:
    """ESP events (with ids) merged with shop orders (without): every order is a conversion."""
    path, log = send_log
    buyers = _ids(log, 58) + _ids(log, 0)
    rows = [{"event_id": f"sg{i}", "customer_id": c, "event_type": "click", "time": T0 + i, "revenue": None}
            for i, c in enumerate(_ids(log, 40))]
    rows += [{"event_id": None, "customer_id": c, "event_type": "conversion", "time": T0 + 1000 + i,
              "revenue": 100 + i + 0.29} for i, c in enumerate(buyers)]
    file = write_table(pd.DataFrame(rows), tmp_path / "merged.csv")
    result = ingest_events(tmp_path / "r.sqlite", path, file)
    assert (result.added, result.duplicates) == (98, 0)
    assert _counts(tmp_path / "r.sqlite", "conversion") == (58, round(sum(100 + i + 0.29 for i in range(58)), 2))
    assert _counts(tmp_path / "r.sqlite", "click")[0] == 40


def test_per_type_files_that_number_their_rows_from_one_lose_nothing(tmp_path: Path, send_log) -> None:
    """An Opens file and two Clicks files, each numbering its rows 1...N: no click is a 'duplicate'."""
    path, log = send_log
    people = _ids(log, 60)
    files = {"opens.csv": ("open", people[:50]), "clicks-week1.csv": ("click", people[:20]),
             "clicks-week2.csv": ("click", people[20:45])}
    db = tmp_path / "r.sqlite"
    for name, (kind, who) in files.items():
        frame = pd.DataFrame({"id": range(1, len(who) + 1), "customer_id": who,
                              "time": [T0 + 60 * i + len(name) for i in range(len(who))]})
        result = ingest_events(db, path, write_table(frame, tmp_path / name), default_event_type=kind)
        assert result.added == len(who) and result.duplicates == 0
    assert _counts(db, "open")[0] == 50 and _counts(db, "click")[0] == 45
    week1 = ingest_events(db, path, tmp_path / "clicks-week1.csv", default_event_type="click")
    assert (week1.added, week1.duplicates) == (0, 20)  # re-ingesting still adds nothing


def test_upper_cased_ids_match_a_send_log_whose_ids_are_one_case(tmp_path: Path, send_log) -> None:
    _, log = send_log
    lower = log.assign(customer_id=log["customer_id"].str.replace("C", "cust-", regex=False))
    write_table(lower, tmp_path / "lower.jsonl")
    who = lower.loc[lower["arm"] == "segmented", "customer_id"].head(30)
    events = pd.DataFrame({"customer_id": who.str.upper(), "event_type": "click", "time": T0})
    result = ingest_events(tmp_path / "r.sqlite", tmp_path / "lower.jsonl", write_table(events, tmp_path / "e.csv"))
    assert result.unknown_customer_events == 0 and "without regard to case" in result.summary()
    assert _counts(tmp_path / "r.sqlite", "click")[0] == 30
    assert set(ResultsStore(tmp_path / "r.sqlite").events(CONFIG.name)["customer_id"]) == set(who)  # log's spelling


def test_ids_with_invisible_characters_and_zero_fractions_match(tmp_path: Path, send_log) -> None:
    """A zero-width space in the export; a CSV send log whose numeric ids were written as 6936.0."""
    _, log = send_log
    numeric = log.assign(customer_id=[f"{6900 + i}.0" for i in range(len(log))])
    write_table(numeric, tmp_path / "sendlog.csv")
    who = [f"{6900 + i}" for i in range(len(log)) if numeric["arm"].iloc[i] == "segmented"][:25]
    events = pd.DataFrame({"customer_id": [f"\u200b{c}\u200d" if i % 2 else c for i, c in enumerate(who)],
                           "event_type": "open", "time": T0})
    result = ingest_events(tmp_path / "r.sqlite", tmp_path / "sendlog.csv", write_table(events, tmp_path / "e.csv"))
    assert result.unknown_customer_events == 0
    stored = ResultsStore(tmp_path / "r.sqlite")
    assert set(stored.sends(CONFIG.name)["customer_id"]) == {f"{6900 + i}" for i in range(len(log))}
    assert _counts(tmp_path / "r.sqlite", "open")[0] == 25


# --- event types --------------------------------------------------------------------------------
def test_klaviyo_ordered_product_lines_are_not_conversions(tmp_path: Path, send_log) -> None:
    path, log = send_log
    rows = []
    for i, c in enumerate(_ids(log, 12)):
        items = [10.5, 20.25, 5.0][: 1 + i % 3]
        rows.append({"customer_id": c, "metric_name": "Placed Order", "timestamp": T0 + i, "$value": sum(items)})
        rows += [{"customer_id": c, "metric_name": "Ordered Product", "timestamp": T0 + i, "$value": v} for v in items]
    result = ingest_events(tmp_path / "r.sqlite", path, write_table(pd.DataFrame(rows), tmp_path / "klaviyo.csv"))
    assert result.skipped == {"Ordered Product": 24}
    assert _counts(tmp_path / "r.sqlite", "conversion") == (12, round(sum(r["$value"] for r in rows
                                                                           if r["metric_name"] == "Placed Order"), 2))


def test_mailgun_permanent_failures_are_bounces_and_temporary_ones_are_skipped(tmp_path: Path, send_log) -> None:
    path, log = send_log
    who = _ids(log, 10)
    items = [{"id": f"f{i}", "event": "failed", "severity": "permanent" if i < 6 else "temporary",
              "timestamp": T0 + i + 0.5, "recipient": f"{c}@example.com", "user-variables": {"customer_id": c}}
             for i, c in enumerate(who)]
    file = tmp_path / "mailgun.json"
    file.write_text(json.dumps({"items": items, "paging": {"next": "https://api.mailgun.net/v3/x/events/2"}}),
                    encoding="utf-8")
    result = ingest_events(tmp_path / "r.sqlite", path, file)
    assert result.mapping["profile"] == "mailgun" and result.skipped == {"failed (temporary)": 4}
    assert _counts(tmp_path / "r.sqlite", "bounce")[0] == 6


def test_complaints_are_stored_and_reported(tmp_path: Path, send_log) -> None:
    path, log = send_log
    who = _ids(log, 7)
    rows = [{"email": f"{c}@example.com", "timestamp": T0 + i, "event": "spamreport", "sg_event_id": f"s{i}",
             "customer_id": c} for i, c in enumerate(who)]
    file = tmp_path / "sendgrid.json"
    file.write_text(json.dumps(rows), encoding="utf-8")  # the webhook's JSON array
    assert ingest_events(tmp_path / "r.sqlite", path, file).added == 7
    report = experiment_report(tmp_path / "r.sqlite", CONFIG.name, metric="complaint", min_n=1)
    assert report["overall"]["arms"]["segmented"]["events"] == 7


# --- columns and values ---------------------------------------------------------------------------
def test_a_revenue_column_first_seen_after_ten_thousand_lines_is_read(tmp_path: Path, send_log) -> None:
    path, log = send_log
    who = _ids(log, 100)
    lines = [{"customer_id": who[i % 100], "event_type": "open", "time": T0 + i} for i in range(10_050)]
    lines += [{"customer_id": c, "event_type": "conversion", "time": T0 + 20_000 + i, "revenue": 9.99}
              for i, c in enumerate(who[:30])]
    file = tmp_path / "late.jsonl"
    file.write_text("\n".join(json.dumps(r) for r in lines) + "\n", encoding="utf-8")
    result = ingest_events(tmp_path / "r.sqlite", path, file)
    assert result.mapping["columns"]["revenue"] == "revenue"
    assert _counts(tmp_path / "r.sqlite", "conversion") == (30, round(30 * 9.99, 2))


def test_revenue_written_as_people_write_it_keeps_every_conversion(tmp_path: Path, send_log) -> None:
    path, log = send_log
    who = _ids(log, 6)
    amounts = ["$1,234.50", "12,50 €", "12.50 USD", "EUR 7.25", "twelve", "19.9"]
    rows = [{"customer_id": c, "event_type": "purchase", "time": T0 + i, "revenue": a}
            for i, (c, a) in enumerate(zip(who, amounts))]
    result = ingest_events(tmp_path / "r.sqlite", path, write_table(pd.DataFrame(rows), tmp_path / "shop.csv"))
    assert result.bad == 0 and result.revenue_missing == 1
    assert result.revenue_missing_rows[0][0] == 6 and "'twelve'" in result.revenue_missing_rows[0][1]
    assert _counts(tmp_path / "r.sqlite", "conversion") == (6, 1234.5 + 12.5 + 12.5 + 7.25 + 19.9)


def test_a_type_column_beside_action_is_not_taken_for_the_event(tmp_path: Path, send_log) -> None:
    path, log = send_log
    who = _ids(log, 20)
    frame = pd.DataFrame({"customer_id": who, "Type": ["hard", "soft"] * 10, "Action": ["open", "click"] * 10,
                          "timestamp": [T0 + i for i in range(20)]})
    result = ingest_events(tmp_path / "r.sqlite", path, write_table(frame, tmp_path / "activity.csv"))
    assert result.mapping["columns"]["event_type"] == "Action" and result.added == 20


def test_a_cumulative_re_export_without_ids_is_not_stored_twice(tmp_path: Path, send_log) -> None:
    """Millisecond epoch times, no ids; the second export repeats the first and adds conversions."""
    path, log = send_log
    who = _ids(log, 80)
    first = [{"customer_id": c, "event": "open", "timestamp": (T0 + i) * 1000 + 123} for i, c in enumerate(who)]
    more = [{"customer_id": c, "event": "purchase", "timestamp": (T0 + 500 + i) * 1000 + 7, "revenue": "20.00"}
            for i, c in enumerate(who[:40])]
    second = [r for pair in zip(first[:40], more) for r in pair] + first[40:]  # conversions in every chunk
    db = tmp_path / "r.sqlite"
    ingest_events(db, path, write_table(pd.DataFrame(first), tmp_path / "export-1.csv"), chunk_rows=16)
    result = ingest_events(db, path, write_table(pd.DataFrame(second), tmp_path / "export-2.csv"), chunk_rows=16)
    assert (result.added, result.duplicates) == (40, 80)
    assert ResultsStore(db).count_events(CONFIG.name) == 120


# --- refusals -------------------------------------------------------------------------------------
def _ingest_cli(send_log: Path, events: Path, db: Path, *extra: str) -> list[str]:
    return ["results", "ingest", "--campaign", str(send_log), "--events", str(events), "--db", str(db),
            "--no-export", *extra]


@pytest.mark.parametrize(
    ("name", "make", "cause"),
    [
        ("emails", lambda who: pd.DataFrame({"customer_id": [f"{c.lower()}@example.com" for c in who],
                                             "event": "click", "time": T0}),
         "emails instead of ids"),
        ("date-and-time", lambda who: pd.DataFrame({"customer_id": who, "event": "open", "Date": "2025-03-01",
                                                    "Time": "10:30:00"}),
         "date and time in two columns"),
        ("excel-times", lambda who: pd.DataFrame({"customer_id": who, "event": "open", "timestamp": "1.74083E+12"}),
         "scientific notation"),
        ("wrong-type-column", lambda who: pd.DataFrame({"customer_id": who, "event_type": "hard",
                                                        "Action": "click", "time": T0}),
         "wrong column mapping"),
        ("other-campaign", lambda who: pd.DataFrame({"customer_id": [f"Z{i}" for i in range(len(who))],
                                                     "event": "click", "time": T0}),
         "customers not in this send log"),
    ],
)
def test_a_file_of_bad_or_unmatched_rows_is_refused_and_stores_nothing(tmp_path: Path, send_log, capsys, name: str,
                                                                       make, cause: str) -> None:
    path, log = send_log
    file = write_table(make(_ids(log, 40)), tmp_path / f"{name}.csv")
    db = tmp_path / "r.sqlite"
    err = _refused(_ingest_cli(path, file, db), capsys)
    assert "refused:" in err and "nothing from this file was stored" in err and cause in err, err
    assert "First:" in err
    assert ResultsStore(db).count_events(CONFIG.name) == 0
    assert run(["results", "report", "--experiment", CONFIG.name, "--db", str(db), "--min-n", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("NO DECISION: no events file has been ingested") and f"{name}.csv was refused" in text


def test_emails_in_the_id_column_name_the_platforms_customer_id_field(tmp_path: Path, send_log) -> None:
    path, log = send_log
    rows = [{"id": f"mg{i}", "event": "opened", "timestamp": T0 + i, "recipient": f"{c}@example.com",
             "user-variables": {"customer_id": f"{c.lower()}@example.com"}} for i, c in enumerate(_ids(log, 30))]
    file = tmp_path / "mailgun.jsonl"
    file.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    with pytest.raises(DataError, match="emails instead of ids") as info:
        ingest_events(tmp_path / "r.sqlite", path, file)
    assert "v:customer_id" in str(info.value)


def test_ids_that_differ_by_case_from_a_case_sensitive_send_log_are_refused(tmp_path: Path, send_log) -> None:
    _, log = send_log
    mixed = log.assign(customer_id=[f"cU{i:04d}x" for i in range(len(log))])
    write_table(mixed, tmp_path / "mixed.jsonl")
    events = pd.DataFrame({"customer_id": [f"CU{i:04d}X" for i in range(40)], "event": "click", "time": T0})
    with pytest.raises(DataError, match="differ only by case") as info:
        ingest_events(tmp_path / "r.sqlite", tmp_path / "mixed.jsonl", write_table(events, tmp_path / "e.csv"))
    assert "'CU0000X' in the file is 'cU0000x' in the send log" in str(info.value)


def test_a_few_bad_rows_are_stored_and_the_thresholds_are_configurable(tmp_path: Path, send_log, capsys) -> None:
    path, log = send_log
    who = _ids(log, 40)
    frame = pd.DataFrame({"customer_id": who, "event": ["click"] * 38 + ["teleport"] * 2, "time": T0})
    file = write_table(frame, tmp_path / "e.csv")  # 2 of 40 bad: 5%, at the threshold
    db = tmp_path / "r.sqlite"
    assert run(_ingest_cli(path, file, db)) == 0
    assert "2 bad" in capsys.readouterr().out
    frame.loc[:9, "event"] = "teleport"  # 12 of 40 bad: 30%
    write_table(frame, tmp_path / "e2.csv")
    assert "30.0%" in _refused(_ingest_cli(path, tmp_path / "e2.csv", db), capsys)
    assert run(_ingest_cli(path, tmp_path / "e2.csv", db, "--max-bad", "0.5")) == 0
    capsys.readouterr()
    report = experiment_report(db, CONFIG.name, min_n=1)
    assert report["ingest"]["blocked"] and report["overall"]["decision"] == "ingest_blocked"
    assert "e2.csv: 12 bad rows (30.0%), above the 5% threshold" in format_report(report).splitlines()[0]


# --- whole files ----------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_file_cut_inside_a_utf8_character_is_refused_with_its_byte_offset(tmp_path: Path, send_log, capsys,
                                                                            suffix: str) -> None:
    path, log = send_log
    who = _ids(log, 40)
    frame = pd.DataFrame({"customer_id": who, "event_type": "click", "time": T0, "campaign": "春季促销"})
    whole = write_table(frame, tmp_path / f"whole{suffix}").read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole[: whole.rindex("销".encode()) + 2])  # inside the last character
    db = tmp_path / "r.sqlite"
    err = _refused(_ingest_cli(path, cut, db), capsys)
    assert f"ends inside a multi-byte UTF-8 character (at byte {len(whole[: whole.rindex('销'.encode())]):,}" in err
    assert ResultsStore(db).count_events(CONFIG.name) == 0
    with pytest.raises(DataError, match="cut short"):
        ingest_events(db, path, cut, chunk_rows=5)  # small chunks: still nothing stored
    assert ResultsStore(db).count_events(CONFIG.name) == 0


def test_a_parse_error_late_in_a_file_stores_nothing_from_it(tmp_path: Path, send_log) -> None:
    path, log = send_log
    lines = ["customer_id,event_type,time"] + [f"{c},click,{T0 + i}" for i, c in enumerate(_ids(log, 40))]
    file = tmp_path / "e.csv"
    file.write_text("\n".join(lines) + '\nC000001,click,"2025-03-01\n', encoding="utf-8")  # an open quote at the end
    with pytest.raises(DataError, match="cannot be read as CSV .unexpected end of data. in the record that starts "
                                        "on line 42"):
        ingest_events(tmp_path / "r.sqlite", path, file, chunk_rows=10)
    assert ResultsStore(tmp_path / "r.sqlite").count_events(CONFIG.name) == 0


def test_json_arrays_and_pages_are_read_and_other_shapes_say_what_is_accepted(tmp_path: Path, send_log) -> None:
    path, log = send_log
    rows = [{"customer_id": c, "event_type": "open", "time": T0 + i} for i, c in enumerate(_ids(log, 9))]
    array = tmp_path / "array.json"
    array.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    assert ingest_events(tmp_path / "r.sqlite", path, array).added == 9
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"results": rows[:4], "next": None}), encoding="utf-8")
    assert ingest_events(tmp_path / "r2.sqlite", path, page).added == 4
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"total": 9, "rows": [[1, 2]]}), encoding="utf-8")
    with pytest.raises(DataError) as info:
        ingest_events(tmp_path / "r3.sqlite", path, odd)
    assert "one JSON object per line (NDJSON)" in str(info.value) and 'Mailgun {"items"' in str(info.value)


def test_a_directory_is_named_as_one(tmp_path: Path, send_log) -> None:
    path, _ = send_log
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "Opens.csv").write_text("SubscriberKey,EventDate\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"is a directory, not a file \(it holds Opens.csv\)"):
        ingest_events(tmp_path / "r.sqlite", path, folder)


# --- the report -----------------------------------------------------------------------------------
def test_a_report_over_an_unfinished_ingest_gives_no_decision(tmp_path: Path, send_log) -> None:
    path, log = send_log
    events = pd.DataFrame({"customer_id": _ids(log, 30), "event_type": "click", "time": T0})
    file = write_table(events, tmp_path / "e.csv")
    db = tmp_path / "r.sqlite"
    ingest_events(db, path, file)
    store = ResultsStore(db)
    store.start_ingest(CONFIG.name, path, tmp_path / "later.csv")  # as a run killed mid-way leaves it
    report = experiment_report(db, CONFIG.name, min_n=1)
    assert report["ingest"]["unfinished"] == 1
    assert {e["decision"] for e in [*report["segments"].values(), report["overall"]]} == {"ingest_blocked"}
    first = format_report(report).splitlines()[0]
    assert first.startswith("NO DECISION: the ingest of later.csv") and "did not finish" in first
    ingest_events(db, path, write_table(events, tmp_path / "later.csv"))  # the re-run finishes it
    assert experiment_report(db, CONFIG.name, min_n=1)["overall"]["decision"] != "ingest_blocked"


# --- databases written before scoped keys ---------------------------------------------------------
def test_a_schema_2_database_is_rekeyed_so_re_ingesting_its_files_adds_nothing(tmp_path: Path, send_log) -> None:
    """Old keys: ``id:<id>`` unscoped, and a click keyed with revenue 'nan' beside the same click keyed
    without (stored twice). Migration 3 re-derives every key; the duplicate goes; old files add nothing."""
    class SchemaTwo(ResultsStore):  # as main wrote results databases before keys were scoped
        MIGRATIONS = STORE_MIGRATIONS[:2]

    path, log = send_log
    who = _ids(log, 3)
    db = tmp_path / "old.sqlite"
    old = SchemaTwo(db)
    old.record_sends(read_send_log(path))
    time = "2025-03-01T11:00:00.000000Z"

    def h(text: str) -> str:
        return "h:" + hashlib.blake2b(text.encode(), digest_size=16).hexdigest()

    rows = [("id:e1", "e1", who[0], "click"), (h(f"{who[1]}|click|{time}|"), None, who[1], "click"),
            (h(f"{who[1]}|click|{time}|nan"), None, who[1], "click")]
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO events (experiment, event_key, event_id, customer_id, event_type, time, revenue,"
                         " source, line, ingested_at) VALUES (?, ?, ?, ?, ?, ?, NULL, 'old.csv', 2, ?)",
                         [(CONFIG.name, k, i, c, t, time, time) for k, i, c, t in rows])
    store = ResultsStore(db)  # migrates
    assert store.schema_version() == 3 and store.count_events(CONFIG.name) == 2
    keys = sorted(store.events(CONFIG.name)["event_key"])
    assert keys == sorted(["id:generic:click:e1", h(f"{who[1]}|click|{time}|")])
    file = write_table(pd.DataFrame({"event_id": ["e1", None], "customer_id": who[:2], "event_type": "click",
                                     "time": time}), tmp_path / "old.csv")
    assert ingest_events(db, path, file).added == 0
