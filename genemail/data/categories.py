"""Text cells: customer IDs and categorical fields, folded onto known values so no free text survives.

Whatever a file, the app's new-customer form or a campaign upload puts in a text cell, what leaves
the data layer is either a customer ID of the documented character set
(:data:`genemail.data.schema.CUSTOMER_ID_RULE`) or one value of a fixed vocabulary. Later stages
(prompts above all) can therefore never receive raw user text. Every fold, every dropped row and
every empty cell is counted in the report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from genemail.data.report import MAX_EXAMPLES, CleaningConfig, CleaningReport, examples, refuse_if_mostly_bad
from genemail.data.schema import (
    CUSTOMER_ID_PATTERN, CUSTOMER_ID_RULE, EDUCATION_LEVELS, GENDERS, KID_AGE_BANDS, MARITAL_STATUSES,
)

# Values folded onto the schema's vocabularies (keys are lower-case, stripped).
MARITAL_FOLDS: dict[str, str] = {"alone": "Single", "absurd": "Unknown", "yolo": "Unknown"}
KID_AGE_FOLDS: dict[str, str] = {
    "0": "none", "no": "none", "no kids": "none",
    "kid": "young", "kids": "young", "child": "young", "children": "young", "toddler": "young",
    "teens": "teen", "teenager": "teen", "teenagers": "teen",
    "both": "young_and_teen", "young and teen": "young_and_teen", "young&teen": "young_and_teen",
}
GENDER_FOLDS: dict[str, str] = {
    "m": "Male", "man": "Male", "männlich": "Male", "f": "Female", "woman": "Female", "weiblich": "Female",
    "w": "Female", "o": "Other", "x": "Other", "d": "Other", "diverse": "Other", "non-binary": "Other",
    "nonbinary": "Other",
}
# What an empty cell of each categorical column becomes (reported as kind "missing").
EMPTY_MEANS: dict[str, str | None] = {
    "Education": "Unknown", "Marital_Status": "Unknown", "Gender": None, "KidAge": None,
}


def clean_ids(frame: pd.DataFrame, report: CleaningReport, source: str, config: CleaningConfig) -> pd.DataFrame:
    """Drop rows without an ID (nothing could address them) or with an ID outside the documented
    character set; refuse the file when most IDs are invalid."""
    ids = frame["ID"].astype("string").str.strip()
    ids = ids.str.replace(r"\.0$", "", regex=True)  # 5524.0 from float-typed sources
    frame["ID"] = ids
    missing = ids.isna() | (ids == "")
    report.add("dropped_rows", "ID", int(missing.sum()), "missing ID: row dropped",
               [f"row {r}" for r in frame.index[missing][:MAX_EXAMPLES]])
    invalid = ~missing & ~ids.str.fullmatch(CUSTOMER_ID_PATTERN).fillna(False)
    if invalid.any():
        refuse_if_mostly_bad(invalid, ~missing, ids, "ID", f"IDs of {CUSTOMER_ID_RULE}", source, config)
        report.add("dropped_rows", "ID", int(invalid.sum()), f"ID not made of {CUSTOMER_ID_RULE}: row dropped",
                   examples(ids, invalid))
    return frame[~(missing | invalid)]


def count_empty(frame: pd.DataFrame, report: CleaningReport) -> None:
    """Count the empty cells of the categorical columns (what each becomes is in :data:`EMPTY_MEANS`)."""
    for column, means in EMPTY_MEANS.items():
        if column not in frame.columns:
            continue
        values = frame[column]
        empty = values.isna() | (values.astype("string").str.strip() == "").fillna(False)
        rule = f"empty: read as {means!r}" if means else "empty: left missing"
        report.add("missing", column, int(empty.sum()), rule, [f"row {r}" for r in frame.index[empty][:MAX_EXAMPLES]])


def fold_categories(values: pd.Series, vocabulary: tuple[str, ...], folds: dict[str, str], column: str,
                    report: CleaningReport, unknown: str | None = "Unknown") -> pd.Series:
    """Map values case-insensitively onto ``vocabulary``; fold synonyms, unknown values to ``unknown``
    (or missing when ``unknown`` is None). Empty cells become ``unknown`` (see :func:`count_empty`).

    The rules run on the column's distinct values (a handful), then reach every row through the
    distinct values' codes, so a million rows cost about what a hundred do.
    """
    text = values.astype("string").str.strip()
    codes, distinct = pd.factorize(text)  # missing cells get code -1
    lower = pd.Series(distinct, dtype="string").str.lower()
    canonical = {v.lower(): v for v in vocabulary}
    out = lower.map(canonical).astype("string").to_numpy(dtype=object, na_value=None)
    for src, dst in folds.items():
        hit = (lower == src).fillna(False).to_numpy() & pd.isna(out)
        if hit.any():
            rows = _rows_of(codes, hit)
            report.add("folded", column, int(rows.sum()), f"{src!r} -> {dst!r}", examples(text, rows))
            out[hit] = dst
    rest = pd.isna(out) & (lower != "").fillna(False).to_numpy()
    if rest.any():
        rows = _rows_of(codes, rest)
        if unknown is not None:
            report.add("folded", column, int(rows.sum()), f"unrecognized value -> {unknown!r}", examples(text, rows))
            out[rest] = unknown
        else:
            report.add("set_missing", column, int(rows.sum()), "unrecognized value: set missing", examples(text, rows))
    table = np.append(out, unknown)  # code -1 (a missing cell) -> the last entry
    return pd.Series(pd.array(table[codes], dtype="string"), index=values.index)


def _rows_of(codes: np.ndarray, distinct_mask: np.ndarray) -> np.ndarray:
    """Rows whose distinct value is in ``distinct_mask`` (missing cells, code -1, never are)."""
    return np.append(distinct_mask, False)[codes]


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
    """M/F (and other spellings) -> Male/Female/Other; anything else -> Unknown; empty stays missing."""
    text = values.astype("string").str.strip()
    empty = text.isna() | (text == "")
    folded = fold_categories(text, GENDERS, GENDER_FOLDS, "Gender", report)
    return folded.mask(empty.to_numpy())
