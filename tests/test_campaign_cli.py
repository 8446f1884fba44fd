"""`genemail campaign` on a small file: from a pinned release on the local Hub, and from a local folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genemail.cli import run


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.integration
def test_campaign_from_a_release_writes_one_pinned_row_per_customer(app_release, synthetic_raw_csv, customers,
                                                                    tmp_path) -> None:
    out = tmp_path / "emails.jsonl"
    code = run(["campaign", "--release", app_release.repo_id, "--revision", "v1", "--data", str(synthetic_raw_csv),
                "--out", str(out), "--max-new-tokens", "6", "--batch-size", "32"])
    assert code == 0
    rows = _rows(out)
    assert sorted(r["customer_id"] for r in rows) == sorted(customers["customer_id"])
    pinned = app_release.adapter_shas["v1"]
    for row in rows:
        assert row["release_revision"] == "v1"
        assert row["release_sha"] == app_release.release_shas["v1"]
        assert row["adapter_sha"] == pinned[row["adapter"]]  # the pinned commit, not a branch head
        assert row["l2"] and row["strategy"]
    assert {r["l2"] for r in rows} <= {"HighValue_Active", "Parent_Active", "Regular_Active", "Need_Reengagement",
                                       "Dormant", "Cold_Start"}


@pytest.mark.integration
def test_campaign_from_a_local_artifacts_folder(app_release, synthetic_raw_csv, tmp_path) -> None:
    out = tmp_path / "local.jsonl"
    code = run(["campaign", "--artifacts", str(app_release.artifacts), "--data", str(synthetic_raw_csv),
                "--out", str(out), "--max-new-tokens", "4", "--batch-size", "64"])
    assert code == 0
    rows = _rows(out)
    assert rows and all(r["release_revision"] is None and r["adapter"] for r in rows)


def test_campaign_needs_exactly_one_source(synthetic_raw_csv, tmp_path, capsys) -> None:
    assert run(["campaign", "--data", str(synthetic_raw_csv), "--out", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "--artifacts or --release" in err and "Traceback" not in err
    assert not (tmp_path / "x.jsonl").exists()


def test_campaign_reports_a_missing_artifacts_folder(synthetic_raw_csv, tmp_path, capsys) -> None:
    code = run(["campaign", "--artifacts", str(tmp_path / "nowhere"), "--data", str(synthetic_raw_csv),
                "--out", str(tmp_path / "x.jsonl")])
    assert code == 2
    assert "make train" in capsys.readouterr().err


@pytest.mark.integration
def test_the_experiment_loop_through_the_commands(app_release, tmp_path, capsys) -> None:
    """campaign --experiment on 3,000 synthetic customers -> simulate a known lift -> ingest twice -> report."""
    import yaml

    customers, log, events, db = (tmp_path / n for n in ("customers.csv", "sendlog.jsonl", "events.csv", "r.sqlite"))
    assert run(["data", "synth", "--n", "3000", "--seed", "5", "--out", str(customers)]) == 0
    assert run(["campaign", "--release", app_release.repo_id, "--revision", "v1", "--data", str(customers),
                "--out", str(log), "--experiment", "cli-loop", "--control", "0.3", "--holdout", "0.1",
                "--max-new-tokens", "2", "--batch-size", "64"]) == 0
    rows = _rows(log)
    sizes = {}
    for r in rows:
        sizes[r["l2"]] = sizes.get(r["l2"], 0) + 1
    big, small = max(sizes, key=sizes.get), min(sizes, key=sizes.get)
    truth = tmp_path / "truth.yaml"
    truth.write_text(yaml.safe_dump({"default": {"control": 0.05, "segmented": 0.05},
                                     big: {"control": 0.04, "segmented": 0.12}}), encoding="utf-8")
    assert run(["results", "simulate", "--campaign", str(log), "--truth", str(truth), "--seed", "2",
                "--out", str(events)]) == 0
    assert run(["results", "ingest", "--campaign", str(log), "--events", str(events), "--db", str(db),
                "--no-export"]) == 0
    capsys.readouterr()
    assert run(["results", "ingest", "--campaign", str(log), "--events", str(events), "--db", str(db),
                "--no-export"]) == 0
    assert " 0 added" in capsys.readouterr().out  # the second ingest adds nothing
    report_file = tmp_path / "report.json"
    assert run(["results", "report", "--experiment", "cli-loop", "--db", str(db), "--min-n", "200",
                "--json", str(report_file)]) == 0
    report = json.loads(report_file.read_text(encoding="utf-8"))
    assert {"experiment", "metric", "segments", "overall"} <= set(report)
    entry = report["segments"][big]
    assert set(entry) >= {"arms", "lift", "p_win", "p_value_adj", "decision"}
    assert {"n", "events", "rate", "ci"} <= set(entry["arms"]["segmented"])
    if min(entry["arms"][a]["n"] for a in ("segmented", "control")) >= 200:
        assert entry["decision"] == "significant_win"
        low, high = entry["lift"]["ci"]
        assert low <= 0.08 <= high  # the interval covers the true lift
    for name, other in report["segments"].items():
        if name != big:
            assert other["decision"] != "significant_win"  # no true lift anywhere else
    if sizes[small] < 200:
        assert report["segments"][small]["decision"] == "not_enough_data"
