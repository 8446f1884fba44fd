"""Join dates (``Dt_Customer``): formats, day/month order, and the plausible range, decided per file.

A :class:`DatePlan` is made once from the *whole* date column (the loader's pre-pass reads only that
column, so a streamed file is planned as a whole) and then applied to every chunk:

* **Order.** Numeric dates such as ``04/09/2012`` are ambiguous. The order is read from the column:
  a first field above 12 (``13/01/2013``) can only be day first, a second field above 12 only month
  first. A column with both is refused; a column where every day and month is at most 12 cannot
  tell, and is read day first (the Kaggle export's order, ``CleaningConfig(date_order=...)`` or
  ``--date-order`` to change it). The report says which order was used and why.
* **Plausible range.** A join date more than three inter-quartile ranges (and at least a year)
  beyond the column's quartiles, or after the day the file is read, is set missing and counted:
  one customer "joining" in 2030 must not move the reference date and age everyone.

Parsing is vectorized over the distinct values only: a file has a few hundred distinct dates however
many rows it has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from genemail.data.report import MAX_EXAMPLES, CleaningConfig, CleaningReport, examples, refuse_if_mostly_bad
from genemail.data.text import show
from genemail.errors import DataError

# Formats tried in order; the numeric day/month forms come in the plan's order.
NAMED_FORMATS: tuple[str, ...] = ("%d-%b-%y", "%d-%b-%Y", "%Y-%m-%d", "%Y-%m-%d %H:%M:%S")
DAY_FIRST_FORMATS: tuple[str, ...] = (
    "%d/%m/%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%y",
)
DATE_FORMATS: tuple[str, ...] = NAMED_FORMATS + DAY_FIRST_FORMATS  # the day-first default, as documented
_NUMERIC = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}\b")
FENCE_IQRS = 3.0  # Tukey's "far out" fence
MIN_FENCE = pd.Timedelta(days=365)
EXPECTED = "dates such as 4-Sep-12 or 2012-09-04"


def formats(order: str) -> tuple[str, ...]:
    """The formats tried for ``order`` (``dmy`` or ``mdy``)."""
    if order == "mdy":
        swapped = tuple(f.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m") for f in DAY_FIRST_FORMATS)
        return NAMED_FORMATS + swapped
    return DATE_FORMATS


def parse_dates(values: pd.Series, order: str = "dmy") -> pd.Series:
    """Parse mixed-format date strings into datetime64 (NaT where no format of ``order`` fits)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_localize(None) if getattr(values.dt, "tz", None) else values
    codes, uniques = pd.factorize(values.astype("string").str.strip())
    parsed = _parse_distinct(pd.Series(uniques, dtype="string"), order)
    out = np.full(len(codes), np.datetime64("NaT"), dtype="datetime64[ns]")
    known = codes >= 0
    out[known] = parsed.to_numpy()[codes[known]]
    return pd.Series(out, index=values.index, dtype="datetime64[ns]")


def _parse_distinct(text: pd.Series, order: str) -> pd.Series:
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    for fmt in formats(order):
        todo = parsed.isna() & text.notna()
        if not todo.any():
            break
        parsed[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce")
    return parsed


@dataclass(frozen=True)
class DatePlan:
    """How one file's date column is read: order, plausible range, latest plausible date."""

    order: str = "dmy"
    order_note: str | None = None
    low: pd.Timestamp | None = None
    high: pd.Timestamp | None = None
    latest: pd.Timestamp | None = None
    n_present: int = 0  # non-blank date cells in the file

    @property
    def range_rule(self) -> str:
        """The report's rule text for dates outside the plausible range."""
        return (f"join date outside the plausible range {self.low.date()}..{self.high.date()} "
                f"(quartiles ± {FENCE_IQRS:g} IQR, at least a year; never after the day the file is read): "
                "set missing")


def plan_dates(counts: pd.Series, config: CleaningConfig, source: str, column: str = "Dt_Customer") -> DatePlan:
    """Plan from the whole column: ``counts`` maps each distinct cell (text or timestamp) to its count."""
    counts = counts[counts.index.notna()]
    if not pd.api.types.is_datetime64_any_dtype(counts.index):
        text = pd.Series(counts.index, dtype="string").str.strip()
        keep = (text.notna() & (text != "")).to_numpy()
        counts, text = counts[keep], text[keep].reset_index(drop=True)
        order, note = _decide_order(text, config, source, column)
        dates = _parse_distinct(text, order).to_numpy()
    else:
        order, note = "dmy", None
        index = pd.DatetimeIndex(counts.index)
        dates = (index.tz_localize(None) if index.tz is not None else index).to_numpy(dtype="datetime64[ns]")
    weights = counts.to_numpy(dtype="int64")
    n_present = int(weights.sum())
    ok = ~pd.isna(dates)
    if not ok.any():
        return DatePlan(order, note, n_present=n_present)
    low, high = _fence(pd.DatetimeIndex(dates[ok]), weights[ok], config)
    inside = dates[ok][(dates[ok] >= low) & (dates[ok] <= high)]
    latest = pd.Timestamp(inside.max()) if len(inside) else None
    return DatePlan(order, note, low, high, latest, n_present)


def _fence(dates: pd.DatetimeIndex, weights: np.ndarray, config: CleaningConfig) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Weighted quartiles ± max(3 IQR, a year), the upper end capped at the day the file is read."""
    order = np.argsort(dates.asi8)
    days, cum = dates.asi8[order], np.cumsum(weights[order])
    q1, q3 = (pd.Timestamp(int(days[np.searchsorted(cum, q * cum[-1])])) for q in (0.25, 0.75))
    width = max(FENCE_IQRS * (q3 - q1), MIN_FENCE)
    return q1 - width, min(q3 + width, config.load_day)


def _decide_order(text: pd.Series, config: CleaningConfig, source: str, column: str) -> tuple[str, str | None]:
    """``dmy``/``mdy`` for the numeric dates of the column, and a note saying why (None: nothing numeric)."""
    fields = text.str.extract(_NUMERIC).dropna().astype("int64")
    if fields.empty:
        return "dmy", None
    if config.date_order != "auto":
        return config.date_order, f"{column}: {_ORDER_NAMES[config.date_order]} order, as configured (date_order)"
    day_first = text[fields.index[(fields[0] > 12).to_numpy()]]
    month_first = text[fields.index[(fields[1] > 12).to_numpy()]]
    if len(day_first) and len(month_first):
        raise DataError(
            f"column {column!r} mixes day-first dates ({show(day_first.iloc[0])}) and month-first dates "
            f"({show(month_first.iloc[0])}): the order of the others cannot be known",
            where=f"{source}, column {column}",
            fix="export the dates in one order, ideally ISO (2013-01-13)",
        )
    if len(day_first):
        return "dmy", (f"{column}: day-first order, because {len(day_first)} distinct date(s) have a first "
                       f"field above 12 (e.g. {show(day_first.iloc[0])})")
    if len(month_first):
        return "mdy", (f"{column}: month-first order, because {len(month_first)} distinct date(s) have a second "
                       f"field above 12 (e.g. {show(month_first.iloc[0])})")
    return "dmy", (f"{column}: every numeric date has day and month at most 12, so the order cannot be read "
                   "from the file: assumed day first (the Kaggle export's order; pass --date-order mdy "
                   "if the file is month first)")


_ORDER_NAMES = {"dmy": "day-first", "mdy": "month-first"}


def coerce_dates(frame: pd.DataFrame, column: str, plan: DatePlan, report: CleaningReport, source: str,
                 config: CleaningConfig) -> pd.DataFrame:
    """Parse ``column`` with the plan: unreadable dates and dates outside the plausible range are set
    missing (counted); many unreadable dates refuse the file."""
    raw = frame[column]
    parsed = parse_dates(raw, plan.order)
    if not pd.api.types.is_datetime64_any_dtype(raw):
        text = raw.astype("string").str.strip()
        present = text.notna() & (text != "")
        bad = present & parsed.isna()
        refuse_if_mostly_bad(bad, present, text, column, EXPECTED, source, config)
        report.add("set_missing", column, int(bad.sum()), "unreadable date: set missing", examples(text, bad))
        report.add("missing", column, int((~present).sum()), "empty: tenure left missing",
                   [f"row {r}" for r in text.index[~present.to_numpy()][:MAX_EXAMPLES]])
    else:
        text = raw
    if plan.low is not None:
        outside = (parsed < plan.low) | (parsed > plan.high)
        refuse_if_mostly_bad(outside, parsed.notna(), text, column, "plausible join dates", source, config)
        report.add("set_missing", column, int(outside.sum()), plan.range_rule, examples(text, outside))
        parsed = parsed.mask(outside)
    frame[column] = parsed
    return frame
