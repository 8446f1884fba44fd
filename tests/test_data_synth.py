"""Synthetic generator: seeded, the real file's schema, realistic relations, dirt at low rates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genemail.cli import run
from genemail.data import KAGGLE_COLUMNS, clean_frame, compare_frames, format_comparison, synthesize, write_synthetic
from genemail.data.schema import KAGGLE_REQUIRED
from genemail.errors import ConfigError


@pytest.fixture(scope="module")
def big() -> pd.DataFrame:
    return synthesize(5000, 0)


def test_same_seed_same_table_other_seed_other_table() -> None:
    pd.testing.assert_frame_equal(synthesize(300, 4), synthesize(300, 4))
    assert not synthesize(300, 4).equals(synthesize(300, 5))


def test_kaggle_schema_and_date_strings(big: pd.DataFrame) -> None:
    assert tuple(big.columns) == KAGGLE_COLUMNS
    assert set(KAGGLE_REQUIRED) <= set(big.columns)
    assert big["ID"].is_unique
    assert big["Dt_Customer"].str.fullmatch(r"[1-9]\d?-[A-Z][a-z]{2}-1[234]").all()  # like 4-Sep-12
    dates = pd.to_datetime(big["Dt_Customer"], format="%d-%b-%y")
    assert dates.min() >= pd.Timestamp("2012-07-30") and dates.max() <= pd.Timestamp("2014-06-29")
    assert dates.dt.to_period("M").nunique() == 24  # spread over the two years
    assert big["Recency"].between(0, 99).all() and big["Recency"].nunique() == 100
    assert (big["Z_CostContact"] == 3).all() and (big["Z_Revenue"] == 11).all()


def test_realistic_relations(big: pd.DataFrame) -> None:
    clean = clean_frame(big).frame
    spend = np.log1p(clean["total_spend"])
    assert np.corrcoef(np.log(clean["income"]), spend)[0, 1] > 0.5  # spend rises with income
    assert clean.groupby("kids")["total_spend"].median().is_monotonic_decreasing  # and falls with kids
    assert 40_000 < clean["income"].median() < 65_000
    shares = clean["marital_status"].value_counts(normalize=True)
    assert 0.33 < shares["Married"] < 0.44 and shares.index[0] == "Married"
    assert clean["education"].value_counts().index[0] == "Graduation"


def test_dirt_is_injected_at_the_real_rates(big: pd.DataFrame) -> None:
    report = clean_frame(big).report
    rate = 5000 / 2240
    assert report.count("dropped_rows", "(all but ID)") == round(182 * rate)
    assert report.count("set_missing", "Year_Birth") == round(3 * rate)
    assert report.count("imputed", "Income") == round(24 * rate) + round(1 * rate)
    assert report.count("folded", "Marital_Status") == round(3 * rate) + 2 * round(2 * rate)
    clean = synthesize(5000, 0, dirty=False)
    assert clean_frame(clean).report.count("dropped_rows") == 0


def test_small_n_still_has_each_kind_of_dirt() -> None:
    report = clean_frame(synthesize(150, 2)).report
    for kind, column in [("dropped_rows", "(all but ID)"), ("set_missing", "Year_Birth"),
                         ("imputed", "Income"), ("folded", "Marital_Status")]:
        assert report.count(kind, column) >= 1, (kind, column)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_write_synthetic_round_trips(tmp_path: Path, suffix: str) -> None:
    from genemail.data import load_customers

    path = write_synthetic(120, 3, tmp_path / f"s{suffix}")
    loaded = load_customers(path)
    pd.testing.assert_frame_equal(loaded.frame, clean_frame(synthesize(120, 3)).frame)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="n=0"):
        synthesize(0, 1)
    with pytest.raises(ConfigError, match="suffix"):
        write_synthetic(10, 1, "out.xlsx")


def test_cli_synth_and_compare(tmp_path: Path, capsys) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.parquet"
    assert run(["data", "synth", "--n", "300", "--seed", "1", "--out", str(a)]) == 0
    assert run(["data", "synth", "--n", "300", "--seed", "2", "--out", str(b)]) == 0
    assert "wrote 300 synthetic customers" in capsys.readouterr().out
    assert run(["data", "compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "real" in out and "synth" in out and "income" in out and "% Graduation" in out
    assert "customer_id" not in out  # identifiers are not compared


def test_compare_frames_reports_the_difference() -> None:
    a = pd.DataFrame({"x": [1.0, 2.0, 3.0, np.nan], "c": pd.array(["u", "u", "v", "v"], dtype="string")})
    b = pd.DataFrame({"x": [10.0, 20.0, 30.0, 40.0], "c": pd.array(["u", "w", "w", "w"], dtype="string")})
    table = compare_frames(a, b).set_index(["column", "stat"])
    assert table.loc[("x", "mean"), "real"] == 2.0 and table.loc[("x", "mean"), "synth"] == 25.0
    assert table.loc[("x", "missing %"), "real"] == 25.0
    assert table.loc[("c", "% u"), "real"] == 50.0 and table.loc[("c", "% w"), "synth"] == 75.0
    text = format_comparison(compare_frames(a, b))
    assert "25.00" in text and "% w" in text


@pytest.mark.realdata
def test_synthetic_is_close_to_the_real_file(real_data_file: Path) -> None:
    from genemail.data import load_customers

    real = load_customers(real_data_file).frame
    synth = clean_frame(synthesize(2240, 0)).frame
    for col, tolerance in [("income", 0.1), ("total_spend", 0.15), ("recency", 0.1), ("age", 0.05),
                           ("children", 0.1), ("total_purchases", 0.1)]:
        r, s = real[col].astype(float).mean(), synth[col].astype(float).mean()
        assert abs(s - r) / r < tolerance, (col, r, s)
