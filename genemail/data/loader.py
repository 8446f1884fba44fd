"""Load customer files (PRD or raw Kaggle schema; CSV or Parquet) into the internal schema.

Reading goes in five steps, each small enough to test on its own:

1. :func:`genemail.data.files.inspect_file` looks at the bytes: directory, empty, binary, Parquet,
   encoding and separator.
2. :func:`match_columns` matches the header case-insensitively and decides the source schema.
3. :func:`genemail.data.rows.scan_file`, one pre-pass over the file: rows with the wrong number of
   fields, and the whole date column, from which :func:`genemail.data.dates.plan_dates` decides the
   day/month order, the plausible range and the default reference date.
4. :mod:`genemail.data.cleaning` repairs what it can, visibly, and refuses the rest.
5. :func:`genemail.data.normalize.normalize` derives the internal columns of :mod:`genemail.data.schema`.

:func:`iter_customer_chunks` streams a file of any size with flat memory (duplicates across chunks
are found through 64-bit row hashes); :func:`load_customers` reads a file of at most ``max_bytes``
at once. The reference date for age and tenure defaults to the latest plausible ``Dt_Customer``.
A required column blank in every row refuses the file (after the last chunk, when streaming).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from genemail.data import cleaning as cl
from genemail.data.cleaning import CleaningConfig, CleaningReport, DatePlan
from genemail.data.files import FileFormat, inspect_file, read_header
from genemail.data.normalize import normalize
from genemail.data.rows import RowScan, check_shape, read_chunks, scan_file
from genemail.data.schema import (
    CAMPAIGN_COLUMNS, KAGGLE_REQUIRED, OPTIONAL_COLUMNS, PRD_REQUIRED, RAW_TEXT_COLUMNS,
)
from genemail.data.text import cut, show
from genemail.errors import ConfigError, DataError

__all__ = ["FileFormat", "LoadResult", "clean_frame", "inspect_file", "iter_customer_chunks", "load_customers",
           "match_columns", "normalize", "read_header"]

DEFAULT_MAX_BYTES = 256 * 2**20  # load_customers reads at once; bigger files go through iter_customer_chunks
TEXT_COLUMNS = set(RAW_TEXT_COLUMNS)


@dataclass
class LoadResult:
    """A cleaned frame in the internal schema, the report of how it was cleaned, and the source schema."""

    frame: pd.DataFrame
    report: CleaningReport
    source_schema: str  # "prd" | "kaggle"


@dataclass(frozen=True)
class _Plan:
    """What holds for every chunk of one file: schema, reference date, date plan, row shapes."""

    source: str
    schema: str
    ref: pd.Timestamp | None
    dates: DatePlan
    config: CleaningConfig
    scan: RowScan | None = None


# ------------------------------------------------------------------------------------ header


def match_columns(columns: list[str], source: str) -> tuple[str, dict[str, str]]:
    """Match header names case-insensitively; return the schema and ``{file name: canonical name}``.

    Raises :class:`DataError` naming the missing columns of the closest schema.
    """
    known = {c.lower(): c for c in (*KAGGLE_REQUIRED, *PRD_REQUIRED, *OPTIONAL_COLUMNS)}
    mapping: dict[str, str] = {}
    for name in columns:
        canonical = known.get(str(name).strip().lstrip("\ufeff").lower())
        if canonical is None:
            continue
        if canonical in mapping.values():
            first = next(k for k, v in mapping.items() if v == canonical)
            raise DataError(f"columns {show(first)} and {show(name)} both match {canonical!r}",
                            where=f"{source}, header", fix="keep one of them (names are matched case-insensitively)")
        mapping[name] = canonical
    found = set(mapping.values())
    missing = {s: [c for c in req if c not in found] for s, req in (("kaggle", KAGGLE_REQUIRED), ("prd", PRD_REQUIRED))}
    for schema in ("kaggle", "prd"):
        if not missing[schema]:
            return schema, mapping
    closest = min(missing, key=lambda s: len(missing[s]))
    shown = ", ".join(cut(str(c), 40) for c in columns[:12]) + (", ..." if len(columns) > 12 else "")
    raise DataError(
        f"missing required columns for the {closest} schema: {', '.join(missing[closest])} (found: {shown})",
        where=f"{source}, header",
        fix=f"add or rename those columns; the PRD schema needs {', '.join(PRD_REQUIRED)}; "
        "the Kaggle schema needs its raw columns (see docs/DATA.md)",
    )


# ------------------------------------------------------------------------- per-file state


class _SortedRuns:
    """A growing set of 64-bit keys with payload columns, kept as a few sorted runs.

    Each chunk adds one sorted run; a run is merged into the one before it while that one is at
    most twice its size (a log-structured merge), so there are at most ~log2(chunks) runs to search
    and each key is copied only ~log2(chunks) times as the file grows.
    """

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, ...]] = []  # (sorted keys, payload...) per run

    def add(self, keys: np.ndarray, *payload: np.ndarray) -> None:
        """Add ``keys`` (any order) with their payload columns."""
        if len(keys) == 0:
            return
        order = np.argsort(keys, kind="stable")
        self.runs.append((keys[order], *(p[order] for p in payload)))
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0]):
            newer, older = self.runs.pop(), self.runs.pop()
            merged = [np.concatenate([a, b]) for a, b in zip(older, newer)]
            order = np.argsort(merged[0], kind="stable")  # two sorted runs: a linear merge
            self.runs.append(tuple(column[order] for column in merged))

    def find(self, values: np.ndarray) -> list[tuple[np.ndarray, tuple[np.ndarray, ...]]]:
        """Per run: a mask of the ``values`` found in it, and their payload values."""
        order = np.argsort(values, kind="stable")  # sorted queries walk each run in order: cache friendly
        queries = values[order]
        found = []
        for keys, *payload in self.runs:
            pos = np.empty(len(values), dtype=np.int64)
            pos[order] = np.searchsorted(keys, queries).clip(max=len(keys) - 1)
            hit = keys[pos] == values
            found.append((hit, tuple(p[pos[hit]] for p in payload)))
        return found


class _SeenRows:
    """Rows and IDs of earlier chunks, as 64-bit hashes in sorted runs (:class:`_SortedRuns`).

    Memory is 8 bytes per kept row (+8 for the ID's row and chunk numbers). Two different rows
    share a hash with probability ~n^2/2^65 (about 1e-7 for 2M rows): accepted.
    """

    def __init__(self) -> None:
        self.rows = _SortedRuns()
        self.ids = _SortedRuns()  # payload: row number, chunk number
        self.chunks = 0

    def duplicate_rows(self, hashes: np.ndarray) -> np.ndarray:
        """True for rows equal (but for ID) to an earlier row of this or an earlier chunk."""
        dup = pd.Series(hashes).duplicated().to_numpy().copy()  # to_numpy may return a read-only view
        for hit, _ in self.rows.find(hashes):
            dup |= hit
        self.rows.add(hashes[~dup])
        return dup

    def check_ids(self, ids: pd.Series, source: str) -> None:
        """Refuse two different customers with the same ID (naming the rows)."""
        hashes = pd.util.hash_pandas_object(ids, index=False).to_numpy()
        dup = ids.duplicated(keep=False).to_numpy()
        if dup.any():
            the_id = ids[dup].iloc[0]
            self._refuse(the_id, list(ids.index[ids == the_id][:3]), int(ids.duplicated().sum()), source)
        earlier = np.full(len(hashes), -1, dtype=np.int64)  # row number of the same ID in an earlier chunk
        chunk = np.full(len(hashes), np.iinfo(np.int64).max)
        for hit, (rows, chunks) in self.ids.find(hashes):
            earlier[hit], chunk[hit] = rows, chunks
        if (earlier >= 0).any():
            # Named as before runs were merged: the earliest chunk with a reused ID, its first reuse.
            first = chunk == chunk.min()
            i = int(np.argmax(first))
            self._refuse(ids.iloc[i], [int(earlier[i]), int(ids.index[i])], int(first.sum()), source)
        self.ids.add(hashes, ids.index.to_numpy(dtype=np.int64).astype(np.uint32),
                     np.full(len(hashes), self.chunks, dtype=np.uint32))
        self.chunks += 1

    @staticmethod
    def _refuse(the_id: str, rows: list[int], n: int, source: str) -> None:
        raise DataError(
            f"ID {show(the_id)} is used by different customers (rows {', '.join(map(str, rows))}); "
            f"{n} row(s) reuse an earlier ID",
            where=f"{source}, column ID",
            fix="give every customer its own ID (rows identical but for the ID are dropped automatically)",
        )


class _BlankColumns:
    """Required columns seen with at least one value; refuses the file when one never had any."""

    def __init__(self, required: tuple[str, ...]) -> None:
        # The date plan handles the date column; empty categorical cells are counted (categories.count_empty).
        self.todo = [c for c in required if c != "Dt_Customer" and c not in cl.EMPTY_MEANS]
        self.rows = 0

    def update(self, raw: pd.DataFrame) -> None:
        self.rows += len(raw)
        if self.todo and len(raw):
            filled = raw[self.todo].notna().any()
            self.todo = [c for c in self.todo if not filled[c]]

    def check(self, source: str) -> None:
        if self.todo and self.rows:
            names = ", ".join(self.todo)
            raise DataError(
                f"required column{'s' if len(self.todo) > 1 else ''} {names} "
                f"{'are' if len(self.todo) > 1 else 'is'} blank in every one of the {self.rows} rows",
                where=f"{source}, column {self.todo[0]}",
                fix="fill the column in the export (the segmenter cannot place customers without it; "
                "docs/DATA.md lists the required columns)",
            )


def _numeric_columns(schema: str, present: set[str]) -> list[str]:
    if schema == "prd":
        return ["Age", "Income", "Familysize", "Recency"]
    fixed = [c for c in KAGGLE_REQUIRED if c not in TEXT_COLUMNS]
    return fixed + [c for c in CAMPAIGN_COLUMNS if c in present]


def _plan_dates(counts: pd.Series | None, schema: str, reference_date: pd.Timestamp | None,
                config: CleaningConfig, source: str) -> DatePlan:
    """The date plan of the file; refuses a Kaggle file whose join dates are all blank (no reference date)."""
    if schema != "kaggle":
        return DatePlan()
    plan = cl.plan_dates(counts if counts is not None else pd.Series(dtype="int64"), config, source)
    if plan.n_present == 0 and reference_date is None:
        raise DataError(
            "column Dt_Customer is blank in every row, so there is no reference date for age and tenure",
            where=f"{source}, column Dt_Customer",
            fix="fill the join dates, or pass a reference date (--reference-date 2014-06-29 / reference_date=) "
            "to read the file without them: tenure is then unknown",
        )
    return plan


# ---------------------------------------------------------------------------------- cleaning


def _clean_chunk(raw: pd.DataFrame, plan: _Plan, seen: _SeenRows) -> LoadResult:
    """Apply every cleaning rule to one raw chunk and normalize it (index = data row number)."""
    schema, source, config, ref = plan.schema, plan.source, plan.config, plan.ref
    report = CleaningReport(source=source, source_schema=schema, rows_in=len(raw))
    if plan.scan is not None and len(plan.scan.malformed):
        malformed = raw.index.isin(plan.scan.malformed)
        report.add("dropped_rows", "(row shape)", int(malformed.sum()),
                   f"wrong number of fields (the header has {plan.scan.n_fields}): row dropped",
                   plan.scan.malformed_examples(raw.index[malformed].to_numpy()))
        raw = raw[~malformed]
    frame = cl.clean_ids(raw.copy(), report, source, config)
    numeric = _numeric_columns(schema, set(frame.columns))
    frame = cl.coerce_numeric(frame, numeric, report, source, config)
    if schema == "kaggle":
        frame = cl.coerce_dates(frame, "Dt_Customer", plan.dates, report, source, config)
        if ref is None:
            report.note("no readable Dt_Customer: age and tenure left missing (pass reference_date)")
    for col in frame.columns.intersection(list(TEXT_COLUMNS - {"ID", "Dt_Customer"})):
        frame[col] = frame[col].astype("string").str.strip()
    # Duplicates are judged on the values as read (before any rule), so counts match the raw file.
    content = frame.drop(columns="ID")
    duplicate = seen.duplicate_rows(pd.util.hash_pandas_object(content, index=False).to_numpy())
    cl.report_constant_columns(frame, set(numeric) | TEXT_COLUMNS, report)
    frame = cl.apply_rules(frame, schema, ref, report, source, config)
    report.add("dropped_rows", "(all but ID)", int(duplicate.sum()),
               "identical to an earlier row except ID: kept the first",
               [f"row {r}" for r in frame.index[duplicate][:cl.MAX_EXAMPLES]])
    frame = frame[~duplicate]
    seen.check_ids(frame["ID"], source)
    out = normalize(frame, schema, ref)
    report.rows_out = len(out)
    report.reference_date = None if ref is None or pd.isna(ref) else ref.date().isoformat()
    if plan.dates.order_note:
        report.note(plan.dates.order_note)
    return LoadResult(out, report, schema)


# -------------------------------------------------------------------------------- public API


def _as_timestamp(reference_date: object) -> pd.Timestamp | None:
    if reference_date is None:
        return None
    if isinstance(reference_date, (str, date, datetime, pd.Timestamp)):
        try:
            return pd.Timestamp(reference_date).normalize()
        except (ValueError, TypeError):
            pass
    raise ConfigError(f"reference_date={reference_date!r} is invalid",
                      fix="pass a date such as '2014-12-06' (or None for the latest Dt_Customer in the file)")


def _iter_results(path: str | Path, chunksize: int | None, reference_date: object, config: CleaningConfig | None,
                  max_bytes: int | None) -> Iterator[LoadResult]:
    path = Path(path)
    source, config = str(path), config or CleaningConfig()
    ref = _as_timestamp(reference_date)
    fmt = inspect_file(path, max_bytes=max_bytes)
    columns = read_header(path, fmt)
    schema, mapping = match_columns(columns, source)
    ignored = [str(c) for c in columns if c not in mapping]
    date_column = next((k for k, v in mapping.items() if v == "Dt_Customer"), None) if schema == "kaggle" else None
    scan = scan_file(path, fmt, columns, date_column, source)
    if scan.n_rows == 0:
        raise DataError("file has a header but no data rows", where=f"{path}, line 2",
                        fix="export the customer rows too, not just the header")
    check_shape(scan, fmt.sep, source, config)
    dates = _plan_dates(scan.date_counts, schema, ref, config, source)
    plan = _Plan(source, schema, ref if ref is not None else dates.latest, dates, config, scan)
    seen, blank, offset = _SeenRows(), _BlankColumns(PRD_REQUIRED if schema == "prd" else KAGGLE_REQUIRED), 0
    for raw in read_chunks(path, fmt, mapping, chunksize, source):
        offset += len(raw)
        blank.update(raw)
        if raw.empty:
            continue
        result = _clean_chunk(raw, plan, seen)
        for note in fmt.notes:
            result.report.note(note)
        if ignored:
            result.report.note(f"ignored columns not in the schema: {', '.join(cut(c, 40) for c in ignored)}")
        if ref is None and result.report.reference_date:
            result.report.note(
                "reference date = latest plausible Dt_Customer in the file (override with reference_date)")
        yield result
    blank.check(source)
    if offset != scan.n_rows:  # pandas and pyarrow disagree on what a row is: the row numbers cannot be trusted
        raise DataError(f"the file's rows could not be counted consistently ({offset} vs {scan.n_rows})",
                        where=source, fix="check the quoting of cells that hold line breaks or the delimiter")


def iter_customer_chunks(path: str | Path, *, chunksize: int = 100_000, reference_date: object = None,
                         config: CleaningConfig | None = None) -> Iterator[LoadResult]:
    """Stream a customer file of any size, ``chunksize`` rows at a time, with flat memory.

    Duplicate customers are found across chunks (by row hash); Income medians for imputation are
    per chunk. Merge the chunks' reports with ``CleaningReport.merge``. A chunk may come out empty
    (every row dropped); a file whose required column is blank throughout is refused after its
    last chunk.
    """
    if not isinstance(chunksize, int) or chunksize < 1:  # checked now, not at the first next()
        raise ConfigError(f"chunksize={chunksize!r} is invalid", fix="pass a positive number of rows")
    return _iter_results(path, chunksize, reference_date, config, max_bytes=None)


def load_customers(path: str | Path, *, reference_date: object = None, config: CleaningConfig | None = None,
                   max_bytes: int | None = DEFAULT_MAX_BYTES) -> LoadResult:
    """Load, clean and normalize a whole customer file (CSV or Parquet, PRD or Kaggle schema).

    ``reference_date`` (age and tenure) defaults to the latest plausible ``Dt_Customer`` in the file.
    Files above ``max_bytes`` are refused with a size message; stream them with
    :func:`iter_customer_chunks`.
    """
    results = list(_iter_results(path, None, reference_date, config, max_bytes))
    return results[0]


def clean_frame(raw: pd.DataFrame, *, reference_date: object = None, config: CleaningConfig | None = None,
                source: str = "<frame>") -> LoadResult:
    """Clean and normalize an in-memory raw table (a synthetic table, the app's new-customer form).

    The same rules as for files apply (IDs, numbers, dates, folds), so nothing reaches later stages
    unchecked; only the file-level checks (row shapes, columns blank throughout) do not apply.
    """
    config = config or CleaningConfig()
    schema, mapping = match_columns(list(raw.columns), source)
    frame = raw[list(mapping)].rename(columns=mapping)
    if frame.empty:
        raise DataError("table has no rows", where=source, fix="pass a table with at least one customer")
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    ref = _as_timestamp(reference_date)
    counts = frame["Dt_Customer"].value_counts(dropna=True) if schema == "kaggle" else None
    dates = _plan_dates(counts, schema, ref, config, source)
    plan = _Plan(source, schema, ref if ref is not None else dates.latest, dates, config)
    return _clean_chunk(frame, plan, _SeenRows())
