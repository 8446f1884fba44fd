"""Loader: both schemas, every separator/encoding/date format, Parquet, streaming, the internal schema."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genemail.data import clean_frame, iter_customer_chunks, load_customers, synthesize
from genemail.data.schema import COLUMN_NAMES, DTYPES, KID_AGE_BANDS, SPEND_CATEGORIES
from genemail.errors import ConfigError


@pytest.fixture(scope="module")
def clean_raw() -> pd.DataFrame:
    """200 synthetic customers without injected dirt (so every row survives cleaning)."""
    return synthesize(200, 7, dirty=False)


def _assert_internal_schema(frame: pd.DataFrame) -> None:
    assert tuple(frame.columns) == COLUMN_NAMES
    assert {c: str(frame[c].dtype) for c in frame.columns} == DTYPES


def test_customers_fixture_is_internal_schema(customers: pd.DataFrame) -> None:
    _assert_internal_schema(customers)
    assert customers["customer_id"].is_unique
    assert 500 < len(customers) < 600  # ~8% injected duplicates dropped


@pytest.mark.parametrize(
    ("sep", "encoding", "suffix"),
    [(",", "utf-8", ".csv"), (";", "utf-8", ".csv"), ("\t", "utf-8", ".tsv"), (",", "utf-8-sig", ".csv"),
     (";", "utf-8-sig", ".txt"), (None, None, ".parquet")],
    ids=["comma", "semicolon", "tab", "comma-bom", "semicolon-bom", "parquet"],
)
def test_every_format_gives_the_same_frame(tmp_path: Path, clean_raw: pd.DataFrame, sep, encoding, suffix) -> None:
    reference = clean_frame(clean_raw).frame
    path = tmp_path / f"customers{suffix}"
    if suffix == ".parquet":
        clean_raw.to_parquet(path, index=False)
    else:
        clean_raw.to_csv(path, sep=sep, encoding=encoding, index=False)
    result = load_customers(path)
    assert result.source_schema == "kaggle"
    _assert_internal_schema(result.frame)
    pd.testing.assert_frame_equal(result.frame, reference)


@pytest.mark.parametrize("text", ["4-Sep-12", "2012-09-04", "04/09/2012", "4/9/2012 0:00", "04-09-2012"])
def test_date_formats_are_day_first(tmp_path: Path, clean_raw: pd.DataFrame, text: str) -> None:
    raw = clean_raw.head(5).copy()
    raw["Dt_Customer"] = text
    path = tmp_path / "dates.csv"
    raw.to_csv(path, index=False)
    result = load_customers(path, reference_date="2012-10-04")
    assert (result.frame["tenure_days"] == 30).all()  # 4 Sep -> 4 Oct 2012, never 9 April


def test_column_names_case_insensitive_and_extra_columns_ignored(tmp_path: Path, clean_raw: pd.DataFrame) -> None:
    raw = clean_raw.rename(columns=str.upper).assign(LOYALTY_NOTES="vip", Unrelated=1.5)
    path = tmp_path / "upper.csv"
    raw.to_csv(path, index=False)
    result = load_customers(path)
    pd.testing.assert_frame_equal(result.frame, clean_frame(clean_raw).frame)
    assert any("LOYALTY_NOTES" in note and "Unrelated" in note for note in result.report.notes)


def test_derived_columns_match_the_raw_values(clean_raw: pd.DataFrame) -> None:
    result = clean_frame(clean_raw)
    frame, raw = result.frame, clean_raw.reset_index(drop=True)
    ref = pd.to_datetime(raw["Dt_Customer"], format="%d-%b-%y").max()
    assert result.report.reference_date == ref.date().isoformat()
    np.testing.assert_array_equal(frame["age"], ref.year - raw["Year_Birth"])
    mnt = raw[["MntWines", "MntFruits", "MntMeatProducts", "MntFishProducts", "MntSweetProducts", "MntGoldProds"]]
    np.testing.assert_array_equal(frame["total_spend"], mnt.sum(axis=1))
    expected_fav = np.asarray(SPEND_CATEGORIES)[mnt.to_numpy().argmax(axis=1)]
    np.testing.assert_array_equal(frame["favourite_category"].to_numpy(dtype=object), expected_fav)
    np.testing.assert_array_equal(frame["children"], raw["Kidhome"] + raw["Teenhome"])
    couples = raw["Marital_Status"].isin(["Married", "Together"]).astype(int)
    np.testing.assert_array_equal(frame["family_size"], 1 + couples + raw["Kidhome"] + raw["Teenhome"])
    tenure = (ref - pd.to_datetime(raw["Dt_Customer"], format="%d-%b-%y")).dt.days
    np.testing.assert_array_equal(frame["tenure_days"], tenure)
    purchases = raw[["NumWebPurchases", "NumCatalogPurchases", "NumStorePurchases"]].sum(axis=1)
    np.testing.assert_allclose(frame["purchase_frequency"], purchases / (tenure.clip(lower=30) / 30))
    campaigns = raw[[f"AcceptedCmp{i}" for i in range(1, 6)] + ["Response"]].sum(axis=1)
    np.testing.assert_array_equal(frame["accepted_campaigns"], campaigns)
    assert set(frame["kid_age"]) <= set(KID_AGE_BANDS)
    both = (raw["Kidhome"] > 0) & (raw["Teenhome"] > 0)
    assert (frame.loc[both, "kid_age"] == "young_and_teen").all()


def test_reference_date_override_shifts_age_and_tenure(clean_raw: pd.DataFrame) -> None:
    default = clean_frame(clean_raw).frame
    later = clean_frame(clean_raw, reference_date="2020-01-01").frame
    assert (later["tenure_days"] > default["tenure_days"]).all()
    assert (later["age"] >= default["age"] + 5).all()
    with pytest.raises(ConfigError, match="reference_date"):
        clean_frame(clean_raw, reference_date="not a date")


def test_prd_schema(tmp_path: Path) -> None:
    prd = pd.DataFrame({
        "id": ["a1", "a2", "a3", "a4"],
        "GENDER": ["F", "male", "Female", ""],
        "Age": [34, 51, 29, 47],
        "Education": ["PhD", "master", "Basic", "Graduation"],
        "Marital_Status": ["Married", "Single", "Together", "Alone"],
        "Income": [70000, None, 20000, 45000],
        "KidAge": ["young", "none", "teen", "both"],
        "Familysize": [3, 1, 4, 3],
        "Recency": [10, 80, 5, 40],
    })
    path = tmp_path / "prd.csv"
    prd.to_csv(path, index=False)
    result = load_customers(path)
    frame = result.frame
    assert result.source_schema == "prd"
    _assert_internal_schema(frame)
    assert frame["gender"].tolist()[:3] == ["Female", "Male", "Female"] and pd.isna(frame["gender"][3])
    assert frame["education"].tolist() == ["PhD", "Master", "Basic", "Graduation"]
    assert frame["kid_age"].tolist() == ["young", "none", "teen", "young_and_teen"]
    assert frame["children"].tolist() == [1, 0, 2, 2]  # family size minus adults
    assert frame["income_imputed"].tolist() == [False, True, False, False]
    for col in ("tenure_days", "total_spend", "spend_wines", "purchases_web", "purchase_frequency"):
        assert frame[col].isna().all(), col
    assert result.report.reference_date is None


def test_streaming_matches_loading_at_once(synthetic_raw_csv: Path) -> None:
    whole = load_customers(synthetic_raw_csv)
    chunks = list(iter_customer_chunks(synthetic_raw_csv, chunksize=170))
    assert len(chunks) == 4
    streamed = pd.concat([c.frame for c in chunks], ignore_index=True)
    report = chunks[0].report
    for chunk in chunks[1:]:
        report = report.merge(chunk.report)
    # Duplicates are found across chunk boundaries, so the kept rows are the same ...
    assert streamed["customer_id"].tolist() == whole.frame["customer_id"].tolist()
    assert report.count("dropped_rows") == whole.report.count("dropped_rows") > 0
    assert report.rows_in == whole.report.rows_in and report.rows_out == whole.report.rows_out
    assert report.reference_date == whole.report.reference_date  # pre-pass finds the file's latest date
    # ... and only imputed incomes may differ (medians are per chunk when streaming).
    known = ~whole.frame["income_imputed"]
    pd.testing.assert_frame_equal(streamed[known], whole.frame[known])


def test_chunksize_is_validated(synthetic_raw_csv: Path) -> None:
    with pytest.raises(ConfigError, match="chunksize"):
        iter_customer_chunks(synthetic_raw_csv, chunksize=0)  # raised at the call, not at the first chunk


@pytest.mark.realdata
def test_real_file_counts_match_its_readme(real_data_file: Path) -> None:
    result = load_customers(real_data_file)
    report, frame = result.report, result.frame
    assert report.rows_in == 2240
    assert report.count("dropped_rows", "(all but ID)") == 182
    assert report.rows_out == len(frame) == 2240 - 182
    assert report.count("set_missing", "Income") == 1  # the 666,666 income
    assert report.count("imputed", "Income") == 24 + 1  # 24 missing + the 666,666 one
    imputed = next(a for a in report.actions if a.kind == "imputed")
    assert imputed.examples[0] == "24 missing in the file, 1 set missing by a rule"
    assert report.count("set_missing", "Year_Birth") == 3  # 1893, 1899, 1900
    marital = {a.rule: a.count for a in report.actions if a.column == "Marital_Status"}
    assert marital == {"'alone' -> 'Single'": 3, "'absurd' -> 'Unknown'": 2, "'yolo' -> 'Unknown'": 2}
    dropped = {a.column for a in report.actions if a.kind == "dropped_column"}
    assert dropped == {"Z_CostContact", "Z_Revenue"}
    assert report.reference_date == "2014-12-06"
    _assert_internal_schema(frame)
    assert frame["customer_id"].is_unique
    assert frame.loc[frame["customer_id"] == "5524", "total_spend"].item() == 1617
    assert frame["age"].max() <= 100 and frame["income"].max() < 200_000
