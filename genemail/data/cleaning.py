"""Visible cleaning: every rule that drops, imputes, sets missing or folds a value is counted here.

The loader hands this module a chunk whose columns already carry their canonical names (the
spelling of ``schema.KAGGLE_REQUIRED`` / ``schema.PRD_REQUIRED``) and whose index is the 1-based
data row number in the file (line = row + 1, the header being line 1). Each rule records a
:class:`CleaningAction` in the :class:`CleaningReport`, so a user can see what happened to the file.

Decisions (documented in docs/DATA.md):
- a few non-numeric cells in a numeric column are set missing and reported; when more than
  ``max_bad_fraction`` of a column's non-empty cells are bad, the file is refused;
- ages outside ``[min_age, max_age]`` (birth years 1893/1899/1900 in the real file) are set missing;
- incomes above ``max_income`` (the real file's 666,666) are treated as missing, then imputed;
- missing incomes are imputed with the median income of the customer's Education group
  (``income_imputed`` marks them); counts refer to input rows, duplicates are dropped last.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from genemail.data.schema import EDUCATION_LEVELS, KID_AGE_BANDS, MARITAL_STATUSES
from genemail.errors import DataError, config_error

MAX_EXAMPLES = 5

# Values folded onto the schema's vocabularies (keys are lower-case, stripped).
MARITAL_FOLDS: dict[str, str] = {"alone": "Single", "absurd": "Unknown", "yolo": "Unknown"}
KID_AGE_FOLDS: dict[str, str] = {
    "0": "none", "no": "none", "no kids": "none", "": "none",
    "kid": "young", "kids": "young", "child": "young", "children": "young", "toddler": "young",
    "teens": "teen", "teenager": "teen", "teenagers": "teen",
    "both": "young_and_teen", "young and teen": "young_and_teen", "young&teen": "young_and_teen",
}
GENDER_FOLDS: dict[str, str] = {"m": "Male", "male": "Male", "f": "Female", "female": "Female"}


@dataclass
class CleaningConfig:
    """Thresholds of the cleaning rules (validated at construction)."""

    min_age: float = 16.0
    max_age: float = 100.0
    max_income: float = 250_000.0
    max_bad_fraction: float = 0.2  # above this share of bad cells a column is refused, not repaired

    def __post_init__(self) -> None:
        if not 0 <= self.min_age < self.max_age:
            raise config_error("min_age/max_age", (self.min_age, self.max_age), "0 <= min_age < max_age")
        if not self.max_income > 0:
            raise config_error("max_income", self.max_income, "a positive number")
        if not 0 < self.max_bad_fraction < 1:
            raise config_error("max_bad_fraction", self.max_bad_fraction, "a fraction between 0 and 1")


@dataclass
class CleaningAction:
    """One rule applied to ``count`` rows/values of ``column``."""

    kind: str  # dropped_rows | imputed | set_missing | folded | dropped_column | ignored_column
    column: str
    count: int
    rule: str
    examples: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.column, self.rule)


@dataclass
class CleaningReport:
    """What the loader read, kept, dropped, imputed and folded, each with the rule applied."""

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


# --------------------------------------------------------------------------------------------
# Rules. Each takes the chunk (index = data row number) and mutates/returns it, recording actions.
# --------------------------------------------------------------------------------------------


def show(value: object) -> str:
    """A cell as a user wrote it: 1893 rather than 1893.0 or np.int64(1893), text quoted."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return repr(value) if isinstance(value, str) else str(value)


def _examples(values: pd.Series, mask: pd.Series | np.ndarray) -> list[str]:
    picked = values[mask].head(MAX_EXAMPLES)
    return [f"row {row}: {show(value)}" for row, value in picked.items()]


def _refuse_if_mostly_bad(
    bad: pd.Series, present: pd.Series, raw: pd.Series, column: str, expected: str, source: str,
    config: CleaningConfig,
) -> None:
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


def coerce_numeric(frame: pd.DataFrame, columns: list[str], report: CleaningReport, source: str,
                   config: CleaningConfig) -> pd.DataFrame:
    """Make ``columns`` float64: a few unreadable cells become missing (reported), many are refused."""
    for col in columns:
        raw = frame[col]
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            frame[col] = raw.astype("float64")
            continue
        text = raw.astype("string").str.strip()
        # Thousands separators ("58,138" in semicolon files) are common in hand-made exports.
        values = pd.to_numeric(text.str.replace(r"(?<=\d)[,_ ](?=\d{3}\b)", "", regex=True), errors="coerce")
        present = text.notna() & (text != "")
        bad = present & values.isna()
        _refuse_if_mostly_bad(bad, present, text, col, "numbers", source, config)
        report.add("set_missing", col, int(bad.sum()), "not a number: set missing", _examples(text, bad))
        frame[col] = values.astype("float64")
    return frame


# Date formats tried in order; day-first for the ambiguous slash/dash forms (Kaggle exports are day-first).
DATE_FORMATS: tuple[str, ...] = (
    "%d-%b-%y", "%d-%b-%Y", "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y", "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%y",
)


def parse_dates(values: pd.Series) -> pd.Series:
    """Parse mixed-format date strings into datetime64 (NaT where none of ``DATE_FORMATS`` fits).

    Vectorized over the distinct values only: a file has a few hundred distinct dates however
    many rows it has.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_localize(None) if getattr(values.dt, "tz", None) else values
    codes, uniques = pd.factorize(values.astype("string").str.strip())
    text = pd.Series(uniques, dtype="string")
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    for fmt in DATE_FORMATS:
        todo = parsed.isna()
        if not todo.any():
            break
        parsed[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce")
    out = parsed.to_numpy()[codes]
    out[codes < 0] = np.datetime64("NaT")
    return pd.Series(out, index=values.index, dtype="datetime64[ns]")


def coerce_dates(frame: pd.DataFrame, column: str, report: CleaningReport, source: str,
                 config: CleaningConfig) -> pd.DataFrame:
    """Parse ``column`` as dates; a few unreadable dates become missing, many are refused."""
    raw = frame[column]
    parsed = parse_dates(raw)
    if not pd.api.types.is_datetime64_any_dtype(raw):
        text = raw.astype("string").str.strip()
        present = text.notna() & (text != "")
        bad = present & parsed.isna()
        _refuse_if_mostly_bad(bad, present, text, column, "dates such as 4-Sep-12 or 2012-09-04", source, config)
        report.add("set_missing", column, int(bad.sum()), "unreadable date: set missing", _examples(text, bad))
    frame[column] = parsed
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
    shown = values if shown is None else shown
    expected = f"values in [{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
    _refuse_if_mostly_bad(bad, values.notna(), shown, column, expected, source, config)
    report.add("set_missing", column, int(bad.sum()), rule, _examples(shown, bad))
    frame.loc[bad, column] = np.nan
    return frame


def fold_categories(values: pd.Series, vocabulary: tuple[str, ...], folds: dict[str, str], column: str,
                    report: CleaningReport, unknown: str | None = "Unknown") -> pd.Series:
    """Map values case-insensitively onto ``vocabulary``; fold synonyms, unknown values to ``unknown``."""
    text = values.astype("string").str.strip()
    lower = text.str.lower()
    canonical = {v.lower(): v for v in vocabulary}
    out = lower.map(canonical).astype("string")
    for src, dst in folds.items():
        hit = (lower == src) & out.isna()
        if hit.any():
            report.add("folded", column, int(hit.sum()), f"{src!r} -> {dst!r}", _examples(text, hit))
            out[hit] = dst
    rest = out.isna() & text.notna() & (text != "")
    if rest.any() and unknown is not None:
        report.add("folded", column, int(rest.sum()), f"unrecognized value -> {unknown!r}", _examples(text, rest))
        out[rest] = unknown
    elif rest.any():
        report.add("set_missing", column, int(rest.sum()), "unrecognized value: set missing", _examples(text, rest))
    if unknown is not None:
        out = out.fillna(unknown)
    return out


def fold_marital(values: pd.Series, report: CleaningReport) -> pd.Series:
    """Alone -> Single; Absurd, YOLO and other unknown values -> Unknown."""
    return fold_categories(values, MARITAL_STATUSES, MARITAL_FOLDS, "Marital_Status", report)


def fold_education(values: pd.Series, report: CleaningReport) -> pd.Series:
    """Known education levels, case-insensitive; anything else -> Unknown."""
    return fold_categories(values, EDUCATION_LEVELS, {"2nd cycle": "2n Cycle"}, "Education", report)


def fold_kid_age(values: pd.Series, report: CleaningReport) -> pd.Series:
    """The PRD's KidAge onto ``KID_AGE_BANDS``; unknown values become missing."""
    return fold_categories(values, KID_AGE_BANDS, KID_AGE_FOLDS, "KidAge", report, unknown=None)


def fold_gender(values: pd.Series, report: CleaningReport) -> pd.Series:
    """M/F spellings -> Male/Female; other non-empty values are kept as written."""
    text = values.astype("string").str.strip()
    folded = text.str.lower().map(GENDER_FOLDS).astype("string")
    changed = folded.notna() & (folded != text)
    report.add("folded", "Gender", int(changed.sum()), "M/F spellings -> Male/Female", _examples(text, changed))
    return folded.fillna(text.where(text != ""))


def impute_income(frame: pd.DataFrame, report: CleaningReport, missing_in_file: int | None = None) -> pd.Series:
    """Fill missing Income with the median of the customer's Education group; return the flag.

    Groups with no known income fall back to the median of the whole file (chunk when streaming).
    """
    income = frame["Income"]
    missing = income.isna()
    if not missing.any():
        return missing
    overall = income.median()
    if pd.isna(overall):  # no income at all: nothing honest to impute from
        report.note("Income is missing in every row: left missing, not imputed")
        return pd.Series(False, index=frame.index)
    medians = income.groupby(frame["Education"]).median()
    fill = frame["Education"].map(medians).astype("float64").fillna(overall)
    frame["Income"] = income.fillna(fill)
    shown = {k: round(float(v)) for k, v in medians.dropna().items()}
    origin = [] if missing_in_file is None else [
        f"{missing_in_file} missing in the file, {int(missing.sum()) - missing_in_file} set missing by a rule"]
    report.add("imputed", "Income", int(missing.sum()),
               "missing Income -> median Income of the customer's Education group",
               origin + [f"medians {shown}"])
    return missing


def drop_missing_ids(frame: pd.DataFrame, report: CleaningReport) -> pd.DataFrame:
    """Rows without an ID cannot be addressed by any later stage: drop them."""
    ids = frame["ID"].astype("string").str.strip()
    ids = ids.str.replace(r"\.0$", "", regex=True)  # 5524.0 from float-typed sources
    frame["ID"] = ids
    missing = ids.isna() | (ids == "")
    report.add("dropped_rows", "ID", int(missing.sum()), "missing ID: row dropped",
               [f"row {r}" for r in frame.index[missing][:MAX_EXAMPLES]])
    return frame[~missing]


def report_constant_columns(frame: pd.DataFrame, used: set[str], report: CleaningReport) -> None:
    """Columns the internal schema does not use: constant ones are dropped, others ignored."""
    if len(frame) < 2:
        return
    for col in frame.columns:
        if col in used:
            continue
        values = frame[col].dropna().unique()
        if len(values) <= 1:
            shown = values[0] if len(values) else "missing"
            report.add("dropped_column", col, 1, f"constant column (always {show(shown)}): dropped")
        else:
            report.add("ignored_column", col, 1, "not used by the internal schema: ignored")
