"""The simulator: a validated truth, rates that match it, content effects, realistic event order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from genemail.errors import DataError
from genemail.experiments import ExperimentConfig, load_truth, parse_truth, read_send_log, simulate_events
from tests.fixtures.experiments import CALLS_TO_ACTION, build_send_log

CONFIG = ExperimentConfig("sim-test", control=0.3, holdout=0.2, seed=2)
TRUTH = {
    "default": {"control": 0.05, "segmented": 0.05},
    "Parent_Active": {"control": 0.04, "segmented": 0.08, "holdout": 0.0,
                      "open": {"control": 0.25, "segmented": 0.30},
                      "conversion": {"control": 0.02, "segmented": 0.03, "holdout": 0.015},
                      "revenue": 60, "bounce": 0.02},
}


@pytest.fixture(scope="module")
def sends(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("sim") / "log.jsonl"
    build_send_log(path, {"Parent_Active": 20000, "Dormant": 2000}, CONFIG)
    return read_send_log(path)


def _within(count: int, n: int, p: float) -> bool:
    """Inside the 99.9% binomial band."""
    return binom.ppf(0.0005, n, p) <= count <= binom.isf(0.0005, n, p)


def _unique(events: pd.DataFrame, kind: str) -> set[str]:
    return set(events.loc[events["event_type"] == kind, "customer_id"])


def test_simulated_rates_match_the_truth_per_arm(sends: pd.DataFrame) -> None:
    events = simulate_events(sends, TRUTH, seed=1)
    parents = sends[sends["segment"] == "Parent_Active"]
    for arm in ("segmented", "control", "holdout"):
        who = set(parents.loc[parents["arm"] == arm, "customer_id"])
        n = len(who)
        expected = {"click": TRUTH["Parent_Active"].get(arm, 0.0),
                    "open": TRUTH["Parent_Active"]["open"].get(arm, 0.0),
                    "conversion": TRUTH["Parent_Active"]["conversion"][arm],
                    "bounce": 0.02 if arm != "holdout" else 0.0}
        for kind, p in expected.items():
            count = len(_unique(events, kind) & who)
            assert _within(count, n, p) if p else count == 0, (arm, kind, count, n, p)
    dormant = set(sends.loc[(sends["segment"] == "Dormant") & (sends["arm"] == "control"), "customer_id"])
    assert _within(len(_unique(events, "click") & dormant), len(dormant), 0.05)  # the default entry


def test_content_phrases_change_the_click_probability(sends: pd.DataFrame) -> None:
    phrase = "family voucher"
    truth = {"default": {"control": 0.03, "segmented": 0.03, "content": {phrase: 0.05}}}
    events = simulate_events(sends, truth, seed=4)
    segmented = sends[sends["arm"] == "segmented"]
    with_phrase = set(segmented.loc[segmented["email"].str.contains(phrase), "customer_id"])
    without = set(segmented["customer_id"]) - with_phrase
    assert any(phrase in cta.lower() for cta in CALLS_TO_ACTION) and len(with_phrase) > 1000
    clicks = _unique(events, "click")
    assert _within(len(clicks & with_phrase), len(with_phrase), 0.08)
    assert _within(len(clicks & without), len(without), 0.03)


def test_events_are_ordered_in_time_and_come_after_the_send(sends: pd.DataFrame) -> None:
    events = simulate_events(sends, TRUTH, seed=3)
    times = events.assign(time=pd.to_datetime(events["time"], format="ISO8601", utc=True))
    sent = pd.Timestamp("2025-03-01T09:00:00Z")
    assert (times["time"] > sent).all()
    first = times.pivot_table(index="customer_id", columns="event_type", values="time", aggfunc="min")
    clicked = first["click"].notna()
    assert (first.loc[clicked, "open"] < first.loc[clicked, "click"]).all()  # every clicker opened first
    converted_after_click = clicked & first["conversion"].notna()
    assert (first.loc[converted_after_click, "click"] < first.loc[converted_after_click, "conversion"]).all()
    opened = first["open"].notna()
    assert first.loc[opened, "delivered"].notna().all()  # nobody opens a bounced email
    assert (first.loc[opened, "delivered"] < first.loc[opened, "open"]).all()
    assert events["event_id"].is_unique and events["time"].is_monotonic_increasing


def test_holdout_gets_no_email_events_and_revenue_is_on_conversions_only(sends: pd.DataFrame) -> None:
    events = simulate_events(sends, TRUTH, seed=5)
    holdout = set(sends.loc[sends["arm"] == "holdout", "customer_id"])
    by_type = {kind: set(part["customer_id"]) for kind, part in events.groupby("event_type")}
    for kind in ("delivered", "open", "click", "bounce", "unsubscribe"):
        assert not by_type.get(kind, set()) & holdout, kind
    assert by_type["conversion"] & holdout  # organic purchases still happen
    revenue = events["revenue"]
    assert revenue[events["event_type"] != "conversion"].isna().all()
    parent_conv = events[(events["event_type"] == "conversion")
                         & events["customer_id"].isin(sends.loc[sends["segment"] == "Parent_Active", "customer_id"])]
    values = parent_conv["revenue"].astype(float)
    assert (values > 0).all()
    standard_error = 60 * 0.533 / np.sqrt(len(values))  # log-normal sigma 0.5: sd = 0.533 x mean
    assert abs(values.mean() - 60) < 4 * standard_error


def test_same_seed_same_events_and_another_seed_differs(sends: pd.DataFrame) -> None:
    part = sends.head(3000)
    first, again = simulate_events(part, TRUTH, seed=9), simulate_events(part, TRUTH, seed=9)
    pd.testing.assert_frame_equal(first, again)
    assert not simulate_events(part, TRUTH, seed=10)["customer_id"].equals(first["customer_id"])


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("Parent_Active: {control: 1.4, segmented: 0.07}", "Parent_Active.control", "not a probability"),
        ("Parent_Active: {control: 0.04}", "Parent_Active", "no click probability for segmented"),
        ("Parent_Active: {control: 0.04, segmented: 0.07, holdout: 0.01}", "Parent_Active.holdout", "must be 0"),
        ("Parent_Active: {control: 0.04, segmented: 0.07, clicks: 2}", "Parent_Active.clicks", "unknown key"),
        ("default: {control: 0.04, segmented: 0.07, open: {treatment: 0.3}}", "default.open.treatment",
         "unknown arm"),
        ("default: {control: 0.04, segmented: 0.07, content: {'Shop now': 2}}", "default.content.Shop now",
         "not a change of probability"),
        ("default: {control: 0.04, segmented: 0.07, revenue: -1}", "default.revenue", "not a positive"),
        ("default: {control: 0.04, segmented: 0.07, bounce: 0.95}", "default.bounce", "exceeds 1"),
        ("default: {control: 0.04, segmented: '7%'}", "default.segmented", "not a probability"),
        ("- control: 0.04", "truth.yaml", "must be a mapping"),
        ("Parent_Active: {control: 0.04, segmented: [0.07", "truth.yaml, line", "not valid YAML"),
    ],
)
def test_a_bad_truth_names_the_key(tmp_path: Path, text: str, key: str, message: str) -> None:
    path = tmp_path / "truth.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=message) as info:
        load_truth(path)
    assert key in str(info.value) and "Fix:" in str(info.value)


def test_a_segment_without_truth_or_default_is_refused(sends: pd.DataFrame) -> None:
    truth = parse_truth({"Parent_Active": {"control": 0.04, "segmented": 0.05}})
    with pytest.raises(DataError, match="no entry for segment.*Dormant"):
        simulate_events(sends, truth, seed=0)
