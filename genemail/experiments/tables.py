"""Read a CSV, JSONL or Parquet file as records, in chunks, each record with its line (or row) number.

Send logs and outcome events come in all three formats. Errors must name the line, so records are
read with the standard library's ``csv`` and ``json`` (``csv.reader.line_num`` stays exact even
when a quoted email body spans several lines) and Parquet row by row through pyarrow. Encoding and
separator detection reuse the customer loader's :func:`genemail.data.loader.inspect_file`.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
DEFAULT_CHUNK_ROWS = 10_000
HEADER_SCAN_RECORDS = 10_000  # JSONL has no header: its columns are the keys of this many first records
_FIX = "export it again as CSV (UTF-8, with a header line), JSONL (one JSON object per line) or Parquet"


@dataclass(frozen=True)
class TableFormat:
    """What kind of table a file is; ``unit`` is how positions are named in messages."""

    kind: str  # "csv" | "jsonl" | "parquet"
    encoding: str | None = None
    sep: str | None = None

    @property
    def unit(self) -> str:
        """``"row"`` for Parquet (no lines), ``"line"`` otherwise."""
        return "row" if self.kind == "parquet" else "line"


@dataclass
class Chunk:
    """Up to ``chunk_rows`` records; ``errors`` are (position, message) of lines that are not records."""

    positions: list[int] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records) + len(self.errors)


def table_format(path: Path) -> TableFormat:
    """Refuse a missing or empty file; tell CSV, JSONL and Parquet apart by suffix, then by content."""
    from genemail.data.loader import inspect_file

    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", where=str(path), fix="check the path; " + _FIX)
    if path.stat().st_size == 0:
        raise DataError("file is empty (0 bytes)", where=str(path), fix=_FIX)
    with path.open("rb") as fh:
        head = fh.read(4096)
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES or head.startswith(b"PAR1"):
        return TableFormat("parquet")
    if suffix in JSONL_SUFFIXES or (suffix not in CSV_SUFFIXES and head.lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"{")):
        return TableFormat("jsonl", encoding="utf-8-sig")
    try:
        found = inspect_file(path)
    except DataError as err:  # its fix speaks of customer tables; keep what it found, say what to do here
        raise DataError(err.what, where=err.where, fix=_FIX) from None
    return TableFormat("csv", encoding=found.encoding, sep=found.sep)


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested JSON objects become dotted keys (``{"user-variables": {"id": 1}}`` -> ``user-variables.id``)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def iter_chunks(path: Path, fmt: TableFormat | None = None, *,
                chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
    """Yield the file's records in chunks of at most ``chunk_rows`` (header excluded)."""
    path = Path(path)
    fmt = fmt or table_format(path)
    reader = {"csv": _csv_records, "jsonl": _jsonl_records, "parquet": _parquet_records}[fmt.kind]
    chunk = Chunk()
    for position, record, error in reader(path, fmt):
        if error is None:
            chunk.positions.append(position)
            chunk.records.append(record)
        else:
            chunk.errors.append((position, error))
        if len(chunk) >= chunk_rows:
            yield chunk
            chunk = Chunk()
    if len(chunk):
        yield chunk


def header(path: Path, fmt: TableFormat | None = None) -> list[str]:
    """Column names: the CSV header, the Parquet schema, or the keys of the first JSONL records."""
    path = Path(path)
    fmt = fmt or table_format(path)
    if fmt.kind == "parquet":
        return list(_parquet_file(path).schema_arrow.names)
    if fmt.kind == "csv":
        with path.open(encoding=fmt.encoding, newline="") as fh:
            first = next(csv.reader(fh, delimiter=fmt.sep), None)
        if not first:
            raise DataError("file has no header line", where=str(path), fix=_FIX)
        return [name.strip().lstrip("\ufeff") for name in first]
    names: dict[str, None] = {}
    for count, (_, record, error) in enumerate(_jsonl_records(path, fmt)):
        if error is None:
            names.update(dict.fromkeys(record))
        if count >= HEADER_SCAN_RECORDS:  # optional keys (revenue) may appear only on some lines
            break
    return list(names)


Record = tuple[int, dict[str, Any], str | None]


def _csv_records(path: Path, fmt: TableFormat) -> Iterator[Record]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # email bodies can exceed the 128 KiB default
    with path.open(encoding=fmt.encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=fmt.sep)
        names = next(reader, None)
        if not names:
            raise DataError("file has no header line", where=str(path), fix=_FIX)
        names = [name.strip().lstrip("\ufeff") for name in names]
        start = reader.line_num + 1
        try:
            for values in reader:
                line, start = start, reader.line_num + 1
                if not any(v.strip() for v in values):
                    continue  # blank line
                if len(values) != len(names):
                    yield line, {}, f"has {len(values)} fields, the header has {len(names)}"
                    continue
                yield line, dict(zip(names, values)), None
        except csv.Error as err:
            raise DataError(f"cannot be read as CSV ({err})", where=f"{path}, line {reader.line_num}",
                            fix="check the quoting there; " + _FIX) from None


def _jsonl_records(path: Path, fmt: TableFormat) -> Iterator[Record]:
    with path.open(encoding=fmt.encoding or "utf-8-sig", errors="strict") as fh:
        try:
            for line_no, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as err:
                    yield line_no, {}, f"is not valid JSON ({err.msg}, column {err.colno})"
                    continue
                if not isinstance(value, dict):
                    yield line_no, {}, f"is a JSON {type(value).__name__}, not an object"
                    continue
                yield line_no, flatten(value), None
        except UnicodeDecodeError as err:
            raise DataError(f"is not UTF-8 text ({err.reason})", where=str(path), fix=_FIX) from None


def _parquet_file(path: Path) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for corrupt files
        raise DataError(f"not a readable Parquet file ({err})", where=str(path), fix=_FIX) from None


def _parquet_records(path: Path, fmt: TableFormat) -> Iterator[Record]:
    row = 0
    for batch in _parquet_file(path).iter_batches(batch_size=DEFAULT_CHUNK_ROWS):
        for record in batch.to_pylist():
            row += 1
            yield row, flatten(record), None


def write_table(frame: "pd.DataFrame", path: Path) -> Path:
    """Write ``frame`` as CSV (``.tsv``: tab separated), JSONL or Parquet by suffix, atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (*JSONL_SUFFIXES, *CSV_SUFFIXES, *PARQUET_SUFFIXES):
        raise DataError(f"unknown suffix {suffix!r}", where=str(path), fix="name the file .csv, .jsonl or .parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")  # never a half-written file under the real name
    if suffix in JSONL_SUFFIXES:
        frame.to_json(partial, orient="records", lines=True, force_ascii=False)
    elif suffix in PARQUET_SUFFIXES:
        frame.to_parquet(partial, index=False)
    else:
        frame.to_csv(partial, index=False, sep="\t" if suffix == ".tsv" else ",")
    partial.replace(path)
    return path
