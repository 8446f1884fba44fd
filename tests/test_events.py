"""Behaviour events: the loader's bad-input discipline, synthetic events that sum to the table, sequence features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genemail.behaviour.events import EVENT_COLUMNS, load_events
from genemail.behaviour.sequence_features import sequence_feature_names, sequence_features
from genemail.behaviour.synth_events import AGGREGATE_COLUMNS, aggregate_events, agreement, synthesize_events
from genemail.errors import DataError

GOOD = [
    ["1024", "2014-03-02 14:05:00", "purchase", "wines", "web", "42.50"],
    ["1024", "2014-03-09 09:00:00", "visit", "", "web", "0"],
    ["77", "2014-01-05", "purchase", "meat", "store", "10"],
]


def _write(tmp_path: Path, rows: list[list[str]], header: list[str] | None = None, name: str = "events.csv",
           sep: str = ",") -> Path:
    header = header or list(EVENT_COLUMNS)
    path = tmp_path / name
    path.write_text("\n".join(sep.join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    return path


def test_good_file_loads_sorted_and_typed(tmp_path: Path) -> None:
    frame, report = load_events(_write(tmp_path, GOOD, sep=";"))
    assert list(frame.columns) == list(EVENT_COLUMNS) and len(frame) == 3 and report.rows_kept == 3
    assert frame["customer_id"].tolist() == ["1024", "1024", "77"]
    assert frame["amount"].tolist() == [42.5, 0.0, 10.0]
    assert pd.api.types.is_datetime64_any_dtype(frame["time"])


def test_header_is_matched_case_insensitively(tmp_path: Path) -> None:
    frame, _ = load_events(_write(tmp_path, GOOD, header=["Customer_ID", "TIME", "Type", "Category", "Channel", "Amount"]))
    assert len(frame) == 3


@pytest.mark.parametrize("row, column, words", [
    (["C 1", "2014-03-02", "purchase", "wines", "web", "5"], "customer_id", "not a valid ID"),
    (["1", "yesterday", "purchase", "wines", "web", "5"], "time", "not a date"),
    (["1", "2014-03-02", "refund", "wines", "web", "5"], "type", "not a known type"),
    (["1", "2014-03-02", "purchase", "cars", "web", "5"], "category", "not a known category"),
    (["1", "2014-03-02", "purchase", "", "web", "5"], "category", "not a known category"),
    (["1", "2014-03-02", "purchase", "wines", "phone", "5"], "channel", "not a known channel"),
    (["1", "2014-03-02", "purchase", "wines", "web", "$5"], "amount", "not a number"),
    (["1", "2014-03-02", "purchase", "wines", "web", "-5"], "amount", "expected > 0"),
    (["1", "2014-03-02", "purchase", "wines", "web", "0"], "amount", "expected > 0"),
    (["1", "2014-03-02", "visit", "", "web", "3"], "amount", "expected 0 for a visit"),
])
def test_bad_value_names_file_row_column_and_fix(tmp_path: Path, row: list[str], column: str, words: str) -> None:
    path = _write(tmp_path, [GOOD[0], row])
    with pytest.raises(DataError) as err:
        load_events(path)
    message = str(err.value)
    assert str(path) in message and "row 3" in message and f"column {column}" in message
    assert words in message and "Fix:" in message


def test_missing_column_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing required event columns: amount"):
        load_events(_write(tmp_path, [r[:5] for r in GOOD], header=list(EVENT_COLUMNS[:5])))
    with pytest.raises(DataError, match="header but no rows"):
        load_events(_write(tmp_path, [], name="header_only.csv"))
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_events(empty)
    with pytest.raises(DataError, match="not found"):
        load_events(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="directory"):
        load_events(tmp_path)


def test_unknown_customers_are_dropped_and_counted(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    frame, report = load_events(path, customer_ids={"1024"})
    assert set(frame["customer_id"]) == {"1024"} and report.dropped == {"unknown_customer": 1}
    with pytest.raises(DataError, match="none of the 3 events"):
        load_events(path, customer_ids={"5"})


def test_parquet_round_trip(tmp_path: Path) -> None:
    frame, _ = load_events(_write(tmp_path, GOOD))
    path = tmp_path / "events.parquet"
    frame.to_parquet(path, index=False)
    again, _ = load_events(path)
    pd.testing.assert_frame_equal(again, frame, check_dtype=False)


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, str]:
    from genemail.data.loader import clean_frame
    from genemail.data.synth import synthesize

    result = clean_frame(synthesize(400, 3, dirty=False))
    return result.frame, result.report.reference_date


def test_synthetic_events_sum_to_the_customer_table(table, tmp_path: Path) -> None:
    frame, ref = table
    events = synthesize_events(frame, ref, seed=0)
    result = agreement(frame, aggregate_events(events, ref))
    assert set(result) == set(AGGREGATE_COLUMNS)
    for column in AGGREGATE_COLUMNS:
        if column.startswith("purchases_"):
            continue
        assert result[column]["exact_share"] == 1.0, (column, result[column])
    # Order counts are exact except for the documented deviation: spend without any order.
    no_orders = (frame[[f"purchases_{c}" for c in ("web", "catalog", "store", "deals")]].fillna(0).sum(axis=1) == 0)
    spends = frame[[c for c in frame.columns if c.startswith("spend_")]].fillna(0).sum(axis=1) > 0
    expected = 1.0 - float((no_orders & spends).mean())
    assert min(result[f"purchases_{c}"]["exact_share"] for c in ("web", "catalog", "deals")) == 1.0
    assert result["purchases_store"]["exact_share"] == pytest.approx(expected)
    # The synthetic file passes the loader's own checks.
    path = tmp_path / "events.csv"
    events.to_csv(path, index=False)
    loaded, report = load_events(path, customer_ids=set(frame["customer_id"].astype(str)))
    assert report.rows_kept == len(events) and not report.dropped


def test_synthetic_events_are_seeded_per_customer(table) -> None:
    frame, ref = table
    a = synthesize_events(frame.head(50), ref, seed=1)
    b = synthesize_events(frame.head(80), ref, seed=1)
    first = set(frame.head(50)["customer_id"].astype(str))
    pd.testing.assert_frame_equal(a, b[b["customer_id"].isin(first)].reset_index(drop=True))
    assert not synthesize_events(frame.head(50), ref, seed=2).equals(a)


def test_sequence_features_follow_the_events(table) -> None:
    frame, ref = table
    events = synthesize_events(frame, ref, seed=0)
    feats = sequence_features(events, ref, list(frame["customer_id"].astype(str)) + ["no-history"])
    assert tuple(feats.columns) == sequence_feature_names() and len(feats) == len(frame) + 1
    assert feats.notna().all().all()
    shares = feats[[c for c in feats.columns if c.startswith("seq_share_")]]
    bought = shares.sum(axis=1) > 0
    assert np.allclose(shares[bought].sum(axis=1), 1.0)
    assert feats.loc["no-history"].drop("seq_recency_days").abs().sum() == 0
    table_recency = frame.set_index(frame["customer_id"].astype(str))["recency"]
    got = feats["seq_recency_days"].reindex(table_recency.index)
    assert ((got - table_recency).abs() < 1.0).mean() == 1.0  # last purchase within the recency day
    mix = feats[[c for c in feats.columns if c.startswith("seq_channel_")]]
    assert np.allclose(mix[bought].sum(axis=1), 1.0)
    assert feats["seq_trend"].between(-1, 1).all()


def test_total_category_spend_of_the_events_is_the_table_spend(table) -> None:
    frame, ref = table
    feats = sequence_features(synthesize_events(frame, ref, seed=4), ref, frame["customer_id"].astype(str))
    t = frame.set_index(frame["customer_id"].astype(str))
    for c in ("wines", "meat", "gold"):
        assert np.allclose(feats[f"seq_total_{c}"].reindex(t.index), t[f"spend_{c}"].fillna(0), atol=0.01)
