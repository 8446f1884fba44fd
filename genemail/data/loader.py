"""Load customer files (PRD or raw Kaggle schema; CSV or Parquet) into the internal schema.

Reading goes in four steps, each small enough to test on its own:

1. :func:`inspect_file` looks at the bytes: empty, binary, Parquet, encoding (UTF-8 with or without
   a byte-order mark, UTF-16, else a reported Latin-1 fallback) and the separator (sniffed).
2. :func:`match_columns` matches the header case-insensitively and decides the source schema.
3. :mod:`genemail.data.cleaning` repairs what it can, visibly, and refuses the rest.
4. :func:`normalize` derives the internal columns of :mod:`genemail.data.schema`.

:func:`iter_customer_chunks` streams a file of any size with flat memory (duplicates across chunks
are found through 64-bit row hashes); :func:`load_customers` reads a file of at most ``max_bytes``
at once. The reference date for age and tenure defaults to the latest ``Dt_Customer`` in the file.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from genemail.data import cleaning as cl
from genemail.data.cleaning import CleaningConfig, CleaningReport
from genemail.data.schema import (
    COLUMN_NAMES, DTYPES, KAGGLE_REQUIRED, PRD_REQUIRED, PURCHASE_CHANNELS, SPEND_CATEGORIES,
)
from genemail.errors import ConfigError, DataError

DEFAULT_MAX_BYTES = 256 * 2**20  # load_customers reads at once; bigger files go through iter_customer_chunks
CAMPAIGN_COLUMNS: tuple[str, ...] = tuple(f"AcceptedCmp{i}" for i in range(1, 6)) + ("Response",)
OPTIONAL_COLUMNS: tuple[str, ...] = CAMPAIGN_COLUMNS + ("Complain", "Z_CostContact", "Z_Revenue")
SPEND_SOURCE = dict(zip(SPEND_CATEGORIES, (
    "MntWines", "MntFruits", "MntMeatProducts", "MntFishProducts", "MntSweetProducts", "MntGoldProds")))
PURCHASE_SOURCE = dict(zip(PURCHASE_CHANNELS, (
    "NumWebPurchases", "NumCatalogPurchases", "NumStorePurchases", "NumDealsPurchases")))
TEXT_COLUMNS = {"ID", "Gender", "Education", "Marital_Status", "KidAge", "Dt_Customer"}
PARQUET_SUFFIXES = {".parquet", ".pq"}


@dataclass
class LoadResult:
    """A cleaned frame in the internal schema, the report of how it was cleaned, and the source schema."""

    frame: pd.DataFrame
    report: CleaningReport
    source_schema: str  # "prd" | "kaggle"


@dataclass(frozen=True)
class FileFormat:
    """What :func:`inspect_file` found out about a file."""

    kind: str  # "csv" | "parquet"
    size: int
    encoding: str | None = None
    sep: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


# ------------------------------------------------------------------------------------- bytes


def inspect_file(path: Path, *, max_bytes: int | None = None) -> FileFormat:
    """Refuse missing, empty, binary or too-big files; find the encoding and separator of a CSV."""
    if not path.is_file():
        raise DataError("file not found", where=str(path), fix="check the path (CSV or Parquet customer table)")
    size = path.stat().st_size
    if size == 0:
        raise DataError("file is empty (0 bytes)", where=str(path), fix="export the customer table again")
    if max_bytes is not None and size > max_bytes:
        raise DataError(
            f"file is {size / 2**20:.1f} MiB, above the {max_bytes / 2**20:.1f} MiB limit for loading at once",
            where=str(path),
            fix="stream it with iter_customer_chunks() (as `genemail data check` does) or raise max_bytes",
        )
    with path.open("rb") as fh:
        head = fh.read(64 * 1024)
    if head.startswith(b"PAR1") or path.suffix.lower() in PARQUET_SUFFIXES:
        return FileFormat("parquet", size)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding, notes = "utf-16", ("encoding: UTF-16 (byte-order mark)",)
    else:
        _refuse_binary(path, head)
        encoding, notes = _utf8_or_latin1(path, head)
    sample = head.decode(encoding, errors="replace")
    sep = _sniff_separator(sample)
    names = {",": "comma", ";": "semicolon", "\t": "tab"}
    return FileFormat("csv", size, encoding, sep, notes + (f"separator: {names.get(sep, repr(sep))}",))


def _refuse_binary(path: Path, head: bytes) -> None:
    if head.startswith(b"PK\x03\x04"):
        kind = "a zip archive or an Excel workbook"
    elif head.startswith(b"\x1f\x8b"):
        kind = "gzip-compressed"
    elif b"\x00" in head or sum(b < 9 or 13 < b < 32 for b in head[:4096]) > len(head[:4096]) * 0.05:
        kind = "a binary file, not text"
    else:
        return
    raise DataError(f"file is {kind}", where=str(path),
                    fix="save the customer table as CSV (UTF-8) or Parquet and pass that file")


def _utf8_or_latin1(path: Path, head: bytes) -> tuple[str, tuple[str, ...]]:
    """Validate UTF-8 over the whole file in 1 MiB blocks; fall back to Latin-1 with a note."""
    bom = head.startswith(codecs.BOM_UTF8)
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = 0  # counted block by block, so the failing line is known without re-reading
    with path.open("rb") as fh:
        while block := fh.read(2**20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as err:
                start = max(err.start, 0)
                line = newlines + block[:start].count(b"\n") + 1
                note = (f"encoding: not valid UTF-8 (byte 0x{block[start]:02x} on line {line}); "
                        "decoded as Latin-1 - check accented text, or re-export as UTF-8")
                return "latin-1", (note,)
            newlines += block.count(b"\n")
    return ("utf-8-sig", ("encoding: UTF-8 with byte-order mark",)) if bom else ("utf-8", ("encoding: UTF-8",))


def _sniff_separator(sample: str) -> str:
    lines = sample.splitlines()
    header = lines[0] if lines else ""
    try:
        sep = csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=",;\t").delimiter
        if sep in header:
            return sep
    except csv.Error:
        pass  # the Sniffer gives up on ragged samples: fall back to counting in the header
    counts = {s: header.count(s) for s in (",", ";", "\t")}
    return max(counts, key=counts.get) if max(counts.values()) else ","


# ------------------------------------------------------------------------------------ header


def read_header(path: Path, fmt: FileFormat) -> list[str]:
    """Column names as written in the file."""
    if fmt.kind == "parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.ParquetFile(path).schema_arrow.names)
        except Exception as err:  # pyarrow raises several types for corrupt files
            raise DataError(f"not a readable Parquet file ({err})", where=str(path),
                            fix="write it again with pandas.DataFrame.to_parquet, or pass a CSV") from None
    try:
        header = pd.read_csv(path, sep=fmt.sep, encoding=fmt.encoding, nrows=0)
    except pd.errors.EmptyDataError:
        raise DataError("file is empty (no header line)", where=str(path),
                        fix="export the customer table again, with its header line") from None
    return list(header.columns)


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
            raise DataError(f"columns {first!r} and {name!r} both match {canonical!r}", where=f"{source}, header",
                            fix="keep one of them (names are matched case-insensitively)")
        mapping[name] = canonical
    found = set(mapping.values())
    missing = {s: [c for c in req if c not in found] for s, req in (("kaggle", KAGGLE_REQUIRED), ("prd", PRD_REQUIRED))}
    for schema in ("kaggle", "prd"):
        if not missing[schema]:
            return schema, mapping
    closest = min(missing, key=lambda s: len(missing[s]))
    shown = ", ".join(map(str, columns[:12])) + (", ..." if len(columns) > 12 else "")
    raise DataError(
        f"missing required columns for the {closest} schema: {', '.join(missing[closest])} (found: {shown})",
        where=f"{source}, header",
        fix=f"add or rename those columns; the PRD schema needs {', '.join(PRD_REQUIRED)}; "
        "the Kaggle schema needs its raw columns (see docs/DATA.md)",
    )


# ------------------------------------------------------------------------------------ chunks


def _read_chunks(path: Path, fmt: FileFormat, mapping: dict[str, str], chunksize: int | None) -> Iterator[pd.DataFrame]:
    """Raw chunks with canonical column names; only the known columns are read."""
    usecols = list(mapping)
    if fmt.kind == "parquet":
        import pyarrow.parquet as pq

        if chunksize is None:
            yield pd.read_parquet(path, columns=usecols).rename(columns=mapping)
            return
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunksize, columns=usecols):
            yield batch.to_pandas().rename(columns=mapping)
        return
    dtype = {name: "string" for name, canonical in mapping.items() if canonical in TEXT_COLUMNS}
    try:
        reader = pd.read_csv(path, sep=fmt.sep, encoding=fmt.encoding, usecols=usecols, dtype=dtype,
                             skipinitialspace=True, chunksize=chunksize)
        if chunksize is None:
            yield reader.rename(columns=mapping)
            return
        for chunk in reader:
            yield chunk.rename(columns=mapping)
    except pd.errors.ParserError as err:
        raise DataError(f"cannot split the file into columns ({err})", where=str(path),
                        fix="check quoting and that every line has the header's number of fields") from None


def _latest_date(path: Path, fmt: FileFormat, mapping: dict[str, str], chunksize: int | None) -> pd.Timestamp | None:
    """Pre-pass for streaming: the latest Dt_Customer of the whole file (reads that column only)."""
    date_col = {k: v for k, v in mapping.items() if v == "Dt_Customer"}
    latest = None
    for chunk in _read_chunks(path, fmt, date_col, chunksize):
        value = cl.parse_dates(chunk["Dt_Customer"]).max()
        if pd.notna(value) and (latest is None or value > latest):
            latest = value
    return latest


class _SeenRows:
    """Rows and IDs of earlier chunks, as one sorted array of 64-bit hashes per chunk.

    Memory is 8 bytes per kept row (+4 for the ID's row number) and nothing is ever re-sorted or
    copied as the file grows. Two different rows share a hash with probability ~n^2/2^65 (about
    1e-7 for 2M rows): accepted.
    """

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.ids: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted hashes, their row numbers)

    @staticmethod
    def _find(values: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """Position of each value in sorted ``seen``, or -1."""
        pos = np.searchsorted(seen, values).clip(max=len(seen) - 1)
        return np.where(seen[pos] == values, pos, -1)

    def duplicate_rows(self, hashes: np.ndarray) -> np.ndarray:
        """True for rows equal (but for ID) to an earlier row of this or an earlier chunk."""
        dup = pd.Series(hashes).duplicated().to_numpy().copy()  # to_numpy may return a read-only view
        for seen in self.rows:
            dup |= self._find(hashes, seen) >= 0
        self.rows.append(np.sort(hashes[~dup]))
        return dup

    def check_ids(self, ids: pd.Series, source: str) -> None:
        """Refuse two different customers with the same ID (naming the rows)."""
        hashes = pd.util.hash_pandas_object(ids, index=False).to_numpy()
        dup = ids.duplicated(keep=False).to_numpy()
        if dup.any():
            the_id = ids[dup].iloc[0]
            self._refuse(the_id, list(ids.index[ids == the_id][:3]), int(ids.duplicated().sum()), source)
        for seen, rows in self.ids:
            pos = self._find(hashes, seen)
            if (pos >= 0).any():
                i = int(np.argmax(pos >= 0))
                self._refuse(ids.iloc[i], [int(rows[pos[i]]), int(ids.index[i])], int((pos >= 0).sum()), source)
        order = np.argsort(hashes)
        self.ids.append((hashes[order], ids.index.to_numpy(dtype=np.int64)[order].astype(np.uint32)))

    @staticmethod
    def _refuse(the_id: str, rows: list[int], n: int, source: str) -> None:
        raise DataError(
            f"ID {the_id!r} is used by different customers (rows {', '.join(map(str, rows))}); "
            f"{n} row(s) reuse an earlier ID",
            where=f"{source}, column ID",
            fix="give every customer its own ID (rows identical but for the ID are dropped automatically)",
        )


# ---------------------------------------------------------------------------------- cleaning


def _numeric_columns(schema: str, present: set[str]) -> list[str]:
    if schema == "prd":
        return ["Age", "Income", "Familysize", "Recency"]
    fixed = [c for c in KAGGLE_REQUIRED if c not in TEXT_COLUMNS]
    return fixed + [c for c in CAMPAIGN_COLUMNS if c in present]


def _clean_chunk(raw: pd.DataFrame, schema: str, ref: pd.Timestamp | None, seen: _SeenRows, source: str,
                 config: CleaningConfig) -> LoadResult:
    """Apply every cleaning rule to one raw chunk and normalize it (index = data row number)."""
    report = CleaningReport(source=source, source_schema=schema, rows_in=len(raw))
    frame = cl.drop_missing_ids(raw.copy(), report)
    numeric = _numeric_columns(schema, set(frame.columns))
    frame = cl.coerce_numeric(frame, numeric, report, source, config)
    if schema == "kaggle":
        frame = cl.coerce_dates(frame, "Dt_Customer", report, source, config)
        if ref is None:
            ref = frame["Dt_Customer"].max()
        if ref is None or pd.isna(ref):
            ref = None
            report.note("no readable Dt_Customer: age and tenure left missing (pass reference_date)")
    for col in frame.columns.intersection(list(TEXT_COLUMNS - {"ID", "Dt_Customer"})):
        frame[col] = frame[col].astype("string").str.strip()
    # Duplicates are judged on the values as read (before any rule), so counts match the raw file.
    content = frame.drop(columns="ID")
    duplicate = seen.duplicate_rows(pd.util.hash_pandas_object(content, index=False).to_numpy())
    cl.report_constant_columns(frame, set(numeric) | TEXT_COLUMNS, report)
    frame = _apply_rules(frame, schema, ref, report, source, config)
    report.add("dropped_rows", "(all but ID)", int(duplicate.sum()),
               "identical to an earlier row except ID: kept the first",
               [f"row {r}" for r in frame.index[duplicate][:cl.MAX_EXAMPLES]])
    frame = frame[~duplicate]
    seen.check_ids(frame["ID"], source)
    out = normalize(frame, schema, ref)
    report.rows_out = len(out)
    report.reference_date = None if ref is None or pd.isna(ref) else ref.date().isoformat()
    return LoadResult(out, report, schema)


def _apply_rules(frame: pd.DataFrame, schema: str, ref: pd.Timestamp | None, report: CleaningReport,
                 source: str, config: CleaningConfig) -> pd.DataFrame:
    counts = [c for c in frame.columns if c.startswith(("Mnt", "Num", "AcceptedCmp")) or c in
              ("Kidhome", "Teenhome", "Recency", "Familysize", "Response")]
    negative = frame[counts].lt(0).any()  # one vectorized pass; the rule runs only where needed
    for col in negative.index[negative]:
        frame = cl.set_missing_outside(frame, col, 0, None, "negative count: set missing", report, source, config)
    if schema == "kaggle" and ref is not None and pd.notna(ref):
        low, high = ref.year - config.max_age, ref.year - config.min_age
        rule = f"birth year gives an age outside [{config.min_age:g}, {config.max_age:g}]: set missing"
        frame = cl.set_missing_outside(frame, "Year_Birth", low, high, rule, report, source, config)
    if schema == "prd":
        rule = f"age outside [{config.min_age:g}, {config.max_age:g}]: set missing"
        frame = cl.set_missing_outside(frame, "Age", config.min_age, config.max_age, rule, report, source, config)
        frame["Gender"] = cl.fold_gender(frame["Gender"], report)
        frame["KidAge"] = cl.fold_kid_age(frame["KidAge"], report)
    missing_in_file = int(frame["Income"].isna().sum())
    frame = cl.set_missing_outside(
        frame, "Income", 0, config.max_income,
        f"income <= 0 or above {config.max_income:,.0f}: treated as missing (then imputed)", report, source, config)
    frame["Marital_Status"] = cl.fold_marital(frame["Marital_Status"], report)
    frame["Education"] = cl.fold_education(frame["Education"], report)
    frame["income_imputed"] = cl.impute_income(frame, report, missing_in_file)
    return frame


# --------------------------------------------------------------------------------- normalize


def normalize(frame: pd.DataFrame, schema: str, ref: pd.Timestamp | None) -> pd.DataFrame:
    """Derive the internal schema (columns, order and dtypes of ``schema.COLUMNS``) from a cleaned chunk."""
    n = len(frame)
    nan = pd.Series(np.nan, index=frame.index)
    out = pd.DataFrame(index=frame.index)
    out["customer_id"] = frame["ID"]
    out["gender"] = frame["Gender"] if schema == "prd" else pd.NA
    out["education"] = frame["Education"]
    out["marital_status"] = frame["Marital_Status"]
    out["income"] = frame["Income"]
    out["income_imputed"] = frame["income_imputed"]
    adults = frame["Marital_Status"].isin(["Married", "Together"]).astype("float64") + 1.0
    if schema == "kaggle":
        out["age"] = float(ref.year) - frame["Year_Birth"] if ref is not None and pd.notna(ref) else nan
        out["kids"], out["teens"] = frame["Kidhome"], frame["Teenhome"]
        out["children"] = out["kids"] + out["teens"]
        out["kid_age"] = _kid_age_band(out["kids"], out["teens"])
        out["family_size"] = adults + out["children"]
        tenure = (ref - frame["Dt_Customer"]).dt.days.astype("float64") if ref is not None else nan
        out["tenure_days"] = tenure.where(tenure >= 0)  # joined after the reference date: unknown
        for cat, src in SPEND_SOURCE.items():
            out[f"spend_{cat}"] = frame[src]
        for channel, src in PURCHASE_SOURCE.items():
            out[f"purchases_{channel}"] = frame[src]
        out["web_visits_month"] = frame["NumWebVisitsMonth"]
        campaigns = [c for c in CAMPAIGN_COLUMNS if c in frame.columns]
        out["accepted_campaigns"] = frame[campaigns].sum(axis=1, min_count=1) if campaigns else nan
    else:
        out["age"] = frame["Age"]
        out["kids"] = out["teens"] = pd.NA
        out["kid_age"] = frame["KidAge"]
        out["family_size"] = frame["Familysize"]
        children = (frame["Familysize"] - adults).clip(lower=0)
        # A stated kid age band implies at least one child; "none" implies zero.
        children = children.where(out["kid_age"].ne("none").fillna(True), 0.0)
        out["children"] = children.where(out["kid_age"].isin(["none"]).fillna(True), children.clip(lower=1))
        for col in ("tenure_days", "web_visits_month", "accepted_campaigns",
                    *(f"spend_{c}" for c in SPEND_CATEGORIES), *(f"purchases_{c}" for c in PURCHASE_CHANNELS)):
            out[col] = nan
    out["recency"] = frame["Recency"]
    spend = out[[f"spend_{c}" for c in SPEND_CATEGORIES]]
    out["total_spend"] = spend.sum(axis=1, min_count=1) if n else nan
    out["total_purchases"] = out[["purchases_web", "purchases_catalog", "purchases_store"]].sum(axis=1, min_count=1)
    out["favourite_category"] = _favourite(spend, out["total_spend"])
    # Tenure under a month counts as one month, so brand-new customers get no absurd rates.
    out["purchase_frequency"] = out["total_purchases"] / (out["tenure_days"].clip(lower=30) / 30.0)
    return _enforce_schema(out)


def _kid_age_band(kids: pd.Series, teens: pd.Series) -> pd.Series:
    has_kids, has_teens = kids.fillna(0) > 0, teens.fillna(0) > 0
    band = np.select([has_kids & has_teens, has_kids, has_teens], ["young_and_teen", "young", "teen"], "none")
    band = pd.Series(band, index=kids.index, dtype="string")
    return band.mask(kids.isna() & teens.isna())


def _favourite(spend: pd.DataFrame, total: pd.Series) -> pd.Series:
    if spend.empty:
        return pd.Series(pd.NA, index=spend.index, dtype="string")
    best = spend.fillna(-1.0).to_numpy().argmax(axis=1)
    names = np.asarray(SPEND_CATEGORIES, dtype=object)[best]
    return pd.Series(names, index=spend.index, dtype="string").mask(~(total > 0))


def _enforce_schema(out: pd.DataFrame) -> pd.DataFrame:
    for name in COLUMN_NAMES:
        dtype = DTYPES[name]
        col = out[name]
        if dtype == "Int64":
            col = pd.to_numeric(col, errors="coerce").round().astype("Int64")
        elif dtype == "bool":
            col = col.fillna(False).astype("bool")
        out[name] = col.astype(dtype)
    return out[list(COLUMN_NAMES)].reset_index(drop=True)


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
    config = config or CleaningConfig()
    ref = _as_timestamp(reference_date)
    fmt = inspect_file(path, max_bytes=max_bytes)
    columns = read_header(path, fmt)
    schema, mapping = match_columns(columns, str(path))
    ignored = [str(c) for c in columns if c not in mapping]
    if schema == "kaggle" and ref is None and chunksize is not None:
        ref = _latest_date(path, fmt, mapping, chunksize)
    seen, offset = _SeenRows(), 0
    for raw in _read_chunks(path, fmt, mapping, chunksize):
        raw.index = pd.RangeIndex(offset + 1, offset + 1 + len(raw))
        offset += len(raw)
        if raw.empty:
            continue
        result = _clean_chunk(raw, schema, ref, seen, str(path), config)
        for note in fmt.notes:
            result.report.note(note)
        if ignored:
            result.report.note(f"ignored columns not in the schema: {', '.join(ignored)}")
        if reference_date is None and result.report.reference_date:
            result.report.note("reference date = latest Dt_Customer in the file (override with reference_date)")
        yield result
    if offset == 0:
        raise DataError("file has a header but no data rows", where=f"{path}, line 2",
                        fix="export the customer rows too, not just the header")


def iter_customer_chunks(path: str | Path, *, chunksize: int = 100_000, reference_date: object = None,
                         config: CleaningConfig | None = None) -> Iterator[LoadResult]:
    """Stream a customer file of any size, ``chunksize`` rows at a time, with flat memory.

    Duplicate customers are found across chunks (by row hash); Income medians for imputation are
    per chunk. Merge the chunks' reports with ``CleaningReport.merge``.
    """
    if not isinstance(chunksize, int) or chunksize < 1:  # checked now, not at the first next()
        raise ConfigError(f"chunksize={chunksize!r} is invalid", fix="pass a positive number of rows")
    return _iter_results(path, chunksize, reference_date, config, max_bytes=None)


def load_customers(path: str | Path, *, reference_date: object = None, config: CleaningConfig | None = None,
                   max_bytes: int | None = DEFAULT_MAX_BYTES) -> LoadResult:
    """Load, clean and normalize a whole customer file (CSV or Parquet, PRD or Kaggle schema).

    ``reference_date`` (age and tenure) defaults to the latest ``Dt_Customer`` in the file.
    Files above ``max_bytes`` are refused with a size message; stream them with
    :func:`iter_customer_chunks`.
    """
    results = list(_iter_results(path, None, reference_date, config, max_bytes))
    return results[0]


def clean_frame(raw: pd.DataFrame, *, reference_date: object = None, config: CleaningConfig | None = None,
                source: str = "<frame>") -> LoadResult:
    """Clean and normalize an in-memory raw table (e.g. :func:`genemail.data.synth.synthesize`'s output)."""
    schema, mapping = match_columns(list(raw.columns), source)
    frame = raw[list(mapping)].rename(columns=mapping)
    if frame.empty:
        raise DataError("table has no rows", where=source, fix="pass a table with at least one customer")
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return _clean_chunk(frame, schema, _as_timestamp(reference_date), _SeenRows(), source, config or CleaningConfig())
