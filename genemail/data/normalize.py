"""Derive the internal schema (:mod:`genemail.data.schema`) from a cleaned raw chunk of either schema.

Every column of ``schema.COLUMNS`` is present, in order and with its dtype, even where the source
cannot provide it (missing, never absent): a PRD file has no spend, purchases or join date, a Kaggle
file no gender.

Columns are computed as numpy arrays and the frame is built once, with each column already in its
final dtype: assigning thirty Series one by one and converting them afterwards cost more than all
the arithmetic (a third of the loader's time on a million rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from genemail.data.schema import (
    CAMPAIGN_COLUMNS, COLUMN_NAMES, DTYPES, KID_AGE_BANDS, PURCHASE_CHANNELS, SPEND_CATEGORIES,
)

SPEND_SOURCE = dict(zip(SPEND_CATEGORIES, (
    "MntWines", "MntFruits", "MntMeatProducts", "MntFishProducts", "MntSweetProducts", "MntGoldProds")))
PURCHASE_SOURCE = dict(zip(PURCHASE_CHANNELS, (
    "NumWebPurchases", "NumCatalogPurchases", "NumStorePurchases", "NumDealsPurchases")))


def normalize(frame: pd.DataFrame, schema: str, ref: pd.Timestamp | None) -> pd.DataFrame:
    """Derive the internal schema (columns, order and dtypes of ``schema.COLUMNS``) from a cleaned chunk."""
    n = len(frame)
    nan = np.full(n, np.nan)
    out: dict[str, object] = {
        "customer_id": frame["ID"],
        "gender": frame["Gender"] if schema == "prd" else _missing_text(n),
        "education": frame["Education"],
        "marital_status": frame["Marital_Status"],
        "income": _floats(frame["Income"]),
        "income_imputed": frame["income_imputed"].fillna(False).to_numpy(dtype=bool),
    }
    adults = frame["Marital_Status"].isin(["Married", "Together"]).to_numpy(dtype="float64") + 1.0
    if schema == "kaggle":
        known_ref = ref is not None and pd.notna(ref)
        out["age"] = float(ref.year) - _floats(frame["Year_Birth"]) if known_ref else nan
        kids, teens = _floats(frame["Kidhome"]), _floats(frame["Teenhome"])
        out["kids"], out["teens"], out["children"] = kids, teens, kids + teens
        out["kid_age"] = _kid_age_band(kids, teens)
        out["family_size"] = adults + out["children"]
        tenure = (ref - frame["Dt_Customer"]).dt.days.to_numpy(dtype="float64") if ref is not None else nan
        out["tenure_days"] = np.where(tenure >= 0, tenure, np.nan)  # joined after the reference date: unknown
        for cat, src in SPEND_SOURCE.items():
            out[f"spend_{cat}"] = _floats(frame[src])
        for channel, src in PURCHASE_SOURCE.items():
            out[f"purchases_{channel}"] = _floats(frame[src])
        out["web_visits_month"] = _floats(frame["NumWebVisitsMonth"])
        campaigns = [c for c in CAMPAIGN_COLUMNS if c in frame.columns]
        out["accepted_campaigns"] = _row_sum(frame[campaigns]) if campaigns else nan
    else:
        out["age"] = _floats(frame["Age"])
        out["kids"] = out["teens"] = nan
        kid_age = frame["KidAge"]
        out["kid_age"] = kid_age
        family = _floats(frame["Familysize"])
        out["family_size"] = family
        children = np.clip(family - adults, 0, None)
        # A stated kid age band implies at least one child; "none" implies zero.
        children = np.where(kid_age.ne("none").fillna(True).to_numpy(dtype=bool), children, 0.0)
        at_least_one = ~kid_age.isin(["none"]).fillna(True).to_numpy(dtype=bool)
        out["children"] = np.where(at_least_one, np.clip(children, 1, None), children)
        for col in ("tenure_days", "web_visits_month", "accepted_campaigns",
                    *(f"spend_{c}" for c in SPEND_CATEGORIES), *(f"purchases_{c}" for c in PURCHASE_CHANNELS)):
            out[col] = nan
    out["recency"] = _floats(frame["Recency"])
    spend = np.column_stack([out[f"spend_{c}"] for c in SPEND_CATEGORIES])
    out["total_spend"] = _row_sum(spend) if n else nan
    out["total_purchases"] = _row_sum(np.column_stack([out[f"purchases_{c}"] for c in ("web", "catalog", "store")]))
    out["favourite_category"] = _favourite(spend, out["total_spend"])
    # Tenure under a month counts as one month, so brand-new customers get no absurd rates.
    out["purchase_frequency"] = out["total_purchases"] / (np.clip(out["tenure_days"], 30, None) / 30.0)
    return pd.DataFrame({name: _as_dtype(out[name], DTYPES[name]) for name in COLUMN_NAMES})


def _floats(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype="float64", na_value=np.nan)


def _row_sum(block: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Sum across columns, NaN only where every value is NaN (pandas' ``sum(axis=1, min_count=1)``)."""
    return pd.DataFrame(block).sum(axis=1, min_count=1).to_numpy(dtype="float64")


def _missing_text(n: int) -> pd.api.extensions.ExtensionArray:
    import pyarrow as pa

    return pd.array(pa.nulls(n, pa.large_string()), dtype="string")


def _text(codes: np.ndarray, names: tuple[str, ...]) -> pd.api.extensions.ExtensionArray:
    """``names[code]`` per row as a text column, <NA> where ``code < 0``."""
    import pyarrow as pa

    return pd.array(pa.array(names, type=pa.large_string()).take(pa.array(codes, mask=codes < 0)), dtype="string")


def _kid_age_band(kids: np.ndarray, teens: np.ndarray) -> pd.api.extensions.ExtensionArray:
    has_kids, has_teens = np.nan_to_num(kids) > 0, np.nan_to_num(teens) > 0
    band = np.select([has_kids & has_teens, has_kids, has_teens], [3, 1, 2], 0)  # index into KID_AGE_BANDS
    return _text(np.where(np.isnan(kids) & np.isnan(teens), -1, band), KID_AGE_BANDS)


def _favourite(spend: np.ndarray, total: np.ndarray) -> pd.api.extensions.ExtensionArray:
    if spend.size == 0:
        return _missing_text(len(total))
    best = np.nan_to_num(spend, nan=-1.0).argmax(axis=1)
    with np.errstate(invalid="ignore"):
        return _text(np.where(total > 0, best, -1), SPEND_CATEGORIES)


def _as_dtype(values: object, dtype: str) -> object:
    """``values`` (a Series, an extension array or a numpy array) as a column of the schema's ``dtype``."""
    if isinstance(values, pd.Series):
        values = values.array  # positions, not index labels: the frame is built on a fresh RangeIndex
    if dtype == "Int64":
        return pd.array(np.round(np.asarray(values, dtype="float64")), dtype="Int64")
    if dtype == "string":
        return values if getattr(values, "dtype", None) == pd.StringDtype() else pd.array(values, dtype="string")
    return np.asarray(values, dtype=dtype)
