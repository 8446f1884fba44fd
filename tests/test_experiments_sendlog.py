"""The send log: one schema, read from JSONL, CSV and Parquet; errors name the line and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from genemail.errors import DataError
from genemail.experiments import REQUIRED_FIELDS, SEND_LOG_FIELDS, ExperimentConfig, read_send_log
from genemail.experiments.sendlog import STORED_FIELDS
from tests.fixtures.experiments import build_send_log

CONFIG = ExperimentConfig("unit", control=0.3, holdout=0.2, seed=1)
SIZES = {"Dormant": 40, "Parent_Active": 60}


def _row(**overrides: object) -> dict:
    row = {"experiment": "unit", "customer_id": "1", "l2": "Dormant", "arm": "segmented",
           "sent_at": "2025-03-01T09:00:00Z", "email": "Hello"}
    row.update(overrides)
    return row


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_the_schema_is_the_campaign_row_plus_experiment_fields() -> None:
    assert SEND_LOG_FIELDS[-3:] == ("experiment", "arm", "sent_at")
    assert {"customer_id", "l2", "strategy", "adapter_repo", "adapter_sha", "release_revision"} <= set(SEND_LOG_FIELDS)
    assert set(REQUIRED_FIELDS) <= set(SEND_LOG_FIELDS)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_every_format_reads_to_the_same_table(tmp_path: Path, suffix: str) -> None:
    written = build_send_log(tmp_path / f"log{suffix}", SIZES, CONFIG)
    read = read_send_log(tmp_path / f"log{suffix}")
    assert list(read.columns) == list(STORED_FIELDS) and len(read) == len(written) == 100
    assert read["customer_id"].tolist() == written["customer_id"].tolist()
    assert read["arm"].tolist() == written["arm"].tolist()
    assert read["segment"].tolist() == written["l2"].tolist()
    assert (read["sent_at"] == "2025-03-01T09:00:00.000000Z").all()
    holdout = read["arm"] == "holdout"
    assert read.loc[holdout, "email"].isna().all() and read.loc[~holdout, "email"].notna().all()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"arm": None}, "arm", "required field 'arm' is empty"),
        ({"experiment": ""}, "experiment", "required field 'experiment' is empty"),
        ({"arm": "treatment"}, "arm", "arm 'treatment' is unknown"),
        ({"sent_at": "2025-03-01 09:00"}, "sent_at", "not a UTC ISO 8601 time"),
        ({"sent_at": "2025-03-01T09:00:00+08:00"}, "sent_at", "not a UTC"),
        ({"arm": "holdout"}, "email", "holdout row carries an email"),
        ({"email": None}, "email", "segmented row has no email"),
    ],
)
def test_a_bad_row_is_named_by_line_and_field(tmp_path: Path, overrides: dict, field: str, message: str) -> None:
    path = _jsonl(tmp_path / "log.jsonl", [_row(customer_id="0"), _row(**overrides)])
    with pytest.raises(DataError, match=message) as info:
        read_send_log(path)
    assert f"log.jsonl, line 2, field {field}" in str(info.value)


def test_a_missing_column_and_a_duplicate_customer_are_refused(tmp_path: Path) -> None:
    row = _row()
    del row["l2"]
    with pytest.raises(DataError, match=r"line 1, field l2.*'l2' is missing"):
        read_send_log(_jsonl(tmp_path / "a.jsonl", [row]))
    with pytest.raises(DataError, match=r"line 3, field customer_id.*twice \(first at line 1\)"):
        read_send_log(_jsonl(tmp_path / "b.jsonl", [_row(), _row(customer_id="2"), _row()]))


def test_csv_line_numbers_count_multi_line_emails(tmp_path: Path) -> None:
    frame = pd.DataFrame([_row(customer_id="1", email="Dear Ann,\nline two\nline three"),
                          _row(customer_id="2", arm="bogus")])
    frame.to_csv(tmp_path / "log.csv", index=False)
    with pytest.raises(DataError, match=r"log.csv, line 5, field arm"):  # header, 3 lines of row 1, then row 2
        read_send_log(tmp_path / "log.csv")


def test_invalid_json_empty_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(_row()) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl, line 2.*not valid JSON"):
        read_send_log(bad)
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        read_send_log(tmp_path / "empty.jsonl")
    with pytest.raises(DataError, match="not found"):
        read_send_log(tmp_path / "nowhere.jsonl")
    (tmp_path / "blank.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="no rows"):
        read_send_log(tmp_path / "blank.jsonl")


def test_numeric_ids_from_spreadsheets_become_text(tmp_path: Path) -> None:
    read = read_send_log(_jsonl(tmp_path / "log.jsonl", [_row(customer_id=5524.0), _row(customer_id=17)]))
    assert read["customer_id"].tolist() == ["5524", "17"]


def test_pre_period_covariates_are_read_stored_as_json_and_refused_when_not_numbers(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    build_send_log(path, {"Dormant": 40}, ExperimentConfig("cov", control=0.5, holdout=0.0), covariates=True)
    read = read_send_log(path)
    values = [json.loads(v) for v in read["covariates"]]
    assert all(set(v) == {"pre_responses", "pre_spend"} for v in values)
    assert all(0 <= v["pre_responses"] <= 5 and v["pre_spend"] > 0 for v in values)
    frame = pd.read_csv(path, dtype=str)
    frame.loc[1, "pre_spend"] = "lots"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"line 3, field pre_spend.*'lots', not a number"):
        read_send_log(path)
