"""Join dates: day/month order decided from the whole column, the plausible range, blank columns."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genemail.cli import run
from genemail.data import CleaningConfig, clean_frame, iter_customer_chunks, load_customers, synthesize
from genemail.data import cleaning as cl
from genemail.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return synthesize(300, 31, dirty=False)


def _numeric_dates(raw: pd.DataFrame, day_first: bool) -> pd.DataFrame:
    """The join dates written as 04/09/2013 (day first) or 09/04/2013 (month first)."""
    parsed = pd.to_datetime(raw["Dt_Customer"], format="%d-%b-%y")
    fmt = "%d/%m/%Y" if day_first else "%m/%d/%Y"
    return raw.assign(Dt_Customer=parsed.dt.strftime(fmt))


@pytest.mark.parametrize("day_first", [True, False], ids=["day-first", "month-first"])
def test_order_is_read_from_the_column(tmp_path: Path, raw: pd.DataFrame, day_first: bool) -> None:
    path = tmp_path / "dates.csv"
    _numeric_dates(raw, day_first).to_csv(path, index=False)
    result = load_customers(path)
    word = "day-first" if day_first else "month-first"
    assert any(note.startswith(f"Dt_Customer: {word} order, because") for note in result.report.notes)
    pd.testing.assert_frame_equal(result.frame, clean_frame(raw).frame)  # the same dates as the 4-Sep-12 form


def test_the_whole_column_decides_even_when_streaming(tmp_path: Path, raw: pd.DataFrame) -> None:
    # Only the last chunk has a day above 12; the first chunks' dates (all <= 12) must follow it.
    frame = _numeric_dates(raw, day_first=False)
    parsed = pd.to_datetime(raw["Dt_Customer"], format="%d-%b-%y")
    ambiguous = parsed.dt.day <= 12
    frame = pd.concat([frame[ambiguous], frame[~ambiguous]], ignore_index=True)
    path = tmp_path / "dates.csv"
    frame.to_csv(path, index=False)
    streamed = pd.concat([c.frame for c in iter_customer_chunks(path, chunksize=50)], ignore_index=True)
    reordered = pd.concat([raw[ambiguous], raw[~ambiguous]], ignore_index=True)
    pd.testing.assert_frame_equal(streamed, clean_frame(reordered).frame)


def test_ambiguous_column_is_read_day_first_and_says_why(tmp_path: Path, raw: pd.DataFrame) -> None:
    frame = raw.assign(Dt_Customer=[f"{1 + i % 12:02d}/{1 + (i * 5) % 12:02d}/2013" for i in range(len(raw))])
    path = tmp_path / "ambiguous.csv"
    frame.to_csv(path, index=False)
    result = load_customers(path)
    note = next(n for n in result.report.notes if n.startswith("Dt_Customer:"))
    assert "at most 12" in note and "assumed day first" in note and "--date-order mdy" in note
    day_first = pd.to_datetime(frame["Dt_Customer"], format="%d/%m/%Y")
    assert result.report.reference_date == day_first.max().date().isoformat()
    np.testing.assert_array_equal(result.frame["tenure_days"], (day_first.max() - day_first).dt.days)
    mdy = load_customers(path, config=CleaningConfig(date_order="mdy"))
    month_first = pd.to_datetime(frame["Dt_Customer"], format="%m/%d/%Y")
    np.testing.assert_array_equal(mdy.frame["tenure_days"], (month_first.max() - month_first).dt.days)
    assert any("as configured" in n for n in mdy.report.notes)


def test_mixed_orders_are_refused(tmp_path: Path, raw: pd.DataFrame, capsys) -> None:
    frame = raw.assign(Dt_Customer="05/06/2013")
    frame.loc[3, "Dt_Customer"] = "13/01/2013"
    frame.loc[9, "Dt_Customer"] = "01/13/2013"
    path = tmp_path / "mixed.csv"
    frame.to_csv(path, index=False)
    assert run(["data", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "mixes day-first dates ('13/01/2013') and month-first dates ('01/13/2013')" in err and "ISO" in err


def test_one_date_far_in_the_future_moves_nothing(tmp_path: Path, raw: pd.DataFrame) -> None:
    clean = clean_frame(raw)
    late = raw.copy()
    late.loc[5, "Dt_Customer"] = "4-Sep-30"  # 2030
    path = tmp_path / "late.csv"
    late.to_csv(path, index=False)
    result = load_customers(path, config=CleaningConfig(today=date(2035, 1, 1)))  # even when 2030 is past
    assert result.report.reference_date == clean.report.reference_date
    action = next(a for a in result.report.actions if a.column == "Dt_Customer")
    assert action.kind == "set_missing" and action.count == 1 and "plausible range" in action.rule
    assert action.examples == ["row 6: '4-Sep-30'"]
    assert np.isnan(result.frame["tenure_days"][5])
    others = result.frame.drop(index=5)
    pd.testing.assert_frame_equal(others, clean.frame.drop(index=5))  # no one else was aged


def test_dates_after_the_day_the_file_is_read_are_implausible(raw: pd.DataFrame) -> None:
    result = clean_frame(raw, config=CleaningConfig(today=date(2014, 4, 1)))
    parsed = pd.to_datetime(raw["Dt_Customer"], format="%d-%b-%y")
    future = int((parsed > pd.Timestamp("2014-04-01")).sum())
    assert 0 < future <= 0.2 * len(raw)  # a few: set missing, not refused
    assert result.report.count("set_missing", "Dt_Customer") == future
    assert result.report.reference_date == parsed[parsed <= pd.Timestamp("2014-04-01")].max().date().isoformat()
    with pytest.raises(DataError, match="plausible join dates"):
        clean_frame(raw, config=CleaningConfig(today=date(2013, 1, 1)))  # most dates in the future: refused


def test_a_blank_date_column_is_refused_unless_a_reference_date_is_given(tmp_path: Path, raw: pd.DataFrame,
                                                                         capsys) -> None:
    path = tmp_path / "blank.csv"
    raw.assign(Dt_Customer="").to_csv(path, index=False)
    assert run(["data", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "column Dt_Customer is blank in every row" in err and "--reference-date" in err and "Traceback" not in err
    assert run(["data", "check", str(path), "--reference-date", "2014-06-29"]) == 0
    frame = load_customers(path, reference_date="2014-06-29").frame
    assert frame["tenure_days"].isna().all() and frame["age"].notna().all()


def test_blank_dates_filling_the_first_chunk(tmp_path: Path, raw: pd.DataFrame, capsys) -> None:
    frame = raw.copy()
    frame.loc[:149, "Dt_Customer"] = ""
    path = tmp_path / "blank_first.csv"
    frame.to_csv(path, index=False)
    assert run(["data", "check", str(path), "--chunksize", "100"]) == 0
    out = capsys.readouterr().out
    assert "empty: tenure left missing" in out
    chunks = list(iter_customer_chunks(path, chunksize=100))
    assert [c.report.count("missing", "Dt_Customer") for c in chunks] == [100, 50, 0]
    whole = clean_frame(raw.iloc[150:]).report.reference_date
    assert {c.report.reference_date for c in chunks} == {whole}
    assert chunks[0].frame["tenure_days"].isna().all() and chunks[2].frame["tenure_days"].notna().all()


def test_parse_dates_in_either_order() -> None:
    values = pd.Series(["04/09/2012", "4-Sep-12", None, ""])
    assert cl.parse_dates(values)[0] == pd.Timestamp("2012-09-04")
    assert cl.parse_dates(values, "mdy")[0] == pd.Timestamp("2012-04-09")
    assert cl.parse_dates(values, "mdy")[1] == pd.Timestamp("2012-09-04")  # month names are never ambiguous
    assert cl.parse_dates(values)[2:].isna().all()
    assert cl.parse_dates(pd.Series([None, None], dtype="string")).isna().all()  # nothing to parse: no error


def test_date_order_is_validated() -> None:
    with pytest.raises(ConfigError, match="date_order"):
        CleaningConfig(date_order="ymd")
