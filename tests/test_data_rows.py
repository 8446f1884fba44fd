"""Rows and files: wrong field counts, mixed delimiters, directories, UTF-16 without a byte-order mark."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from genemail.cli import run
from genemail.data import CleaningConfig, clean_frame, iter_customer_chunks, load_customers, synthesize
from genemail.errors import DataError


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return synthesize(300, 21, dirty=False)


def _lines(raw: pd.DataFrame) -> list[str]:
    return raw.to_csv(index=False).splitlines()


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_few_rows_with_the_wrong_number_of_fields_are_dropped_and_named(tmp_path: Path, raw: pd.DataFrame) -> None:
    lines = _lines(raw)
    lines[50] += ",extra"  # data row 50: one field too many
    lines[120] = ",".join(lines[120].split(",")[:-4])  # data row 120: four fields short
    path = _write(tmp_path / "ragged.csv", lines)
    result = load_customers(path)
    report = result.report
    assert report.rows_in == 300 and report.rows_out == 298
    assert report.count("dropped_rows", "(row shape)") == 2
    action = next(a for a in report.actions if a.column == "(row shape)")
    assert "the header has 29" in action.rule
    assert action.examples == ["row 50 (line 51): 30 fields", "row 120 (line 121): 25 fields"]
    dropped = {str(raw.loc[49, "ID"]), str(raw.loc[119, "ID"])}
    assert dropped.isdisjoint(result.frame["customer_id"])
    # The rows after a dropped one keep their own values (nothing shifted).
    expected = clean_frame(raw.drop(index=[49, 119])).frame
    pd.testing.assert_frame_equal(result.frame, expected)


def test_streaming_drops_the_same_malformed_rows(tmp_path: Path, raw: pd.DataFrame, monkeypatch) -> None:
    from genemail.data import rows

    monkeypatch.setattr(rows, "SCAN_BLOCK_BYTES", 4096)  # the pre-pass reads the file in many blocks
    lines = _lines(raw)
    lines[250] += ",extra"
    path = _write(tmp_path / "ragged.csv", lines)
    chunks = list(iter_customer_chunks(path, chunksize=100))
    assert [c.report.count("dropped_rows", "(row shape)") for c in chunks] == [0, 0, 1]
    action = next(a for a in chunks[2].report.actions if a.column == "(row shape)")
    assert action.examples == ["row 250 (line 251): 30 fields"]  # row numbers run on across blocks
    assert sum(len(c.frame) for c in chunks) == 299
    assert chunks[0].report.reference_date == clean_frame(raw.drop(index=[249])).report.reference_date


def test_many_malformed_rows_refuse_the_file(tmp_path: Path, raw: pd.DataFrame, capsys) -> None:
    lines = _lines(raw)
    for i in (10, 20, 30, 40):  # 4 of 300 rows: above the 1% that is repaired
        lines[i] += ",x"
    path = _write(tmp_path / "ragged.csv", lines)
    code = run(["data", "check", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "4 of 300 rows do not have the header's 29 fields" in err and "row 10 (line 11): 30 fields" in err


def test_rows_with_another_delimiter_refuse_the_file(tmp_path: Path, raw: pd.DataFrame, capsys) -> None:
    lines = _lines(raw)
    lines[7] = lines[7].replace(",", ";")  # a row from a semicolon export
    path = _write(tmp_path / "mixed.csv", lines)
    code = run(["data", "check", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and "rows use different delimiters" in err and "row 7 (line 8) uses ';'" in err


def test_blank_lines_and_quoted_line_breaks_keep_row_numbers(tmp_path: Path, raw: pd.DataFrame) -> None:
    small = raw.head(20).copy()
    small["Education"] = small["Education"].astype(object)
    small.loc[1, "Education"] = "Gradu\nation"  # data row 2 spans two lines (quoted by to_csv)
    lines = small.to_csv(index=False).split("\n")  # physical lines: row 2 takes lines 3 and 4
    lines.insert(5, "   ")  # a whitespace-only line and an empty one: skipped by both readers
    lines.insert(7, "")
    bad = next(i for i, line in enumerate(lines) if line.startswith(str(small.loc[6, "ID"]) + ","))
    lines[bad] += ",extra"  # data row 7
    path = tmp_path / "blank.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    result = load_customers(path, config=CleaningConfig(max_malformed_fraction=0.1))  # 1 of 20 rows is 5%
    action = next(a for a in result.report.actions if a.column == "(row shape)")
    assert action.count == 1 and action.examples[0].startswith("row 7 ")
    assert str(small.loc[6, "ID"]) not in set(result.frame["customer_id"])
    assert len(result.frame) == 19 and result.report.rows_in == 20
    expected = clean_frame(small.drop(index=[6])).frame
    pd.testing.assert_frame_equal(result.frame, expected)


def test_a_directory_is_named_as_such(tmp_path: Path, raw: pd.DataFrame, capsys) -> None:
    raw.to_csv(tmp_path / "customers.csv", index=False)
    with pytest.raises(DataError, match="is a directory, not a customer file .it holds customers.csv"):
        load_customers(tmp_path)
    assert run(["data", "check", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_detected(tmp_path: Path, raw: pd.DataFrame, encoding: str) -> None:
    path = tmp_path / "utf16.csv"
    raw.head(40).to_csv(path, index=False, encoding=encoding)
    assert not path.read_bytes().startswith((b"\xff\xfe", b"\xfe\xff"))
    result = load_customers(path)
    endian = "little" if encoding.endswith("le") else "big"
    assert any(f"UTF-16 {endian}-endian without a byte-order mark" in n for n in result.report.notes)
    pd.testing.assert_frame_equal(result.frame, clean_frame(raw.head(40)).frame)


def test_corrupt_parquet_is_refused_by_data_check(tmp_path: Path, capsys) -> None:
    path = tmp_path / "customers.parquet"
    path.write_bytes(b"PAR1" + b"\x00not really parquet" * 50)
    assert run(["data", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not a readable Parquet file" in err and "Traceback" not in err
