"""Side-by-side summary of two customer tables (e.g. the real file vs a synthetic one).

Both tables are compared in the internal schema, after cleaning, so the table also shows the
derived columns (age, total_spend, tenure_days, ...) that later stages use. Numbers get missing
share, mean, std and quantiles; categories get the share of each value.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
MAX_LEVELS = 8  # categories shown per column (most frequent in the first table)
SKIPPED = ("customer_id",)  # identifiers: their frequencies say nothing about closeness


def _numeric_stats(a: pd.Series, b: pd.Series) -> list[tuple[str, float, float]]:
    a, b = a.astype("float64"), b.astype("float64")
    rows = [("missing %", 100 * a.isna().mean(), 100 * b.isna().mean()),
            ("mean", a.mean(), b.mean()), ("std", a.std(), b.std())]
    rows += [(f"p{int(q * 100)}", a.quantile(q), b.quantile(q)) for q in QUANTILES]
    return rows


def _category_stats(a: pd.Series, b: pd.Series) -> list[tuple[str, float, float]]:
    fa = a.astype("string").fillna("<NA>").value_counts(normalize=True) * 100
    fb = b.astype("string").fillna("<NA>").value_counts(normalize=True) * 100
    levels = list(fa.index[:MAX_LEVELS]) + [lv for lv in fb.index[:MAX_LEVELS] if lv not in fa.index[:MAX_LEVELS]]
    return [(f"% {level}", fa.get(level, 0.0), fb.get(level, 0.0)) for level in levels]


def compare_frames(first: pd.DataFrame, second: pd.DataFrame, *, names: tuple[str, str] = ("real", "synth"),
                   columns: list[str] | None = None) -> pd.DataFrame:
    """Long table ``column | stat | <names[0]> | <names[1]>`` over the columns both tables share.

    Columns missing everywhere in both tables (e.g. ``gender`` for Kaggle files) are skipped.
    """
    shared = [c for c in (columns or list(first.columns)) if c in second.columns and c not in SKIPPED]
    rows: list[tuple[str, str, float, float]] = []
    for col in shared:
        a, b = first[col], second[col]
        if a.isna().all() and b.isna().all():
            continue
        numeric = pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(a)
        stats = _numeric_stats(a, b) if numeric else _category_stats(a, b)
        rows += [(col, stat, x, y) for stat, x, y in stats]
    return pd.DataFrame(rows, columns=["column", "stat", names[0], names[1]])


def format_comparison(table: pd.DataFrame) -> str:
    """Fixed-width text of :func:`compare_frames`'s table (the column name shown once per block)."""
    shown = table.copy()
    shown.loc[shown["column"].duplicated(), "column"] = ""
    for name in shown.columns[2:]:
        shown[name] = shown[name].map(lambda v: "nan" if pd.isna(v) else f"{v:,.2f}")
    return shown.to_string(index=False, justify="left")


def compare_files(first: str | Path, second: str | Path) -> pd.DataFrame:
    """Load and clean both files (any supported format/schema) and compare them."""
    from genemail.data.loader import load_customers

    a, b = load_customers(first).frame, load_customers(second).frame
    return compare_frames(a, b, names=("real", "synth"))
