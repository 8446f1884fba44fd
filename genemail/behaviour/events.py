"""Behaviour events: the table a customer's history is made of, and its loader.

One row per event::

    customer_id  time                 type      category  channel  amount
    1024         2014-03-02 14:05:00  purchase  wines     web      42.50
    1024         2014-03-09 09:00:00  visit               web      0

``type`` is one of :data:`EVENT_TYPES`; ``category`` (one of the Kaggle spend categories) is required
for purchases and empty otherwise; ``channel`` is one of :data:`EVENT_CHANNELS`; ``amount`` is > 0 for
purchases and 0 for everything else. The Kaggle customer table's ``Mnt*`` and ``Num*Purchases``
columns are sums over such events (:mod:`genemail.behaviour.synth_events` builds them so).

:func:`load_events` follows the customer loader's discipline (:mod:`genemail.data.loader`): the file
is inspected first (:func:`genemail.data.files.inspect_file`: missing, empty, binary, directory,
encoding, separator), the header is matched case-insensitively, and a value that cannot be used is
refused with the file, the row (1-based, the header being row 1), the column, what was expected
and what to do. Events of customers not in ``customer_ids`` are dropped *and counted*, never silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from genemail.data.files import inspect_file, read_header
from genemail.data.schema import CUSTOMER_ID_PATTERN, CUSTOMER_ID_RULE, SPEND_CATEGORIES
from genemail.data.text import show
from genemail.errors import DataError

EVENT_TYPES: tuple[str, ...] = ("purchase", "visit", "open", "click")
EVENT_CHANNELS: tuple[str, ...] = ("web", "store", "catalog", "deals")
EVENT_COLUMNS: tuple[str, ...] = ("customer_id", "time", "type", "category", "channel", "amount")
DEFAULT_MAX_BYTES = 512 * 2**20
MAX_AMOUNT = 1e6  # one event above this is a unit or export error, not a purchase


@dataclass
class EventsReport:
    """What :func:`load_events` did: rows read, kept, dropped (by reason) and notes on the file."""

    source: str
    rows_read: int = 0
    rows_kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _refuse(source: str, row: int, column: str, what: str, fix: str) -> DataError:
    return DataError(what, where=f"{source}, row {row}, column {column}", fix=fix)


def match_event_columns(columns: list[str], source: str) -> dict[str, str]:
    """``{file name: canonical name}``; refuses a missing or duplicated column, naming it."""
    mapping: dict[str, str] = {}
    for name in columns:
        key = str(name).strip().lstrip("\ufeff").lower()
        if key not in EVENT_COLUMNS:
            continue
        if key in mapping.values():
            raise DataError(f"two columns match {key!r}", where=f"{source}, header",
                            fix="keep one of them (names are matched case-insensitively)")
        mapping[name] = key
    missing = [c for c in EVENT_COLUMNS if c not in mapping.values()]
    if missing:
        raise DataError(f"missing required event columns: {', '.join(missing)}", where=f"{source}, header",
                        fix=f"the events table needs {', '.join(EVENT_COLUMNS)} (see docs/USER_VECTOR.md)")
    return mapping


def _read(path: Path, max_bytes: int) -> pd.DataFrame:
    fmt = inspect_file(path, max_bytes=max_bytes)
    mapping = match_event_columns(read_header(path, fmt), str(path))
    if fmt.kind == "parquet":
        frame = pd.read_parquet(path, columns=list(mapping))
        frame = frame.astype({c: "string" for c in frame.columns})
    else:
        frame = pd.read_csv(path, sep=fmt.sep, encoding=fmt.encoding, dtype=str, keep_default_na=False,
                            usecols=list(mapping))
    return frame.rename(columns=mapping)[list(EVENT_COLUMNS)]


def _first_bad(mask: pd.Series) -> int | None:
    """The 1-based file row (header = row 1) of the first True in ``mask``, or None."""
    hits = np.flatnonzero(mask.to_numpy(dtype=bool))
    return None if hits.size == 0 else int(hits[0]) + 2


def _check_choice(frame: pd.DataFrame, column: str, allowed: tuple[str, ...], source: str,
                  blank_ok: pd.Series | None = None) -> pd.Series:
    values = frame[column].astype("string").str.strip().str.lower().fillna("")
    bad = ~values.isin(allowed)
    if blank_ok is not None:
        bad &= ~(blank_ok & (values == ""))
    row = _first_bad(bad)
    if row is not None:
        raise _refuse(source, row, column, f"{show(str(frame[column].iloc[row - 2]))} is not a known {column}",
                      f"use one of {', '.join(allowed)}" + (" (or leave it empty for non-purchases)"
                                                           if blank_ok is not None else ""))
    return values


def validate_events(raw: pd.DataFrame, source: str = "events") -> pd.DataFrame:
    """Typed, checked events (``time`` as UTC-naive timestamps, ``amount`` float); refuses bad rows."""
    ids = raw["customer_id"].astype("string").str.strip().fillna("")
    row = _first_bad(~ids.str.fullmatch(CUSTOMER_ID_PATTERN).fillna(False))
    if row is not None:
        raise _refuse(source, row, "customer_id", f"{show(str(raw['customer_id'].iloc[row - 2]))} is not a valid ID",
                      f"use IDs of {CUSTOMER_ID_RULE}, the same IDs as the customer table")
    times = pd.to_datetime(raw["time"].astype("string").str.strip(), errors="coerce", format="mixed")
    row = _first_bad(times.isna())
    if row is not None:
        raise _refuse(source, row, "time", f"{show(str(raw['time'].iloc[row - 2]))} is not a date/time",
                      "write times as ISO 8601, e.g. 2014-03-02 14:05:00")
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    types = _check_choice(raw, "type", EVENT_TYPES, source)
    purchase = types == "purchase"
    channels = _check_choice(raw, "channel", EVENT_CHANNELS, source)
    categories = _check_choice(raw, "category", SPEND_CATEGORIES, source, blank_ok=~purchase)
    text = raw["amount"].astype("string").str.strip().fillna("")
    amounts = pd.to_numeric(text.where(text != "", "0"), errors="coerce")
    row = _first_bad(amounts.isna() | ~np.isfinite(amounts.fillna(0)))
    if row is not None:
        raise _refuse(source, row, "amount", f"{show(str(raw['amount'].iloc[row - 2]))} is not a number",
                      "write amounts as plain numbers, e.g. 42.50 (no currency sign)")
    row = _first_bad((amounts < 0) | (amounts > MAX_AMOUNT) | (purchase & (amounts <= 0)) | (~purchase & (amounts != 0)))
    if row is not None:
        kind = types.iloc[row - 2]
        expected = f"> 0 and <= {MAX_AMOUNT:g} for a purchase" if kind == "purchase" else f"0 for a {kind} event"
        raise _refuse(source, row, "amount", f"amount {float(amounts.iloc[row - 2]):g} is invalid: expected {expected}",
                      "fix the export (refunds are not events of this table)")
    return pd.DataFrame({"customer_id": ids.astype("string"), "time": times, "type": types.astype("string"),
                         "category": categories.where(purchase, "").astype("string"),
                         "channel": channels.astype("string"), "amount": amounts.astype("float64")})


def load_events(path: Path | str, customer_ids: set[str] | None = None, *,
                max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[pd.DataFrame, EventsReport]:
    """Read, check and sort an events file (CSV or Parquet); returns the frame and a report.

    With ``customer_ids``, events of other customers are dropped and counted in the report
    (``dropped["unknown_customer"]``); a file whose events all belong to unknown customers is refused.
    """
    path = Path(path)
    raw = _read(path, max_bytes)
    report = EventsReport(source=str(path), rows_read=len(raw))
    if raw.empty:
        raise DataError("the events file has a header but no rows", where=str(path),
                        fix="export the events again, or leave --events out to use none")
    frame = validate_events(raw, str(path))
    if customer_ids is not None:
        known = frame["customer_id"].isin(customer_ids)
        if not known.any():
            raise DataError(f"none of the {len(frame)} events belongs to a customer of the customer table",
                            where=f"{path}, column customer_id",
                            fix="use the same customer IDs in both files (e.g. 1024, not C-1024)")
        if (~known).any():
            report.dropped["unknown_customer"] = int((~known).sum())
            report.notes.append(f"dropped {int((~known).sum())} events of customers not in the customer table")
        frame = frame[known]
    report.rows_kept = len(frame)
    return frame.sort_values(["customer_id", "time"], kind="stable").reset_index(drop=True), report
