"""Visible cleaning: the rules, in the order they run, each counted in the :class:`CleaningReport`.

The loader hands this module a chunk whose columns already carry their canonical names (the
spelling of ``schema.KAGGLE_REQUIRED`` / ``schema.PRD_REQUIRED``) and whose index is the 1-based
data row number in the file (line = row + 1, the header being line 1). The rules live in small
modules by kind of cell and are re-exported here:

* :mod:`.numbers`: formatted numbers repaired (``$58,138``, ``58.138``), unreadable ones set
  missing or refused, absurd counts set missing;
* :mod:`.dates`: join dates in the file's own day/month order, outside the plausible range set missing;
* :mod:`.categories`: IDs of the documented character set, categorical values folded onto known
  vocabularies, empty cells counted;
* this module: ages and incomes out of range, income imputation, unused columns.

Decisions (documented in docs/DATA.md, "What is refused and what is repaired"):
- a few bad cells in a column are set missing and reported; when more than ``max_bad_fraction``
  of a column's non-empty cells are bad, the file is refused;
- ages outside ``[min_age, max_age]`` (birth years 1893/1899/1900 in the real file) are set missing;
- incomes above ``max_income`` (the real file's 666,666) are treated as missing, then imputed;
- missing incomes are imputed with the median income of the customer's Education group
  (``income_imputed`` marks them); counts refer to input rows, duplicates are dropped last.
"""

from __future__ import annotations

import pandas as pd

from genemail.data.categories import (
    EMPTY_MEANS, clean_ids, count_empty, fold_categories, fold_education, fold_gender, fold_kid_age, fold_marital,
)
from genemail.data.dates import DATE_FORMATS, DatePlan, coerce_dates, parse_dates, plan_dates
from genemail.data.numbers import check_counts, coerce_numeric, parse_numbers
from genemail.data.report import (
    MAX_EXAMPLES, CleaningAction, CleaningConfig, CleaningReport, refuse_if_mostly_bad, set_missing_outside,
)
from genemail.data.text import show

__all__ = [
    "DATE_FORMATS", "EMPTY_MEANS", "MAX_EXAMPLES", "CleaningAction", "CleaningConfig", "CleaningReport", "DatePlan",
    "apply_rules", "check_counts", "clean_ids", "coerce_dates", "coerce_numeric", "count_empty",
    "fold_categories", "fold_education", "fold_gender", "fold_kid_age", "fold_marital", "impute_income",
    "parse_dates", "parse_numbers", "plan_dates", "refuse_if_mostly_bad", "report_constant_columns",
    "set_missing_outside", "show",
]


def apply_rules(frame: pd.DataFrame, schema: str, ref: pd.Timestamp | None, report: CleaningReport,
                source: str, config: CleaningConfig) -> pd.DataFrame:
    """The value rules after parsing: counts, ages, income, categories, imputation (in this order)."""
    frame = check_counts(frame, report, source, config)
    if schema == "kaggle" and ref is not None and pd.notna(ref):
        low, high = ref.year - config.max_age, ref.year - config.min_age
        rule = f"birth year gives an age outside [{config.min_age:g}, {config.max_age:g}]: set missing"
        frame = set_missing_outside(frame, "Year_Birth", low, high, rule, report, source, config)
    count_empty(frame, report)
    if schema == "prd":
        rule = f"age outside [{config.min_age:g}, {config.max_age:g}]: set missing"
        frame = set_missing_outside(frame, "Age", config.min_age, config.max_age, rule, report, source, config)
        frame["Gender"] = fold_gender(frame["Gender"], report)
        frame["KidAge"] = fold_kid_age(frame["KidAge"], report)
    missing_in_file = int(frame["Income"].isna().sum())
    frame = set_missing_outside(
        frame, "Income", 0, config.max_income,
        f"income <= 0 or above {config.max_income:,.0f}: treated as missing (then imputed)", report, source, config)
    frame["Marital_Status"] = fold_marital(frame["Marital_Status"], report)
    frame["Education"] = fold_education(frame["Education"], report)
    frame["income_imputed"] = impute_income(frame, report, missing_in_file)
    return frame


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
