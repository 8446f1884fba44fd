"""Every supported platform's export, in each documented layout, ingests to the exact counts of its truth.

The truth (``tests/fixtures/platform_exports.py``) is drawn once per send log; each platform's files
are written from it with the noise real exports carry, ingested, and every count and every revenue
per segment, arm and metric is compared with the truth by exact equality (revenue in cents). A
second ingest of the same files must add nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from genemail.experiments import ExperimentConfig, ResultsStore, ingest_events
from tests.fixtures.experiments import build_send_log
from tests.fixtures.platform_exports import PLATFORMS, expected_counts, make_truth, stored_counts

CONFIG = ExperimentConfig("platforms", control=0.3, holdout=0.15, seed=11)
CASES = [(name, layout) for name, (_, layouts, _) in PLATFORMS.items() for layout in layouts]


@pytest.fixture(scope="module")
def truth(tmp_path_factory: pytest.TempPathFactory):
    """A send log of 240 customers in three segments, and its events."""
    folder = tmp_path_factory.mktemp("platforms")
    log = build_send_log(folder / "sendlog.csv", {"HighValue_Active": 90, "Parent_Active": 90, "Dormant": 60},
                         CONFIG)
    return folder / "sendlog.csv", log, make_truth(log, seed=4)


@pytest.mark.parametrize(("platform", "layout"), CASES, ids=[f"{p}-{lay}" for p, lay in CASES])
def test_each_platform_export_ingests_to_the_exact_counts(truth, tmp_path: Path, platform: str, layout: str) -> None:
    send_log, log, events = truth
    writer, _, metrics = PLATFORMS[platform]
    (tmp_path / "export").mkdir()
    files = writer(events, tmp_path / "export", layout)
    db = tmp_path / "r.sqlite"
    profiles = set()
    for path, event_type in files:
        result = ingest_events(db, send_log, path, default_event_type=event_type)
        assert result.bad == 0 and result.unknown_customer_events == 0, result.summary()
        profiles.add(result.mapping["profile"])
    assert platform in profiles  # recognized as the platform's own layout, not a generic file
    store = ResultsStore(db)
    want = expected_counts(log, events, metrics)
    assert sum(count for count, _ in want.values()) > 100 and want  # the truth is not trivially small
    assert stored_counts(store, CONFIG.name, metrics) == want
    stored = store.count_events(CONFIG.name)
    for path, event_type in files:
        again = ingest_events(db, send_log, path, default_event_type=event_type)
        assert again.added == 0, f"{path.name}: {again.summary()}"
    assert store.count_events(CONFIG.name) == stored


def test_the_platform_files_exercise_what_goes_wrong(truth, tmp_path: Path) -> None:
    """The exports hold what used to break counts: line items, retries, temporary failures, no ids."""
    send_log, log, events = truth
    db = tmp_path / "r.sqlite"
    results = {}
    for platform, layout in [("klaviyo", "page"), ("sendgrid", "json-array"), ("mailgun", "pages-array")]:
        writer = PLATFORMS[platform][0]
        (tmp_path / platform).mkdir()
        for path, event_type in writer(events, tmp_path / platform, layout):
            results[(platform, path.name)] = ingest_events(db, send_log, path, default_event_type=event_type)
    klaviyo = results[("klaviyo", "klaviyo.json")]
    items = sum(len(e.items) for e in events)
    assert klaviyo.skipped == {"Ordered Product": items} and items > 50
    sendgrid = results[("sendgrid", "sendgrid.json")]
    assert sendgrid.duplicates > 0 and sendgrid.skipped["processed"] > 0
    mailgun = results[("mailgun", "mailgun-pages.json")]
    assert mailgun.skipped["failed (temporary)"] > 0 and mailgun.mapping["qualifier"] == "severity"
    bounces = sum(e.kind == "bounce" for e in events)
    stored = ResultsStore(db).events(CONFIG.name)
    assert ((stored["source"] == "mailgun-pages.json") & (stored["event_type"] == "bounce")).sum() == bounces > 0
