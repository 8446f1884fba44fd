"""Bad input through the CLI: one clear message (file, row, column, fix), exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from genemail.cli import run
from genemail.data import load_customers, synthesize
from genemail.errors import DataError


def _check(path: Path, capsys, *extra: str) -> tuple[int, str, str]:
    code = run(["data", "check", str(path), *extra])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return synthesize(60, 11, dirty=False)


def _prd(n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "ID": [f"c{i}" for i in range(n)], "Gender": "F", "Age": 40, "Education": "PhD",
        "Marital_Status": "Single", "Income": 50_000, "KidAge": "none", "Familysize": 1,
        "Recency": range(n),  # distinct rows: rows identical but for ID would be dropped as duplicates
    })


def test_good_file_exits_0_and_writes_json(synthetic_raw_csv: Path, tmp_path: Path, capsys) -> None:
    code, out, _ = _check(synthetic_raw_csv, capsys, "--json", str(tmp_path / "report.json"))
    assert code == 0
    assert "OK:" in out and "identical to an earlier row except ID" in out
    assert (tmp_path / "report.json").read_text().count('"kind"') >= 5


@pytest.mark.parametrize("content", [b"", b"   \n\n", b"\xef\xbb\xbf"], ids=["0-bytes", "blank-lines", "bom-only"])
def test_empty_file(tmp_path: Path, capsys, content: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    code, _, err = _check(path, capsys)
    assert code == 2 and "empty.csv" in err and "empty" in err and "Fix:" in err


def test_header_only(tmp_path: Path, raw: pd.DataFrame, capsys) -> None:
    path = tmp_path / "header.csv"
    raw.head(0).to_csv(path, index=False)
    code, _, err = _check(path, capsys)
    assert code == 2 and "header but no data rows" in err and "line 2" in err


def test_missing_required_columns_are_named(tmp_path: Path, raw: pd.DataFrame, capsys) -> None:
    path = tmp_path / "cols.csv"
    raw.drop(columns=["Income", "MntWines"]).to_csv(path, index=False)
    code, _, err = _check(path, capsys)
    assert code == 2 and "missing required columns for the kaggle schema: Income, MntWines" in err


def test_a_few_text_cells_in_a_number_column_are_set_missing(tmp_path: Path, raw: pd.DataFrame, capsys) -> None:
    bad = raw.astype({"Recency": object})
    bad.loc[4, "Recency"] = "yesterday"
    path = tmp_path / "few.csv"
    bad.to_csv(path, index=False)
    code, out, _ = _check(path, capsys)
    assert code == 0
    assert "Recency" in out and "not a number: set missing" in out and "row 5: 'yesterday'" in out
    assert load_customers(path).frame["recency"].isna().sum() == 1


def test_a_text_column_where_numbers_belong_is_refused(tmp_path: Path, raw: pd.DataFrame, capsys) -> None:
    bad = raw.assign(Income=["high", "low", "mid"] * 20)
    path = tmp_path / "text.csv"
    bad.to_csv(path, index=False)
    code, _, err = _check(path, capsys)
    assert code == 2
    assert "text.csv, column Income" in err and "row 1 (line 2) 'high'" in err and "60 of 60" in err


def test_absurd_ages_few_set_missing_many_refused(tmp_path: Path, capsys) -> None:
    few = _prd(10)
    few.loc[[2, 7], "Age"] = [-3, 250]
    path = tmp_path / "few_ages.csv"
    few.to_csv(path, index=False)
    code, out, _ = _check(path, capsys)
    assert code == 0 and "age outside [16, 100]: set missing" in out and "row 3: -3" in out and "row 8: 250" in out
    many = _prd(10).assign(Age=-1)
    path = tmp_path / "many_ages.csv"
    many.to_csv(path, index=False)
    code, _, err = _check(path, capsys)
    assert code == 2 and "column 'Age'" in err and "row 1 (line 2) -1" in err


@pytest.mark.parametrize("chunksize", ["1000", "3"], ids=["one-chunk", "across-chunks"])
def test_duplicate_ids_are_refused(tmp_path: Path, raw: pd.DataFrame, capsys, chunksize: str) -> None:
    bad = raw.copy()
    bad.loc[9, "ID"] = bad.loc[1, "ID"]  # a different customer reusing row 2's ID
    path = tmp_path / "ids.csv"
    bad.to_csv(path, index=False)
    code, _, err = _check(path, capsys, "--chunksize", chunksize)
    assert code == 2
    assert f"ID '{raw.loc[1, 'ID']}' is used by different customers (rows 2, 10)" in err
    assert "column ID" in err


@pytest.mark.parametrize(
    ("content", "what"),
    [(bytes(range(256)) * 8, "binary"), (b"PK\x03\x04" + b"\x00" * 100, "Excel"), (b"\x1f\x8b\x08" + b"x" * 50, "gzip")],
    ids=["random", "xlsx", "gzip"],
)
def test_binary_file_is_refused(tmp_path: Path, capsys, content: bytes, what: str) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes(content)
    code, _, err = _check(path, capsys)
    assert code == 2 and what in err and "CSV (UTF-8) or Parquet" in err


def test_latin1_file_is_decoded_with_a_reported_fallback(tmp_path: Path, capsys) -> None:
    frame = _prd(5)
    frame.loc[3, "Gender"] = "Männlich"
    path = tmp_path / "latin1.csv"
    frame.to_csv(path, index=False, encoding="latin-1")
    code, out, _ = _check(path, capsys)
    assert code == 0 and "not valid UTF-8 (byte 0xe4 on line 5); decoded as Latin-1" in out
    result = load_customers(path)
    # Decoded right: the report quotes the cell as written, and the fold recognizes the German word.
    assert len(result.frame) == 5 and result.frame["gender"][3] == "Male"
    assert "row 4: 'Männlich'" in result.report.summary()


def test_file_not_found(tmp_path: Path, capsys) -> None:
    code, _, err = _check(tmp_path / "nope.csv", capsys)
    assert code == 2 and "file not found" in err


def test_size_limit_of_load_customers(synthetic_raw_csv: Path) -> None:
    with pytest.raises(DataError, match=r"above the 0\.0 MiB limit.*iter_customer_chunks"):
        load_customers(synthetic_raw_csv, max_bytes=10_000)


_PEAK_RSS = """
import resource, sys
from genemail.cli import run
code = run(["data", "check", sys.argv[1], "--chunksize", "20000"])
print("PEAK_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""


def _write_big_csv(path: Path, megabytes: int) -> int:
    """Repeat one synthetic chunk, changing ID and Recency, until the file has ``megabytes`` MB."""
    chunk = synthesize(20_000, 5, dirty=False)
    body = chunk.drop(columns=["ID", "Recency"]).to_csv(index=False, header=False).splitlines()
    header = "ID,Recency," + ",".join(chunk.columns.drop(["ID", "Recency"])) + "\n"
    rows = 0
    with path.open("w") as fh:
        fh.write(header)
        while fh.tell() < megabytes * 10**6:
            # Recency varies by repetition, so repeated rows are distinct customers (up to 100 repeats).
            fh.write("".join(f"{rows + i},{(rows // 20_000) % 100},{line}\n" for i, line in enumerate(body)))
            rows += len(body)
    return rows


def _peak_rss_mib(path: Path) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-c", _PEAK_RSS, str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split("PEAK_KIB")[1]) // 1024, done.stdout


@pytest.mark.integration
def test_big_files_are_streamed_with_flat_memory(tmp_path: Path) -> None:
    """Peak memory of `data check` must not grow with the file (a 200 MB file streams the same way).

    Measured: 8 MB -> ~185 MiB peak, 40 MB -> ~194 MiB (loading 40 MB at once: ~640 MiB).
    The size refusal of load_customers is covered by test_size_limit_of_load_customers.
    """
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    _write_big_csv(small, 8)
    rows = _write_big_csv(big, 40)
    small_mib, _ = _peak_rss_mib(small)
    big_mib, out = _peak_rss_mib(big)
    assert f"rows read: {rows}  rows kept: {rows}" in out and "OK:" in out
    # 5x the rows, yet the peak stays within 40 MiB (state is 12 bytes per row: ~5 MiB here).
    assert big_mib - small_mib < 40, (small_mib, big_mib)
