"""A campaign run as an experiment from the app, its events ingested, the report read after a reload."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from genemail.experiments import simulate_events, write_events

pytestmark = pytest.mark.integration

TRUTH = {"default": {"control": 0.05, "segmented": 0.10}}


def test_campaign_as_an_experiment_then_results_after_a_reload(app_url: str, app_service, tmp_path: Path) -> None:
    from gradio_client import handle_file

    from tests.fixtures.app import app_client

    client = app_client(app_url)
    status, counts, jsonl, csv, preview = client.predict(None, 60, 8, "app-exp-1", 30, 10, 3, api_name="/campaign")
    log = Path(jsonl["value"])
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    arms = {arm: sum(r["arm"] == arm for r in rows) for arm in ("segmented", "control", "holdout")}
    assert len(rows) == 60 and all(r["experiment"] == "app-exp-1" for r in rows) and all(arms.values())
    assert "Experiment **app-exp-1**" in status and f"{arms['holdout']} got the no email (holdout)" in status
    assert not any(r.get("email") for r in rows if r["arm"] == "holdout")  # the holdout gets nothing
    # The same name and seed give every customer the same arm again.
    _, _, again, _, _ = client.predict(None, 60, 8, "app-exp-1", 30, 10, 3, api_name="/campaign")
    again_rows = [json.loads(x) for x in Path(again["value"]).read_text(encoding="utf-8").splitlines()]
    assert [r["arm"] for r in again_rows] == [r["arm"] for r in rows]

    events = write_events(simulate_events(log, TRUTH, seed=5), tmp_path / "events.csv")
    ingest_status, experiments = client.predict(handle_file(str(log)), handle_file(str(events)), api_name="/ingest")
    assert "app-exp-1" in ingest_status and "/tmp/" not in ingest_status and tempfile.gettempdir() not in ingest_status

    reloaded = app_client(app_url)  # a new session: what a page reload gets
    listed = reloaded.predict(api_name="/experiments")
    assert "app-exp-1" in [c[0] for c in listed["choices"]]
    summary, table, *_ = reloaded.predict("app-exp-1", "click", api_name="/results")
    table = table["value"]
    head = table["headers"]
    by_arm: dict[str, int] = {}
    for row in table["data"]:
        record = dict(zip(head, row))
        if record["segment"] == "Overall":
            continue
        checked = [record[c] for c in ("check: first draft", "check: later draft", "check: template")]
        if record["arm"] == "no email":
            assert checked == ["", "", ""]  # no email, nothing checked
        elif record["recipients"]:
            assert sum(checked) == record["recipients"]  # every email sent has its quality-check verdict
            by_arm[record["arm"]] = by_arm.get(record["arm"], 0) + sum(checked)
    assert by_arm == {"segmented email": arms["segmented"], "one-size-fits-all email": arms["control"]}
    assert "too few customers yet to decide" in summary  # 60 customers: far below the minimum per arm
