"""The cleaning report, the thresholds of the cleaning rules, and the small functions every rule uses.

Every rule that drops, imputes, sets missing, repairs or folds a value records a
:class:`CleaningAction` in the :class:`CleaningReport` (kind, column, count, rule, examples), so a
user can see what happened to the file. Chunks handed to the rules carry their canonical column
names and an index that is the 1-based data row number in the file (line = row + 1, the header
being line 1), which is what the examples and the messages quote.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from genemail.data.text import show
from genemail.errors import DataError, config_error

MAX_EXAMPLES = 5
DATE_ORDERS: tuple[str, ...] = ("auto", "dmy", "mdy")
# kind of a CleaningAction, in the order a reader meets them
ACTION_KINDS: tuple[str, ...] = (
    "dropped_rows", "set_missing", "repaired", "imputed", "folded", "missing", "dropped_column", "ignored_column",
)


@dataclass(frozen=True)
class CleaningConfig:
    """Thresholds of the cleaning rules (validated at construction; docs/DATA.md explains each).

    Args:
        min_age, max_age: plausible ages; others are set missing.
        max_income: incomes above this are treated as missing (then imputed).
        max_bad_fraction: above this share of bad cells in a column, the file is refused, not repaired.
        max_children: most young children (or teenagers) at home one customer may have.
        max_family_size: largest plausible household (PRD ``Familysize``).
        max_recency_days: most days since the last purchase (ten years by default).
        max_count: most purchases (per channel) or web visits a month one customer may have.
        max_spend: most one customer may have spent on one category.
        max_malformed_fraction: above this share of rows with the wrong number of fields the file
            is refused; up to it, those rows are dropped and named.
        date_order: ``auto`` decides day/month order from the whole date column; ``dmy`` or ``mdy``
            forces it.
        today: the day the file is read (None: the system date); join dates after it are implausible.
    """

    min_age: float = 16.0
    max_age: float = 100.0
    max_income: float = 250_000.0
    max_bad_fraction: float = 0.2
    max_children: float = 10.0
    max_family_size: float = 20.0
    max_recency_days: float = 3650.0
    max_count: float = 10_000.0
    max_spend: float = 1_000_000.0
    max_malformed_fraction: float = 0.01
    date_order: str = "auto"
    today: date | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.min_age < self.max_age:
            raise config_error("min_age/max_age", (self.min_age, self.max_age), "0 <= min_age < max_age")
        for name in ("max_income", "max_children", "max_family_size", "max_recency_days", "max_count", "max_spend"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise config_error(name, value, "a positive number")
        if not 0 < self.max_bad_fraction < 1:
            raise config_error("max_bad_fraction", self.max_bad_fraction, "a fraction between 0 and 1")
        if not 0 <= self.max_malformed_fraction < 1:
            raise config_error("max_malformed_fraction", self.max_malformed_fraction, "a fraction in [0, 1), e.g. 0.01")
        if self.date_order not in DATE_ORDERS:
            raise config_error("date_order", self.date_order, f"one of {DATE_ORDERS}")
        if self.today is not None and not isinstance(self.today, date):
            raise config_error("today", self.today, "a datetime.date, or None for the system date")

    @property
    def load_day(self) -> pd.Timestamp:
        """The day the file is read, as a timestamp (``today`` or the system date)."""
        return pd.Timestamp(self.today or date.today()).normalize()


@dataclass
class CleaningAction:
    """One rule applied to ``count`` rows/values of ``column``."""

    kind: str  # one of ACTION_KINDS
    column: str
    count: int
    rule: str
    examples: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.column, self.rule)


@dataclass
class CleaningReport:
    """What the loader read, kept, dropped, imputed, repaired and folded, each with the rule applied."""

    source: str = ""
    source_schema: str = ""
    rows_in: int = 0
    rows_out: int = 0
    reference_date: str | None = None
    notes: list[str] = field(default_factory=list)
    actions: list[CleaningAction] = field(default_factory=list)

    def add(self, kind: str, column: str, count: int, rule: str, examples: list[str] | None = None) -> None:
        """Record a rule applied to ``count`` values (no-op when nothing was changed)."""
        if count <= 0:
            return
        for action in self.actions:
            if action.key == (kind, column, rule):
                action.count += count
                action.examples = (action.examples + list(examples or []))[:MAX_EXAMPLES]
                return
        self.actions.append(CleaningAction(kind, column, int(count), rule, list(examples or [])[:MAX_EXAMPLES]))

    def note(self, text: str) -> None:
        """Record a fact about the file (encoding, separator, ...) once."""
        if text not in self.notes:
            self.notes.append(text)

    def count(self, kind: str, column: str | None = None) -> int:
        """Total count of actions of ``kind`` (on ``column`` when given)."""
        return sum(a.count for a in self.actions if a.kind == kind and (column is None or a.column == column))

    def merge(self, other: "CleaningReport") -> "CleaningReport":
        """Combine the reports of consecutive chunks of one file into one."""
        merged = CleaningReport(
            source=self.source or other.source,
            source_schema=self.source_schema or other.source_schema,
            rows_in=self.rows_in + other.rows_in,
            rows_out=self.rows_out + other.rows_out,
            reference_date=self.reference_date or other.reference_date,
            notes=list(self.notes),
        )
        for note in other.notes:
            merged.note(note)
        for action in self.actions + other.actions:
            if action.kind in ("dropped_column", "ignored_column"):  # per column, not per row
                if any(a.key == action.key for a in merged.actions):
                    continue
            merged.add(action.kind, action.column, action.count, action.rule, action.examples)
        return merged

    def to_dict(self) -> dict:
        """Plain-JSON form (for ``--json`` and for the app)."""
        return asdict(self)

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as indented JSON and return the path."""
        path = Path(path)
        if path.is_dir():
            raise DataError("is a directory, not a file", where=str(path), fix="give a file name such as report.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    def summary(self) -> str:
        """Readable multi-line summary for the command line."""
        lines = [
            f"file: {self.source}",
            f"schema: {self.source_schema}",
            f"rows read: {self.rows_in}  rows kept: {self.rows_out}  rows dropped: {self.rows_in - self.rows_out}",
            f"reference date: {self.reference_date or 'n/a (no Dt_Customer column)'}",
        ]
        lines += [f"note: {n}" for n in self.notes]
        if not self.actions:
            lines.append("cleaning: nothing to change")
        for a in self.actions:
            lines.append(f"- {a.kind:<14} {a.column:<16} {a.count:>8}  {a.rule}")
            if a.examples:
                lines.append(f"  {'':<14} {'':<16} {'':>8}  e.g. {'; '.join(a.examples)}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- shared by the rules


def examples(values: pd.Series, mask: pd.Series | np.ndarray) -> list[str]:
    """``row N: value`` for the first few masked cells (values shown cut short)."""
    picked = values[mask].head(MAX_EXAMPLES)
    return [f"row {row}: {show(value)}" for row, value in picked.items()]


def refuse_if_mostly_bad(
    bad: pd.Series, present: pd.Series, raw: pd.Series, column: str, expected: str, source: str,
    config: CleaningConfig,
) -> None:
    """Raise when more than ``max_bad_fraction`` of the present cells are bad (naming the first three)."""
    n_bad, n_present = int(bad.sum()), int(present.sum())
    if n_present and n_bad / n_present > config.max_bad_fraction:
        first = raw[bad].head(3)
        cells = ", ".join(f"row {r} (line {r + 1}) {show(v)}" for r, v in first.items())
        raise DataError(
            f"column {column!r} should hold {expected}, but {n_bad} of {n_present} values are not ({cells})",
            where=f"{source}, column {column}",
            fix=f"check the column mapping or the export; at most {config.max_bad_fraction:.0%} bad cells "
            "are repaired (set missing), more are refused",
        )


def set_missing_where(frame: pd.DataFrame, column: str, bad: pd.Series, rule: str, expected: str,
                      report: CleaningReport, source: str, config: CleaningConfig,
                      shown: pd.Series | None = None) -> pd.DataFrame:
    """Set the ``bad`` cells of ``column`` missing (counted); refuse when most known values are bad."""
    values = frame[column]
    shown = values if shown is None else shown
    refuse_if_mostly_bad(bad, values.notna(), shown, column, expected, source, config)
    report.add("set_missing", column, int(bad.sum()), rule, examples(shown, bad))
    frame.loc[bad, column] = np.nan
    return frame


def set_missing_outside(frame: pd.DataFrame, column: str, low: float | None, high: float | None,
                        rule: str, report: CleaningReport, source: str, config: CleaningConfig,
                        shown: pd.Series | None = None) -> pd.DataFrame:
    """Set values of ``column`` outside ``[low, high]`` missing; refuse when most values are out."""
    values = frame[column]
    bad = pd.Series(False, index=frame.index)
    if low is not None:
        bad |= values < low
    if high is not None:
        bad |= values > high
    expected = f"values in [{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
    return set_missing_where(frame, column, bad, rule, expected, report, source, config, shown)
