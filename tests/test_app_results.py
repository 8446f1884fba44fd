"""The app's Results tab through ``gradio_client``: ingest a send log and its events (twice), then the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from genemail.experiments import ExperimentConfig, simulate_events, write_events
from genemail.taxonomy import DORMANT, HIGHVALUE_ACTIVE
from tests.fixtures.experiments import build_send_log

pytestmark = pytest.mark.integration

TRUTH = {"default": {"control": 0.03, "segmented": 0.03}, HIGHVALUE_ACTIVE: {"control": 0.03, "segmented": 0.09}}


@pytest.fixture
def client(app_url: str):
    from tests.fixtures.app import app_client

    return app_client(app_url)


def test_results_tab_ingests_once_and_reports_per_segment_and_arm(client, app_service, tmp_path: Path) -> None:
    from gradio_client import handle_file

    plan = ExperimentConfig(name="app-results-test", control=0.3, holdout=0.1, seed=1)
    log = build_send_log(tmp_path / "sendlog.jsonl", {HIGHVALUE_ACTIVE: 2500, DORMANT: 200}, plan)
    events = write_events(simulate_events(tmp_path / "sendlog.jsonl", TRUTH, seed=3), tmp_path / "events.csv")

    status, experiments = client.predict(handle_file(str(tmp_path / "sendlog.jsonl")), handle_file(str(events)),
                                         api_name="/ingest")
    assert "app-results-test" in status and " 0 duplicates" in status
    again, _ = client.predict(handle_file(str(tmp_path / "sendlog.jsonl")), handle_file(str(events)),
                              api_name="/ingest")
    assert " 0 added" in again  # the second ingest adds nothing

    summary, table, rates_plot, over_time, details, stats = client.predict("app-results-test", "click",
                                                                            api_name="/results")
    table, rates_plot, over_time, stats = (x["value"] for x in (table, rates_plot, over_time, stats))
    assert "app-results-test" in summary and rates_plot and over_time
    high, dormant = app_service.segment_name(HIGHVALUE_ACTIVE, "en"), app_service.segment_name(DORMANT, "en")
    rows = {(r[0], r[1]): r for r in table["data"]}
    headers = table["headers"]
    seg = dict(zip(headers, rows[(high, "segmented email")]))
    ctl = dict(zip(headers, rows[(high, "one-size-fits-all email")]))
    assert seg["recipients"] + ctl["recipients"] + dict(zip(headers, rows[(high, "no email")]))["recipients"] == \
        int((log["segment" if "segment" in log else "l2"] == HIGHVALUE_ACTIVE).sum())
    assert seg["decision"] == "the segmented email wins"  # a true lift of +6 points on ~1,500 vs ~750 recipients
    assert dict(zip(headers, rows[(dormant, "segmented email")]))["decision"] == "too few customers yet to decide"
    assert ("Overall", "segmented email") in rows
    # Decisions as sentences with their numbers; the statistics behind them in the Advanced fold.
    assert f"**{high}**: segmented emails got" in summary and "the segmented email wins" in summary
    assert f"**{dormant}**:" in summary and "per arm needed" in summary
    assert "not_enough_data" not in summary and "ci_low" not in summary and "_" not in summary.replace(
        "app-results-test", "")
    assert {r[0]: r[3] for r in stats["data"]}[HIGHVALUE_ACTIVE] == "significant_win"


def test_results_tab_errors_are_messages(client) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="Experiment: none picked"):
        client.predict(None, "click", api_name="/results")
    with pytest.raises(AppError, match="send log") as err:
        client.predict(None, None, api_name="/ingest")
    assert "Traceback" not in str(err.value)
