"""`genemail results ...` end to end: send log -> simulated events -> ingest twice -> report; bad usage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genemail.cli import run
from genemail.experiments import ResultsStore
from tests.fixtures.experiments import SESSION_CONFIG

# A large true lift in one large segment, none in the other, and a small segment (Dormant: 300).
TRUTH_YAML = """\
default: {control: 0.05, segmented: 0.05}
HighValue_Active:
  control: 0.04
  segmented: 0.09
  holdout: 0.0
  conversion: {control: 0.010, segmented: 0.020, holdout: 0.005}
  revenue: 80
Parent_Active: {control: 0.05, segmented: 0.05}
"""


@pytest.mark.integration
def test_the_whole_loop_through_the_cli(experiment_send_log: Path, tmp_path: Path, capsys) -> None:
    truth = tmp_path / "truth.yaml"
    truth.write_text(TRUTH_YAML, encoding="utf-8")
    events, db, out = tmp_path / "events.csv", tmp_path / "results.sqlite", tmp_path / "report.json"
    assert run(["results", "simulate", "--campaign", str(experiment_send_log), "--truth", str(truth),
                "--seed", "3", "--out", str(events)]) == 0
    assert "events for 6300 customers" in capsys.readouterr().out

    assert run(["results", "ingest", "--campaign", str(experiment_send_log), "--events", str(events),
                "--db", str(db), "--no-export"]) == 0
    first = capsys.readouterr()
    stored = ResultsStore(db).count_events()
    assert f"{stored} added, 0 duplicates" in first.out and "mapped as generic" in first.out
    assert "committed:" in first.err  # progress: what is acknowledged is on disk

    assert run(["results", "ingest", "--campaign", str(experiment_send_log), "--events", str(events),
                "--db", str(db), "--no-export"]) == 0
    assert f"0 added, {stored} duplicates" in capsys.readouterr().out
    assert ResultsStore(db).count_events() == stored  # the second ingest added nothing

    assert run(["results", "report", "--experiment", SESSION_CONFIG.name, "--db", str(db), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    report = json.loads(out.read_text(encoding="utf-8"))
    assert {"experiment", "metric", "segments", "overall"} <= set(report) and report["metric"] == "click"
    for entry in [*report["segments"].values(), report["overall"]]:
        assert {"arms", "lift", "lift_vs_holdout", "p_win", "p_value_adj", "decision"} <= set(entry)
        assert {"n", "events", "rate", "ci"} <= set(entry["arms"]["segmented"])
    big, flat, small = (report["segments"][s] for s in ("HighValue_Active", "Parent_Active", "Dormant"))
    assert big["decision"] == "significant_win" and big["p_win"] > 0.99
    assert big["lift"]["ci"][0] <= 0.05 <= big["lift"]["ci"][1]  # the interval covers the true lift
    assert big["lift_vs_holdout"]["ci"][0] <= 0.09 <= big["lift_vs_holdout"]["ci"][1]
    assert flat["decision"] != "significant_win" and flat["lift"]["ci"][0] <= 0 <= flat["lift"]["ci"][1]
    assert small["decision"] == "not_enough_data"
    assert "HighValue_Active: click" in text and "→ significant_win" in text and "not_enough_data" in text

    assert run(["results", "report", "--experiment", SESSION_CONFIG.name, "--db", str(db),
                "--metric", "conversion", "--min-n", "100"]) == 0
    assert "conversion" in capsys.readouterr().out
    assert run(["results", "list", "--db", str(db)]) == 0
    assert capsys.readouterr().out.strip() == SESSION_CONFIG.name


def test_plan_prints_recipients_per_arm_and_campaign_size(capsys) -> None:
    assert run(["results", "plan", "--rate", "0.04", "--lift", "0.01", "--analysis", "fixed"]) == 0
    out = capsys.readouterr().out
    assert "fixed horizon (read once at this size, --analysis fixed): 6,726" in out and "4.00% -> 5.00%" in out
    assert "Plan for 6,726 recipients per arm (fixed analysis)" in out and "Assumes:" in out
    assert run(["results", "plan", "--rate", "0.04", "--lift", "0.01", "--control", "0.2", "--holdout", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "always-valid (read as often as you like, the default): 12,880 (1.91 x" in out
    assert "Plan for 12,880 recipients per arm (sequential analysis); run the report with --planned-n 12880" in out
    assert "64,400 customers" in out  # 12,880 / 0.2
    assert run(["results", "plan", "--rate", "0.04", "--lift", "0.01", "--variance-reduction", "0.25"]) == 0
    assert "Plan for 9,660 recipients per arm" in capsys.readouterr().out  # 12,880 x 0.75


def test_plan_never_recommends_less_than_the_reports_minimum(capsys) -> None:
    # 3% -> 8% needs 310 per arm at a fixed horizon: below the report's 500, so every such experiment
    # would end not_enough_data; the plan says so and plans for the minimum.
    assert run(["results", "plan", "--rate", "0.03", "--lift", "0.05", "--analysis", "fixed"]) == 0
    out = capsys.readouterr().out
    assert ": 310" in out and "raised to the report's minimum of 500 per arm" in out
    assert "Plan for 500 recipients per arm" in out


@pytest.mark.parametrize(
    "argv",
    [["results", "report"],                                              # --experiment missing
     ["results", "plan", "--rate", "abc", "--lift", "0.01"],             # not a number
     ["results", "report", "--experiment", "x", "--min-n", "0"],         # below the minimum
     ["results", "report", "--experiment", "x", "--as-of", "yesterday"],  # not a time
     ["results", "report", "--experiment", "x", "--analysis", "bayes"],   # not an analysis
     ["results", "report", "--experiment", "x", "--guardrail-margin", "unsubscribe"],  # no margin
     ["results", "ingest", "--campaign", "a.jsonl"],                     # --events missing
     ["results", "nonsense"]],
)
def test_bad_usage_exits_2_without_a_traceback(argv: list[str], capsys) -> None:
    assert run(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out


def _error(argv: list[str], capsys) -> str:
    assert run(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return captured.err


def test_bad_files_give_a_clear_message_and_exit_2(experiment_send_log: Path, tmp_path: Path, capsys) -> None:
    db = str(tmp_path / "r.sqlite")
    err = _error(["results", "ingest", "--campaign", str(experiment_send_log), "--events", str(tmp_path / "no.csv"),
                  "--db", db], capsys)
    assert "no.csv: file not found" in err and "Fix:" in err
    bad_log = tmp_path / "log.jsonl"
    bad_log.write_text('{"experiment": "x", "customer_id": "1", "l2": "Dormant", "arm": "treatment", '
                       '"sent_at": "2025-03-01T09:00:00Z"}\n', encoding="utf-8")
    (tmp_path / "e.csv").write_text("customer_id,event_type,time\n1,click,2025-03-01T10:00:00Z\n", encoding="utf-8")
    err = _error(["results", "ingest", "--campaign", str(bad_log), "--events", str(tmp_path / "e.csv"), "--db", db],
                 capsys)
    assert "log.jsonl, line 1, field arm" in err and "'treatment' is unknown" in err
    truth = tmp_path / "truth.yaml"
    truth.write_text("Dormant: {control: 2, segmented: 0.1}\n", encoding="utf-8")
    err = _error(["results", "simulate", "--campaign", str(experiment_send_log), "--truth", str(truth),
                  "--out", str(tmp_path / "ev.csv")], capsys)
    assert "key Dormant.control" in err and "not a probability" in err
    err = _error(["results", "simulate", "--campaign", str(experiment_send_log), "--truth", str(truth).replace(
        "truth", "nothing"), "--out", str(tmp_path / "ev.txt.gz")], capsys)
    assert "file not found" in err
    err = _error(["results", "report", "--experiment", "x", "--db", db, "--metric", "clicks"], capsys)
    assert "metric='clicks'" in err
    err = _error(["results", "plan", "--rate", "0.04", "--lift", "0.97"], capsys)
    assert "lift=0.97" in err
    err = _error(["results", "export", "--db", db], capsys)
    assert "GENEMAIL_RESULTS_REPO" in err
