"""Number cells: read what people write (``$58,138``, ``58.138``, ``58 138,50``), refuse the absurd.

Two rules, each counted in the report:

* :func:`coerce_numeric` makes a column float64. Plain numbers are read as they are. A currency sign
  or code is removed; digits grouped in threes by ``,``, ``.``, space, ``'`` or ``_`` are thousands
  separators (``58.138`` and ``58,138`` are both 58,138: no column of a customer table is written
  to three decimals), with an optional decimal part in the other mark (``58.138,50``); a decimal
  comma with other than three digits (``58138,5``) is a decimal point. Each repair is counted with
  the value before and after. Anything else is "not a number": a few such cells are set missing,
  many refuse the file.
* :func:`check_counts` sets missing the counts no customer can have (negative, fractional
  children, ``Kidhome`` 50, ``Recency`` 1e9, a campaign flag of 3), with the thresholds of
  :class:`~genemail.data.report.CleaningConfig`.

The loader reads CSV numbers with no decimal mark (``decimal="\\x01"``), so a column holding
``58.138`` arrives here as text instead of being read, silently, as 58.138.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from genemail.data.report import (
    MAX_EXAMPLES, CleaningConfig, CleaningReport, examples, refuse_if_mostly_bad, set_missing_where,
)
from genemail.data.text import show

_CODES = "USD|EUR|GBP|CNY|RMB|JPY|CHF"
CURRENCY = re.compile(
    rf"^\s*(?:[$€£¥￥]|(?:{_CODES})\b)\s*|\s*(?:[$€£¥￥]|\b(?:{_CODES}))\s*$", re.IGNORECASE)
GROUP_SEPARATORS = (",", ".", " ", "'", "_")
# One pattern per group separator: 1-3 digits, then groups of exactly 3, then a decimal part in the other mark.
_GROUPED = {
    sep: re.compile(rf"[+-]?\d{{1,3}}(?:{re.escape(sep)}\d{{3}})+(?:[{'.,'.replace(sep, '')}]\d+)?")
    for sep in GROUP_SEPARATORS
}
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,(?:\d{1,2}|\d{4,})")
RULE_CURRENCY = "currency sign or code removed"
RULE_GROUPED = "digits grouped in threes: separators read as thousands (58.138 -> 58138)"
RULE_DECIMAL_COMMA = "decimal comma read as a decimal point"


def parse_numbers(text: pd.Series) -> tuple[pd.Series, dict[str, pd.Series]]:
    """Parse stripped text cells; return float64 values (NaN where unreadable) and ``{rule: repaired mask}``."""
    repairs: dict[str, pd.Series] = {}
    s = text
    currency = s.str.contains(CURRENCY, na=False)
    if currency.any():
        s = s.where(~currency, s.str.replace(CURRENCY, "", regex=True))
        repairs[RULE_CURRENCY] = currency
    grouped = pd.Series(False, index=s.index)
    for sep, pattern in _GROUPED.items():
        hit = s.str.fullmatch(pattern, na=False) & ~grouped
        if hit.any():
            rest = ".,".replace(sep, "") if sep in ".," else ".,"
            fixed = s[hit].str.replace(sep, "", regex=False)
            if rest == ",":  # '.' grouped: a trailing ',dd' is the decimal part
                fixed = fixed.str.replace(",", ".", regex=False)
            elif rest == ".,":  # space/apostrophe/underscore grouped: either mark may be decimal
                fixed = fixed.str.replace(",", ".", regex=False)
            s = s.where(~hit, fixed)
            grouped |= hit
    if grouped.any():
        repairs[RULE_GROUPED] = grouped
    comma = s.str.fullmatch(_DECIMAL_COMMA, na=False) & ~grouped
    if comma.any():
        s = s.where(~comma, s.str.replace(",", ".", regex=False))
        repairs[RULE_DECIMAL_COMMA] = comma
    values = pd.to_numeric(s, errors="coerce").astype("float64")
    return values, {rule: mask & values.notna() for rule, mask in repairs.items()}


def coerce_numeric(frame: pd.DataFrame, columns: list[str], report: CleaningReport, source: str,
                   config: CleaningConfig) -> pd.DataFrame:
    """Make ``columns`` float64: formatted numbers are repaired (counted), a few unreadable cells set
    missing, many refused."""
    for col in columns:
        raw = frame[col]
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            frame[col] = raw.astype("float64")
            continue
        text = raw.astype("string").str.strip()
        values, repairs = parse_numbers(text)
        present = text.notna() & (text != "")
        bad = present & values.isna()
        refuse_if_mostly_bad(bad, present, text, col, "numbers", source, config)
        report.add("set_missing", col, int(bad.sum()), "not a number: set missing", examples(text, bad))
        for rule, mask in repairs.items():
            shown = [f"row {r}: {show(t)} -> {show(values[r])}" for r, t in text[mask].head(MAX_EXAMPLES).items()]
            report.add("repaired", col, int(mask.sum()), rule, shown)
        frame[col] = values
    return frame


# --------------------------------------------------------------------------------- counts


def count_limits(columns: list[str], config: CleaningConfig) -> dict[str, tuple[float, float, bool]]:
    """``{column: (low, high, whole)}`` for the count-like columns present (see the module docstring)."""
    limits: dict[str, tuple[float, float, bool]] = {}
    for col in columns:
        if col in ("Kidhome", "Teenhome"):
            limits[col] = (0.0, config.max_children, True)
        elif col == "Familysize":
            limits[col] = (1.0, config.max_family_size, True)
        elif col == "Recency":
            limits[col] = (0.0, config.max_recency_days, False)
        elif col.startswith("Mnt"):
            limits[col] = (0.0, config.max_spend, False)
        elif col.startswith("Num"):
            limits[col] = (0.0, config.max_count, True)
        elif col.startswith("AcceptedCmp") or col == "Response":
            limits[col] = (0.0, 1.0, True)
        elif col == "Year_Birth":
            limits[col] = (-np.inf, np.inf, True)
    return limits


def check_counts(frame: pd.DataFrame, report: CleaningReport, source: str, config: CleaningConfig) -> pd.DataFrame:
    """Set missing the counts no customer can have: negative, fractional, or above the plausible maximum."""
    limits = count_limits(list(frame.columns), config)
    if not limits or frame.empty:
        return frame
    columns = list(limits)
    block = frame[columns].to_numpy(dtype="float64")  # one vectorized pass; rules run only where needed
    low = np.array([limits[c][0] for c in columns])
    high = np.array([limits[c][1] for c in columns])
    whole = np.array([limits[c][2] for c in columns])
    with np.errstate(invalid="ignore"):
        negative = (block < 0) & (low >= 0)
        fractional = whole & (block != np.floor(block)) & np.isfinite(block)
        below = (block < low) & ~negative
        above = block > high
    for j, col in enumerate(columns):
        for mask, rule in (
            (negative[:, j], "negative count: set missing"),
            (fractional[:, j] & ~negative[:, j], "not a whole number: set missing"),
            (below[:, j] & ~fractional[:, j], f"below {low[j]:g} (a household has at least the customer): set missing"),
            (above[:, j] & ~fractional[:, j], f"above {high[j]:g} (implausible): set missing"),
        ):
            if mask.any():
                expected = f"{'whole ' if whole[j] else ''}numbers in [{low[j]:g}, {high[j]:g}]"
                frame = set_missing_where(frame, col, pd.Series(mask, index=frame.index), rule, expected,
                                          report, source, config)
    return frame
