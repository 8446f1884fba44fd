"""genemail.clock writes every stored time form exactly as the old writers did, in UTC, and the readers take it back."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from genemail import clock
from genemail.experiments.times import parse_sent_at, parse_times, to_iso
from genemail.hub.manifest import ArtifactPin, ReleaseManifest
from genemail.ratings import Rating, new_submission_id
from genemail.segmentation.drift import parse_utc
from genemail.sqlite import utc_now_iso

MOMENT = datetime(2025, 3, 1, 10, 0, 7, 123456, tzinfo=timezone.utc)
# The same instant written in Shanghai time: the text must not depend on the zone it came in.
SHANGHAI = MOMENT.astimezone(timezone(timedelta(hours=8)))
EXPECTED = {
    "seconds": "2025-03-01T10:00:07Z",
    "milliseconds": "2025-03-01T10:00:07.123+00:00",
    "microseconds": "2025-03-01T10:00:07.123456Z",
    "display": "2025-03-01 10:00:07 UTC",
}
PATTERNS = {
    "seconds": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
    "milliseconds": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00",
    "microseconds": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z",
    "display": r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC",
}


@pytest.mark.parametrize("form", clock.FORMS)
def test_each_form_is_written_exactly(form: str) -> None:
    assert clock.format_utc(MOMENT, form) == EXPECTED[form]
    assert clock.format_utc(SHANGHAI, form) == EXPECTED[form]


def test_the_forms_are_the_ones_the_old_writers_produced() -> None:
    # The expressions each module used before the clock existed, byte for byte.
    old = {
        "seconds": MOMENT.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ"),  # hub/manifest.py, segmentation
        "milliseconds": MOMENT.isoformat(timespec="milliseconds"),  # sqlite.py (ratings, labels)
        "microseconds": MOMENT.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),  # campaign.py, experiments/times.py
        "display": MOMENT.strftime("%Y-%m-%d %H:%M:%S UTC"),  # loading.py
    }
    assert {form: clock.format_utc(MOMENT, form) for form in clock.FORMS} == old


def test_seconds_is_the_default_form() -> None:
    assert clock.format_utc(MOMENT) == EXPECTED["seconds"]
    assert re.fullmatch(PATTERNS["seconds"], clock.utc_now())


def test_a_whole_second_keeps_its_fraction_digits() -> None:
    # Fixed width is what lets SQLite compare stored times as text.
    whole = MOMENT.replace(microsecond=0)
    assert clock.format_utc(whole, "microseconds") == "2025-03-01T10:00:07.000000Z"
    assert clock.format_utc(whole, "milliseconds") == "2025-03-01T10:00:07.000+00:00"


def test_naive_times_and_unknown_forms_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        clock.format_utc(MOMENT.replace(tzinfo=None))
    with pytest.raises(ValueError, match="form='iso'"):
        clock.format_utc(MOMENT, "iso")  # type: ignore[arg-type]


@pytest.mark.parametrize("form", clock.FORMS)
def test_utc_now_is_the_current_utc_time(form: str) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    text = clock.utc_now(form)
    after = datetime.now(timezone.utc)
    assert re.fullmatch(PATTERNS[form], text), text
    read = datetime.strptime(text.removesuffix(" UTC"), "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc) \
        if form == "display" else datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert before <= read <= after


def test_now_is_aware_utc() -> None:
    moment = clock.now()
    assert moment.utcoffset() == timedelta(0)
    assert abs(moment - datetime.now(timezone.utc)) < timedelta(seconds=5)


def test_folder_stamp_is_local_time_that_sorts() -> None:
    before = time.strftime(clock.FOLDER_FORMAT)
    stamp = clock.folder_stamp()
    assert re.fullmatch(r"\d{8}-\d{6}", stamp)
    assert before <= stamp <= time.strftime(clock.FOLDER_FORMAT)


# --- round trips with the readers of each stored form ----------------------------------------------
def test_seconds_round_trip_through_drift_parse_utc() -> None:
    # segmenter metrics' trained_at is read back by `genemail segment drift`.
    assert parse_utc(clock.format_utc(SHANGHAI)) == MOMENT.replace(microsecond=0)
    assert parse_utc(clock.utc_now()).utcoffset() == timedelta(0)


def test_seconds_round_trip_through_a_release_manifest() -> None:
    # A new manifest stamps itself in the seconds form, and from_json keeps the text as written.
    pin = ArtifactPin("demo/genemail-segmenter", "model", "a" * 40)
    manifest = ReleaseManifest.from_json(ReleaseManifest(namespace="demo", segmenter=pin).to_json())
    assert re.fullmatch(PATTERNS["seconds"], manifest.created_at)
    assert parse_utc(manifest.created_at) <= datetime.now(timezone.utc)


def test_microseconds_round_trip_through_the_experiment_readers() -> None:
    text = clock.format_utc(SHANGHAI, "microseconds")
    assert to_iso(SHANGHAI) == text
    assert parse_sent_at(text) == text
    assert parse_times([text, MOMENT.timestamp()]).tolist() == [text, text]
    assert parse_utc(text) == MOMENT


def test_milliseconds_round_trip_through_ratings_and_sqlite() -> None:
    text = clock.format_utc(SHANGHAI, "milliseconds")
    rating = Rating(
        submission_id=new_submission_id(), rater="r", customer_id="1", segment="Dormant",
        left_variant="segmented", right_variant="baseline", choice="A", score_segmented=4, score_baseline=2,
        release_repo="o/r", release_revision="v1", release_sha="a" * 40, adapter_sha="b" * 40,
        baseline_adapter_sha="c" * 40, created_at=text,
    )
    assert rating.created_at == text
    assert re.fullmatch(PATTERNS["milliseconds"], utc_now_iso())
    assert parse_utc(text) == MOMENT.replace(microsecond=123000)


# --- one place reads the clock -------------------------------------------------------------------------
CLOCK_READS = re.compile(r"datetime\.now\(|\.utcnow\(|time\.strftime\(")
def test_only_the_clock_module_reads_the_clock() -> None:
    root = Path(__file__).resolve().parent.parent
    readers = {
        path.relative_to(root).as_posix()
        for path in [*(root / "genemail").rglob("*.py"), *(root / "training").rglob("*.py"), root / "app.py"]
        if CLOCK_READS.search(path.read_text(encoding="utf-8"))
    }
    assert readers == {"genemail/clock.py"}, "use genemail.clock (utc_now, now, folder_stamp) instead"
