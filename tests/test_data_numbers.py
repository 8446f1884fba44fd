"""Number cells: formatted numbers read right or refused (never 58.138), absurd counts set missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genemail.cli import run
from genemail.data import CleaningConfig, load_customers, synthesize
from genemail.data import cleaning as cl
from genemail.data.report import CleaningReport
from genemail.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return synthesize(200, 41, dirty=False)


@pytest.mark.parametrize(
    ("text", "value"),
    [("58.138", 58138), ("58,138", 58138), ("$58,138", 58138), ("58 138", 58138), ("58'138", 58138),
     ("58.138,50", 58138.5), ("58,138.50", 58138.5), ("58138,5", 58138.5), ("€ 1.234.567", 1234567),
     ("58138 USD", 58138), ("1.5", 1.5), ("58138", 58138), ("-1,200", -1200)],
)
def test_formatted_numbers_are_read_right(text: str, value: float) -> None:
    values, repairs = cl.parse_numbers(pd.Series([text], dtype="string"))
    assert values[0] == pytest.approx(value)
    assert bool(repairs) == (text not in ("1.5", "58138"))  # every repair is reported


@pytest.mark.parametrize("text", ["58.13.8", "1,23,456", "58,138,5", "12abc", "$"])
def test_unreadable_numbers_are_not_guessed(text: str) -> None:
    values, _ = cl.parse_numbers(pd.Series([text], dtype="string"))
    assert np.isnan(values[0])


def test_formatted_incomes_in_a_file_are_repaired_and_counted(tmp_path: Path, raw: pd.DataFrame) -> None:
    frame = raw.astype({"Income": object})
    truth = frame.loc[1:3, "Income"].astype(int).tolist()
    frame.loc[1, "Income"] = f"{truth[0] // 1000}.{truth[0] % 1000:03d}"  # 58.138
    frame.loc[2, "Income"] = f"{truth[1] // 1000},{truth[1] % 1000:03d}"  # 58,138
    frame.loc[3, "Income"] = f"${truth[2] // 1000},{truth[2] % 1000:03d}"  # $58,138
    path = tmp_path / "money.csv"
    frame.to_csv(path, index=False)
    result = load_customers(path)
    assert result.frame["income"][1:4].tolist() == truth  # never 58.138
    report = result.report
    assert report.count("repaired", "Income") == 4  # three grouped, one of them also had a currency sign
    grouped = next(a for a in report.actions if a.kind == "repaired" and "thousands" in a.rule)
    assert grouped.examples[0] == f"row 2: {frame.loc[1, 'Income']!r} -> {truth[0]}"


def test_absurd_counts_are_set_missing_and_named(tmp_path: Path, raw: pd.DataFrame, capsys) -> None:
    frame = raw.astype({"Kidhome": object, "Teenhome": object, "Recency": object, "AcceptedCmp1": object})
    frame.loc[3, "Kidhome"] = 50
    frame.loc[4, "Teenhome"] = 1.5
    frame.loc[6, "Recency"] = 1e9
    frame.loc[7, "AcceptedCmp1"] = 3
    path = tmp_path / "absurd.csv"
    frame.to_csv(path, index=False)
    assert run(["data", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "above 10 (implausible): set missing" in out and "row 4: 50" in out
    assert "not a whole number: set missing" in out and "row 5: 1.5" in out
    assert "above 3650 (implausible)" in out and "row 7: 1000000000" in out
    assert "above 1 (implausible)" in out and "row 8: 3" in out
    result = load_customers(path)
    assert pd.isna(result.frame["kids"][3]) and pd.isna(result.frame["teens"][4])
    assert np.isnan(result.frame["recency"][6])
    assert result.report.count("set_missing") == 4


def test_prd_family_size_zero_and_fractional_are_set_missing() -> None:
    frame = pd.DataFrame({"Familysize": [0.0, 2.5, 3.0, 25.0, -1.0]}, index=pd.RangeIndex(1, 6))
    report = CleaningReport()
    out = cl.check_counts(frame, report, "t.csv", CleaningConfig(max_bad_fraction=0.9))
    assert out["Familysize"].isna().tolist() == [True, True, False, True, True]
    rules = {a.rule: a.count for a in report.actions}
    assert rules == {"negative count: set missing": 1, "not a whole number: set missing": 1,
                     "below 1 (a household has at least the customer): set missing": 1,
                     "above 20 (implausible): set missing": 1}


def test_mostly_absurd_counts_refuse_the_file() -> None:
    frame = pd.DataFrame({"Kidhome": [50.0, 60.0, 1.0]}, index=pd.RangeIndex(1, 4))
    with pytest.raises(DataError) as err:
        cl.check_counts(frame, CleaningReport(), "t.csv", CleaningConfig())
    assert "t.csv, column Kidhome" in str(err.value) and "row 1 (line 2) 50" in str(err.value)


def test_thresholds_are_validated() -> None:
    with pytest.raises(ConfigError, match="max_children"):
        CleaningConfig(max_children=0)
    with pytest.raises(ConfigError, match="max_malformed_fraction"):
        CleaningConfig(max_malformed_fraction=1.0)
