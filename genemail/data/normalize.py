"""Derive the internal schema (:mod:`genemail.data.schema`) from a cleaned raw chunk of either schema.

Every column of ``schema.COLUMNS`` is present, in order and with its dtype, even where the source
cannot provide it (missing, never absent): a PRD file has no spend, purchases or join date, a Kaggle
file no gender.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from genemail.data.schema import CAMPAIGN_COLUMNS, COLUMN_NAMES, DTYPES, PURCHASE_CHANNELS, SPEND_CATEGORIES

SPEND_SOURCE = dict(zip(SPEND_CATEGORIES, (
    "MntWines", "MntFruits", "MntMeatProducts", "MntFishProducts", "MntSweetProducts", "MntGoldProds")))
PURCHASE_SOURCE = dict(zip(PURCHASE_CHANNELS, (
    "NumWebPurchases", "NumCatalogPurchases", "NumStorePurchases", "NumDealsPurchases")))


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

