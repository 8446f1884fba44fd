"""Rows of a customer file: one pre-pass for their shape and the date column, then the chunks.

:func:`scan_file` reads the file once with pyarrow's CSV reader, keeping a single column (the join
date, for :func:`genemail.data.dates.plan_dates`), and lists the rows whose number of fields
differs from the header's. pandas would read such rows silently (a short row padded with missing
values, a long one cut), so a row from another export or with an unquoted delimiter would become a
wrong customer. Instead:

* rows that split into the header's fields with *another* delimiter refuse the file (two exports
  were concatenated: which customers are right cannot be guessed);
* other malformed rows are dropped and named, up to ``max_malformed_fraction`` of the rows (1% by
  default); more refuse the file.

:func:`read_chunks` then yields raw chunks with canonical column names, indexed by data row number
(pyarrow and pandas count rows alike: blank lines are skipped, a quoted newline stays in its row),
with the malformed rows removed. Numbers are read with no decimal mark, so ``58.138`` arrives as
text for :mod:`genemail.data.numbers` to judge instead of as the float 58.138.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from genemail.data.files import FileFormat
from genemail.data.report import MAX_EXAMPLES, CleaningConfig
from genemail.data.schema import RAW_TEXT_COLUMNS
from genemail.data.text import cut, show
from genemail.errors import DataError

MAX_TRACKED = 100_000  # malformed rows remembered; a file with more is refused anyway
SCAN_BLOCK_BYTES = 4 << 20  # the pre-pass reads 4 MiB at a time
OTHER_SEPARATORS = (",", ";", "\t", "|")
NO_DECIMAL_MARK = "\x01"  # see the module docstring


@dataclass(frozen=True)
class RowScan:
    """What the pre-pass found: row count, malformed rows, and the date column's distinct values."""

    n_rows: int
    n_fields: int
    n_malformed: int = 0
    malformed: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # sorted row numbers
    malformed_fields: dict[int, int] = field(default_factory=dict)  # row -> fields found (first few)
    other_separator: dict[int, str] = field(default_factory=dict)  # row -> the delimiter it uses instead
    date_counts: pd.Series | None = None  # distinct date cell -> count

    def malformed_examples(self, rows: np.ndarray) -> list[str]:
        """``row 7 (line 8): 31 fields`` for the first few of ``rows``."""
        shown = [r for r in rows[:MAX_EXAMPLES] if r in self.malformed_fields]
        return [f"row {r} (line {r + 1}): {self.malformed_fields[r]} fields" for r in shown]


def scan_file(path: Path, fmt: FileFormat, header: list[str], date_column: str | None, source: str) -> RowScan:
    """One pass over the file: row shapes (CSV) and the distinct values of ``date_column``."""
    if fmt.kind == "parquet":
        return _scan_parquet(path, date_column, len(header), source)
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(len(header))]  # own names: immune to duplicate or odd header names
    keep = names[header.index(date_column)] if date_column in header else names[0]
    state = _ShapeHandler(fmt.sep or ",", len(header))
    n_rows, parts = 0, []
    try:
        # Streamed block by block (flat memory); only the distinct dates of each block are kept.
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=SCAN_BLOCK_BYTES, column_names=names,
                                           skip_rows=1, encoding=_arrow_encoding(fmt.encoding)),
            parse_options=pacsv.ParseOptions(delimiter=fmt.sep or ",", newlines_in_values=True,
                                             invalid_row_handler=state),
            convert_options=pacsv.ConvertOptions(include_columns=[keep], column_types={keep: pa.string()},
                                                 strings_can_be_null=True),
        )
        for batch in reader:
            n_rows += batch.num_rows
            if date_column in header:
                parts.append(_value_counts(batch.column(0)))
    except (pa.ArrowInvalid, UnicodeError, OSError) as err:
        raise DataError(f"cannot split the file into rows ({cut(err)})", where=source,
                        fix="check quoting and that every line has the header's number of fields") from None
    dates = _merge_counts(parts) if date_column in header else None
    return RowScan(n_rows + state.count, len(header), state.count, np.array(state.rows, dtype=np.int64),
                   state.fields, state.other, dates)


class _ShapeHandler:
    """pyarrow's ``invalid_row_handler``: records malformed rows (pandas numbering) and skips them."""

    def __init__(self, sep: str, n_fields: int) -> None:
        self.sep, self.n_fields = sep, n_fields
        self.blank = 0  # whitespace-only lines: pandas skips them, so later row numbers shift down
        self.count = 0
        self.rows: list[int] = []
        self.fields: dict[int, int] = {}
        self.other: dict[int, str] = {}

    def __call__(self, row) -> str:  # noqa: ANN001 - pyarrow.csv.InvalidRow
        if not row.text.strip():
            self.blank += 1
            return "skip"
        number = row.number - 1 - self.blank  # pyarrow's number is the record's, header = 1
        self.count += 1
        if len(self.rows) < MAX_TRACKED:
            self.rows.append(number)
        if len(self.fields) < MAX_EXAMPLES:
            self.fields[number] = row.actual_columns
        if len(self.other) < MAX_EXAMPLES:
            for other in OTHER_SEPARATORS:
                if other != self.sep and len(next(csv.reader([row.text], delimiter=other))) == self.n_fields:
                    self.other[number] = other
                    break
        return "skip"


def _arrow_encoding(encoding: str | None) -> str:
    return "utf8" if encoding in (None, "utf-8", "utf-8-sig") else encoding  # pyarrow skips a UTF-8 BOM itself


def _value_counts(column) -> pd.Series:  # noqa: ANN001 - pyarrow Array or ChunkedArray
    import pyarrow.compute as pc

    counts = pc.value_counts(column)
    values = counts.field("values").to_pandas()
    return pd.Series(counts.field("counts").to_numpy(), index=pd.Index(values), dtype="int64")


def _merge_counts(parts: list[pd.Series]) -> pd.Series:
    """One count per distinct value over the blocks (nulls dropped)."""
    if not parts:
        return pd.Series(dtype="int64")
    merged = pd.concat(parts)
    merged = merged[merged.index.notna()]
    return merged.groupby(level=0).sum().astype("int64")


def _scan_parquet(path: Path, date_column: str | None, n_fields: int, source: str) -> RowScan:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
        dates = _value_counts(pq.read_table(path, columns=[date_column]).column(0)) if date_column else None
    except Exception as err:  # pyarrow raises several types for corrupt files
        raise DataError(f"not a readable Parquet file ({cut(err)})", where=source,
                        fix="write it again with pandas.DataFrame.to_parquet, or pass a CSV") from None
    return RowScan(meta.num_rows, n_fields, date_counts=dates)


def check_shape(scan: RowScan, sep: str | None, source: str, config: CleaningConfig) -> None:
    """Refuse a file mixing delimiters, or with more malformed rows than ``max_malformed_fraction``."""
    n_bad = scan.n_malformed
    if scan.other_separator:
        rows = ", ".join(f"row {r} (line {r + 1}) uses {show(s)}" for r, s in scan.other_separator.items())
        raise DataError(
            f"rows use different delimiters: the header uses {show(sep)}, but {rows}",
            where=source,
            fix="export the whole file again with one delimiter (cells holding it must be quoted)",
        )
    if n_bad and (n_bad > config.max_malformed_fraction * scan.n_rows or n_bad > len(scan.malformed)):
        raise DataError(
            f"{n_bad} of {scan.n_rows} rows do not have the header's {scan.n_fields} fields "
            f"({'; '.join(scan.malformed_examples(scan.malformed))})",
            where=source,
            fix="check quoting (cells holding the delimiter must be quoted) and that every line has the "
            f"header's fields; up to {config.max_malformed_fraction:.0%} of rows like these are dropped and "
            "named, more are refused",
        )


def read_chunks(path: Path, fmt: FileFormat, mapping: dict[str, str], chunksize: int | None,
                source: str) -> Iterator[pd.DataFrame]:
    """Raw chunks with canonical column names, indexed by data row number (1-based)."""
    offset = 0
    for raw in _raw_chunks(path, fmt, mapping, chunksize, source):
        raw.index = pd.RangeIndex(offset + 1, offset + 1 + len(raw))
        offset += len(raw)
        yield raw


def _raw_chunks(path: Path, fmt: FileFormat, mapping: dict[str, str], chunksize: int | None,
                source: str) -> Iterator[pd.DataFrame]:
    usecols = list(mapping)
    if fmt.kind == "parquet":
        import pyarrow.parquet as pq

        try:
            if chunksize is None:
                yield pd.read_parquet(path, columns=usecols).rename(columns=mapping)
                return
            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunksize, columns=usecols):
                yield batch.to_pandas().rename(columns=mapping)
        except Exception as err:  # a corrupt page shows only when it is read
            raise DataError(f"not a readable Parquet file ({cut(err)})", where=source,
                            fix="write it again with pandas.DataFrame.to_parquet, or pass a CSV") from None
        return
    dtype = {name: "string" for name, canonical in mapping.items() if canonical in RAW_TEXT_COLUMNS}
    try:
        reader = pd.read_csv(path, sep=fmt.sep, encoding=fmt.encoding, usecols=usecols, dtype=dtype,
                             skipinitialspace=True, decimal=NO_DECIMAL_MARK, chunksize=chunksize)
        if chunksize is None:
            yield reader.rename(columns=mapping)
            return
        for chunk in reader:
            yield chunk.rename(columns=mapping)
    except (pd.errors.ParserError, UnicodeError) as err:
        raise DataError(f"cannot split the file into columns ({cut(err)})", where=source,
                        fix="check quoting and that every line has the header's number of fields") from None
