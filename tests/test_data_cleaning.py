"""Cleaning rules and the CleaningReport: every change is counted, with its rule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genemail.data import CleaningConfig, CleaningReport, clean_frame, synthesize
from genemail.data import cleaning as cl
from genemail.errors import ConfigError, DataError


def _report() -> CleaningReport:
    return CleaningReport(source="t.csv", source_schema="kaggle")


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"min_age": 50, "max_age": 20}, "min_age/max_age"), ({"max_income": 0}, "max_income"),
     ({"max_bad_fraction": 1.5}, "max_bad_fraction")],
)
def test_config_is_validated(kwargs: dict, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        CleaningConfig(**kwargs)


def test_report_counts_merges_and_serializes(tmp_path: Path) -> None:
    a, b = _report(), _report()
    a.rows_in, a.rows_out, b.rows_in, b.rows_out = 10, 9, 5, 5
    a.add("imputed", "Income", 2, "median", ["row 1"])
    b.add("imputed", "Income", 3, "median", ["row 12"])
    b.add("dropped_column", "Z_Revenue", 1, "constant")
    a.add("dropped_column", "Z_Revenue", 1, "constant")
    a.add("folded", "Education", 0, "nothing happened")  # zero counts are not recorded
    merged = a.merge(b)
    assert merged.count("imputed", "Income") == 5
    assert merged.count("dropped_column") == 1  # a column is dropped once, however many chunks
    assert (merged.rows_in, merged.rows_out) == (15, 14)
    assert merged.actions[0].examples == ["row 1", "row 12"]
    assert not any(x.kind == "folded" for x in merged.actions)
    data = json.loads(merged.to_json(tmp_path / "r.json").read_text())
    assert data["actions"][0] == {"kind": "imputed", "column": "Income", "count": 5, "rule": "median",
                                  "examples": ["row 1", "row 12"]}
    text = merged.summary()
    assert "rows read: 15" in text and "rows dropped: 1" in text and "Z_Revenue" in text


def test_a_few_bad_numbers_are_set_missing_and_reported() -> None:
    frame = pd.DataFrame({"Income": ["100", "abc", "58,138", " 7 ", "", "1e3"] * 2},
                         index=pd.RangeIndex(1, 13))
    report = _report()
    out = cl.coerce_numeric(frame, ["Income"], report, "t.csv", CleaningConfig(max_bad_fraction=0.3))
    assert out["Income"].dtype == "float64"
    assert out["Income"].tolist()[:4] == [100.0, pytest.approx(np.nan, nan_ok=True), 58138.0, 7.0]
    assert report.count("set_missing", "Income") == 2
    assert report.actions[0].examples == ["row 2: 'abc'", "row 8: 'abc'"]


def test_mostly_text_numbers_are_refused_naming_row_column_value() -> None:
    frame = pd.DataFrame({"Recency": ["x", "y", "3"]}, index=pd.RangeIndex(1, 4))
    with pytest.raises(DataError) as err:
        cl.coerce_numeric(frame, ["Recency"], _report(), "t.csv", CleaningConfig())
    message = str(err.value)
    assert "t.csv, column Recency" in message and "row 1 (line 2) 'x'" in message and "2 of 3" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4-Sep-12", "2012-09-04"), ("2012-09-04", "2012-09-04"), ("04/09/2012", "2012-09-04"),
     ("4/9/2012 0:00", "2012-09-04"), ("13/01/2013", "2013-01-13"), ("04-09-2012", "2012-09-04")],
)
def test_parse_dates(text: str, expected: str) -> None:
    parsed = cl.parse_dates(pd.Series([text, None, "not a date"]))
    assert parsed[0] == pd.Timestamp(expected)
    assert parsed[1:].isna().all()


def test_marital_status_folds() -> None:
    report = _report()
    values = pd.Series(["Alone", "YOLO", "absurd", "married", " Single ", "Widowed", None])
    out = cl.fold_marital(values, report)
    assert out.tolist() == ["Single", "Unknown", "Unknown", "Married", "Single", "Unknown", "Unknown"]
    assert report.count("folded", "Marital_Status") == 4  # Alone, YOLO, absurd, Widowed
    assert {a.rule for a in report.actions} == {
        "'alone' -> 'Single'", "'yolo' -> 'Unknown'", "'absurd' -> 'Unknown'", "unrecognized value -> 'Unknown'"}


def test_income_imputed_with_median_of_education_group() -> None:
    frame = pd.DataFrame({
        "Education": ["PhD", "PhD", "PhD", "Basic", "Basic", "Master"],
        "Income": [10.0, 30.0, np.nan, 5.0, np.nan, np.nan],
    })
    report = _report()
    flag = cl.impute_income(frame, report)
    assert flag.tolist() == [False, False, True, False, True, True]
    # PhD median 20, Basic median 5, Master has no known income -> overall median 10.
    assert frame["Income"].tolist() == [10.0, 30.0, 20.0, 5.0, 5.0, 10.0]
    assert report.count("imputed", "Income") == 3


def test_cleaner_on_dirty_synthetic_data() -> None:
    raw = synthesize(400, 3)
    raw.loc[5, "Income"] = 666_666
    raw.loc[6, "Year_Birth"] = 1893
    raw.loc[7, "MntWines"] = -5
    result = clean_frame(raw)
    frame, report = result.frame, result.report
    row = lambda i: frame[frame["customer_id"] == str(raw.loc[i, "ID"])].iloc[0]  # noqa: E731
    assert row(5)["income_imputed"] and row(5)["income"] < 200_000
    assert np.isnan(row(6)["age"])
    assert np.isnan(row(7)["spend_wines"])
    assert report.count("set_missing", "MntWines") == 1
    assert report.count("set_missing", "Income") >= 1 and report.count("set_missing", "Year_Birth") >= 1
    assert frame["income"].notna().all()
    # Imputation is counted on input rows; some imputed rows may then be dropped as duplicates.
    imputed, dropped = report.count("imputed", "Income"), report.count("dropped_rows")
    assert imputed - dropped <= frame["income_imputed"].sum() <= imputed


def test_rows_identical_but_for_id_keep_the_first() -> None:
    raw = synthesize(50, 1, dirty=False)
    copy = raw.iloc[[3, 10]].assign(ID=[900_001, 900_002])
    raw = pd.concat([raw, copy], ignore_index=True)
    result = clean_frame(raw)
    assert len(result.frame) == 50
    assert "900001" not in set(result.frame["customer_id"])
    assert str(raw.loc[3, "ID"]) in set(result.frame["customer_id"])
    assert result.report.count("dropped_rows", "(all but ID)") == 2
    assert result.report.actions[-1].examples == ["row 51", "row 52"]


def test_constant_columns_dropped_and_unused_ignored() -> None:
    result = clean_frame(synthesize(50, 2))
    kinds = {a.column: a.kind for a in result.report.actions if a.kind.endswith("_column")}
    assert kinds == {"Z_CostContact": "dropped_column", "Z_Revenue": "dropped_column", "Complain": "ignored_column"}
    rule = next(a.rule for a in result.report.actions if a.column == "Z_CostContact")
    assert rule == "constant column (always 3): dropped"
