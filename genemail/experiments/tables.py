"""Read a CSV, NDJSON, JSON or Parquet file as records, in chunks, each record with its position.

Send logs and outcome events come in all these formats. Errors must name the line, so records are
read with the standard library's ``csv`` and ``json`` (``csv.reader.line_num`` stays exact even
when a quoted email body spans several lines) and Parquet row by row through pyarrow. JSON documents
(an array, an API response page) are read whole and their records numbered 1, 2, ...; what shapes
are accepted is :mod:`genemail.experiments.jsonshapes`. Encoding and separator detection reuse the
customer loader's :func:`genemail.data.files.inspect_file`; a file cut inside a multi-byte UTF-8
character is refused naming the byte offset, before any record is read.
"""

from __future__ import annotations

import codecs
import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.data.files import inspect_file
from genemail.errors import DataError
from genemail.experiments.jsonshapes import ACCEPTED_SHAPES, flatten, records_of

if TYPE_CHECKING:
    import pandas as pd

JSONL_SUFFIXES = {".jsonl", ".ndjson"}
JSON_SUFFIXES = {".json"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
DEFAULT_CHUNK_ROWS = 10_000
_BLOCK = 2**20
_FIX = ("export it again as CSV (UTF-8, with a header line), NDJSON (one JSON object per line), a JSON array or "
        "API page, or Parquet")

__all__ = ["Chunk", "TableFormat", "flatten", "header", "iter_chunks", "table_format", "utf8_error", "write_table"]


@dataclass(frozen=True)
class TableFormat:
    """What kind of table a file is; ``unit`` is how positions are named in messages."""

    kind: str  # "csv" | "jsonl" | "json" | "parquet"
    encoding: str | None = None
    sep: str | None = None

    @property
    def unit(self) -> str:
        """``"row"`` for Parquet, ``"record"`` for a JSON document, ``"line"`` otherwise."""
        return {"parquet": "row", "json": "record"}.get(self.kind, "line")


@dataclass
class Chunk:
    """Up to ``chunk_rows`` records; ``errors`` are (position, message) of lines that are not records."""

    positions: list[int] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records) + len(self.errors)


def utf8_error(path: Path) -> tuple[int, bool] | None:
    """``(byte offset, at_end)`` of the first byte that is not UTF-8, or ``None`` when all of it is.

    ``at_end`` is true when the file ends inside a multi-byte character (a cut-short download).
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # bytes before the current block
    with Path(path).open("rb") as fh:
        while block := fh.read(_BLOCK):
            pending = len(decoder.getstate()[0])  # bytes of a character begun in the previous block
            try:
                decoder.decode(block)
            except UnicodeDecodeError as err:  # positions count from the pending bytes
                return offset - pending + err.start, False
            offset += len(block)
    pending = len(decoder.getstate()[0])
    return (offset - pending, True) if pending else None


def _refuse_bad_utf8(path: Path, *, required: bool) -> None:
    """Refuse a file cut inside a UTF-8 character (always) or holding non-UTF-8 bytes (when ``required``)."""
    problem = utf8_error(path)
    if problem is None:
        return
    offset, at_end = problem
    if at_end:
        raise DataError(f"the file ends inside a multi-byte UTF-8 character (at byte {offset:,} of "
                        f"{path.stat().st_size:,}): it was cut short", where=str(path),
                        fix="download or export the file again; nothing from it was stored")
    if required:
        raise DataError(f"is not UTF-8 text (byte {offset:,} is not valid UTF-8)", where=str(path),
                        fix="JSON is UTF-8: export it again as UTF-8; nothing from it was stored")


def table_format(path: Path) -> TableFormat:
    """Refuse a directory, a missing or empty file; tell CSV, NDJSON, JSON and Parquet apart."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p.name for p in path.iterdir()
                       if p.suffix.lower() in (*CSV_SUFFIXES, *JSONL_SUFFIXES, *JSON_SUFFIXES, *PARQUET_SUFFIXES))
        hint = f" (it holds {', '.join(found[:3])}{', ...' if len(found) > 3 else ''})" if found else ""
        raise DataError(f"is a directory, not a file{hint}", where=str(path),
                        fix="pass one file; ingest the files of a folder one at a time (each is stored whole or "
                            "not at all)")
    if not path.is_file():
        raise DataError("file not found", where=str(path), fix="check the path; " + _FIX)
    if path.stat().st_size == 0:
        raise DataError("file is empty (0 bytes)", where=str(path), fix=_FIX)
    with path.open("rb") as fh:
        head = fh.read(4096)
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES or head.startswith(b"PAR1"):
        return TableFormat("parquet")
    start = head.lstrip(b"\xef\xbb\xbf \r\n\t")[:1]
    if suffix in JSONL_SUFFIXES or suffix in JSON_SUFFIXES or (suffix not in CSV_SUFFIXES and start in (b"{", b"[")):
        _refuse_bad_utf8(path, required=True)
        return TableFormat(_json_kind(path, suffix), encoding="utf-8-sig")
    try:
        found = inspect_file(path)
    except DataError as err:  # its fix speaks of customer tables; keep what it found, say what to do here
        raise DataError(err.what, where=err.where, fix=_FIX) from None
    if found.encoding in ("utf-8", "utf-8-sig", "latin-1"):
        _refuse_bad_utf8(path, required=False)  # Latin-1 is a fallback for text, never for a cut file
    return TableFormat("csv", encoding=found.encoding, sep=found.sep)


def _json_kind(path: Path, suffix: str) -> str:
    """``"jsonl"`` when the first line is a JSON value by itself (NDJSON), else ``"json"`` (one document)."""
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    with path.open(encoding="utf-8-sig") as fh:
        first = next((line for line in fh if line.strip()), "")
    try:
        json.loads(first)
    except json.JSONDecodeError:
        return "json"  # a document spread over lines (pretty-printed)
    return "jsonl"


def iter_chunks(path: Path, fmt: TableFormat | None = None, *,
                chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
    """Yield the file's records in chunks of at most ``chunk_rows`` (header excluded)."""
    path = Path(path)
    fmt = fmt or table_format(path)
    reader = {"csv": _csv_records, "jsonl": _jsonl_records, "json": _json_records,
              "parquet": _parquet_records}[fmt.kind]
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
    """Column names: the CSV header, the Parquet schema, or every key of every JSON record in the file.

    JSON records need not share keys (a ``revenue`` only on conversions, which may all come last),
    so the whole file is read: a key first seen on the last line is still a column.
    """
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
    reader = _json_records if fmt.kind == "json" else _jsonl_records
    for _, record, error in reader(path, fmt):
        if error is None:
            names.update(dict.fromkeys(record))
    return list(names)


Record = tuple[int, dict[str, Any], str | None]


def _csv_records(path: Path, fmt: TableFormat) -> Iterator[Record]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # email bodies can exceed the 128 KiB default
    with path.open(encoding=fmt.encoding, newline="") as fh:
        # strict: a quote never closed is an error, not a field that silently swallows the rest of the file
        reader = csv.reader(fh, delimiter=fmt.sep, strict=True)
        start = 1
        try:
            names = next(reader, None)
            if not names:
                raise DataError("file has no header line", where=str(path), fix=_FIX)
            names = [name.strip().lstrip("\ufeff") for name in names]
            start = reader.line_num + 1
            for values in reader:
                line, start = start, reader.line_num + 1
                if not any(v.strip() for v in values):
                    continue  # blank line
                if len(values) != len(names):
                    yield line, {}, f"has {len(values)} fields, the header has {len(names)}"
                    continue
                yield line, dict(zip(names, values)), None
        except csv.Error as err:
            raise DataError(f"cannot be read as CSV ({err}) in the record that starts on line {start}",
                            where=f"{path}, line {reader.line_num}",
                            fix="check the quoting there (a quote opened and never closed?); nothing from the file "
                                "was stored; " + _FIX) from None
        except UnicodeDecodeError as err:  # the encoding was sniffed from valid text; this byte is not
            raise DataError(f"is not {fmt.encoding} text after line {reader.line_num} ({err.reason})",
                            where=str(path), fix="export it again as UTF-8; nothing from it was stored") from None


def _jsonl_records(path: Path, fmt: TableFormat) -> Iterator[Record]:
    with path.open(encoding=fmt.encoding or "utf-8-sig", errors="strict") as fh:
        for line_no, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as err:
                yield line_no, {}, f"is not valid JSON ({err.msg}, column {err.colno})"
                continue
            records = records_of(value)
            if records is None:
                yield line_no, {}, f"is a JSON {type(value).__name__} that holds no event objects"
                continue
            for record in records:
                yield line_no, record, None


def _json_records(path: Path, fmt: TableFormat) -> Iterator[Record]:
    """A whole JSON document: an array of events, or of pages, or one page."""
    with path.open(encoding=fmt.encoding or "utf-8-sig") as fh:
        try:
            value = json.load(fh)
        except json.JSONDecodeError as err:
            raise DataError(f"is not valid JSON ({err.msg})", where=f"{path}, line {err.lineno}, column {err.colno}",
                            fix=f"export it again; accepted: {ACCEPTED_SHAPES}") from None
    records = records_of(value)
    if records is None:
        keys = ", ".join(list(value)[:8]) if isinstance(value, dict) else type(value).__name__
        raise DataError(f"is a JSON document that holds no event records (top level: {keys})", where=str(path),
                        fix=f"accepted: {ACCEPTED_SHAPES}")
    for number, record in enumerate(records, start=1):
        yield number, record, None


def _parquet_file(path: Path) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for corrupt files
        raise DataError(f"not a readable Parquet file ({err})", where=str(path), fix=_FIX) from None


def _parquet_records(path: Path, fmt: TableFormat) -> Iterator[Record]:
    row = 0
    try:
        for batch in _parquet_file(path).iter_batches(batch_size=DEFAULT_CHUNK_ROWS):
            for record in batch.to_pylist():
                row += 1
                yield row, flatten(record), None
    except DataError:
        raise
    except Exception as err:  # a damaged row group: refuse the file, naming where reading stopped
        raise DataError(f"not a readable Parquet file after row {row:,} ({err})", where=str(path),
                        fix=_FIX + "; nothing from it was stored") from None


def write_table(frame: "pd.DataFrame", path: Path) -> Path:
    """Write ``frame`` as CSV (``.tsv``: tab separated), JSONL or Parquet by suffix, atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (*JSONL_SUFFIXES, *JSON_SUFFIXES, *CSV_SUFFIXES, *PARQUET_SUFFIXES):
        raise DataError(f"unknown suffix {suffix!r}", where=str(path), fix="name the file .csv, .jsonl or .parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")  # never a half-written file under the real name
    if suffix in (*JSONL_SUFFIXES, *JSON_SUFFIXES):
        frame.to_json(partial, orient="records", lines=True, force_ascii=False)
    elif suffix in PARQUET_SUFFIXES:
        frame.to_parquet(partial, index=False)
    else:
        frame.to_csv(partial, index=False, sep="\t" if suffix == ".tsv" else ",")
    partial.replace(path)
    return path
