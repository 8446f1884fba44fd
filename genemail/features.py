"""Customer features: value, activity and family signals derived from the internal schema.

Everything here is vectorized pandas/numpy over a whole frame (no per-row Python), so the same
code serves a 2,000-row training set and a 1,000,000-row scoring run.

Time decay (PRD risk "segments lock customers in"): a customer's past behaviour counts less the
longer ago they last bought. ``activity_weight = 0.5 ** (recency / half_life_days)`` is 1.0 for a
purchase today, 0.5 after one half-life, 0.25 after two. Both behaviour signals among the value
features are decayed: ``decayed_spend_rate`` (yearly spend times that weight) and
``decayed_purchases`` (purchase count times that weight); income is not behaviour and is not decayed.
So a big spender who stopped buying drifts down the value tiers instead of being locked into "High".

Why both, and why 30 days (:data:`DEFAULT_HALF_LIFE_DAYS`): the tiers are KMeans clusters in log
space, where a weight ``w`` shifts a feature by ``log w`` (-0.69 per half-life) while yearly spend
spreads over about 1.5 (one standard deviation) on the real Kaggle file. With a 90-day half-life on
spend alone, a top-quarter spender lapsed 61-99 days lost too little to cross a tier boundary: all
202 such customers of the real file stayed High. Decaying purchases as well, with a half-life equal
to the re-engagement threshold (30 days), moves 192 of them to Mid while every active top-quarter
spender stays High (docs/SEGMENTATION.md; ``tests/test_time_decay.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from genemail.data.schema import SPEND_CATEGORIES
from genemail.errors import config_error

# Kaggle's Mnt* columns cover "the last two years"; dividing by this turns them into a yearly rate.
SPEND_WINDOW_YEARS = 2.0
# The time-decay half-life: the re-engagement threshold (RuleConfig.reengage_days). See the module docstring.
DEFAULT_HALF_LIFE_DAYS = 30.0

# Columns of the frame returned by :func:`build_features`, in order (the model's input).
FEATURE_COLUMNS: tuple[str, ...] = (
    "income",
    "log_income",
    "annual_spend",
    "log_annual_spend",
    "decayed_spend_rate",
    "log_decayed_spend_rate",
    "total_purchases",
    "log_purchases",
    "decayed_purchases",
    "log_decayed_purchases",
    "purchase_frequency",
    "tenure_days",
    "recency",
    "activity_weight",
    "children",
    "family_size",
    "age",
    "web_visits_month",
    "accepted_campaigns",
)

# The standardized features the L1 value tiers are clustered on (see segmentation.rules).
VALUE_FEATURES: tuple[str, ...] = ("log_income", "log_decayed_spend_rate", "log_decayed_purchases")

# Features by the source fields they come from. A schema provides some groups and not others (the
# PRD's sample table has no spend, purchases or join date): the segmenter uses the groups the
# training customers have and says which (see usable_features).
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "income": ("income", "log_income"),
    "spend": ("annual_spend", "log_annual_spend", "decayed_spend_rate", "log_decayed_spend_rate"),
    "purchases": ("total_purchases", "log_purchases", "decayed_purchases", "log_decayed_purchases",
                  "purchase_frequency"),
    "history": ("tenure_days", "web_visits_month", "accepted_campaigns"),
    "activity": ("recency", "activity_weight"),
    "family": ("children", "family_size"),
    "age": ("age",),
}
# Behaviour-sequence features (genemail.behaviour.sequence_features) ride along when the frame has them:
# every ``seq_*`` column is passed through as the group "sequence" (absent ones read as unknown).
SEQUENCE_PREFIX = "seq_"


@dataclass(frozen=True)
class FeatureConfig:
    """How features are derived.

    Args:
        half_life_days: days after which past behaviour counts half (time decay). 30 days by default
            (:data:`DEFAULT_HALF_LIFE_DAYS`): a customer who last bought a month ago has their spend
            rate and purchase count halved, two months ago quartered.
    """

    half_life_days: float = DEFAULT_HALF_LIFE_DAYS

    def __post_init__(self) -> None:
        value = self.half_life_days
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise config_error("half_life_days", value, "a positive number of days, e.g. 90")


def activity_weight(recency: pd.Series | np.ndarray, half_life_days: float) -> np.ndarray:
    """``0.5 ** (recency / half_life_days)``: 1.0 today, 0.5 one half-life ago; NaN stays NaN."""
    days = np.asarray(recency, dtype="float64")
    # Negative recency (a purchase "in the future" from bad dates) is clipped: it cannot be more recent than today.
    return np.power(0.5, np.clip(days, 0.0, None) / float(half_life_days))


def _float(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column as float64 with <NA> -> NaN; an all-NaN column when the source lacks it."""
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def known_income(frame: pd.DataFrame) -> pd.Series:
    """Income with cleaner-imputed values turned back into NaN.

    The data layer imputes a missing income (and flags it in ``income_imputed``); for segmentation an
    imputed median is not evidence, so the model sees it as missing and relies on the other signals.
    """
    income = _float(frame, "income")
    if "income_imputed" in frame.columns:
        imputed = frame["income_imputed"].fillna(False).astype(bool).to_numpy()
        income = income.mask(imputed)
    return income


def total_spend(frame: pd.DataFrame) -> pd.Series:
    """Sum of ``spend_*`` (NaN only when every category is missing, e.g. PRD-schema rows)."""
    columns = [f"spend_{c}" for c in SPEND_CATEGORIES if f"spend_{c}" in frame.columns]
    if columns:
        spend = frame[columns].apply(pd.to_numeric, errors="coerce").astype("float64")
        return spend.sum(axis=1, min_count=1)
    return _float(frame, "total_spend")


def build_features(frame: pd.DataFrame, config: FeatureConfig | None = None) -> pd.DataFrame:
    """Derive :data:`FEATURE_COLUMNS` from an internal-schema frame (same index, float64, NaN = unknown).

    Missing source fields stay NaN (the classifier handles NaN natively); nothing is imputed here.
    """
    config = config or FeatureConfig()
    income = known_income(frame)
    annual = total_spend(frame) / SPEND_WINDOW_YEARS
    recency = _float(frame, "recency")
    weight = activity_weight(recency, config.half_life_days)
    decayed = annual * weight
    purchases = _float(frame, "total_purchases")
    decayed_purchases = purchases * weight
    # log1p keeps zero spend finite and turns heavy-tailed money amounts into roughly normal ones.
    features = pd.DataFrame(
        {
            "income": income,
            "log_income": np.log1p(income.clip(lower=0)),
            "annual_spend": annual,
            "log_annual_spend": np.log1p(annual.clip(lower=0)),
            "decayed_spend_rate": decayed,
            "log_decayed_spend_rate": np.log1p(decayed.clip(lower=0)),
            "total_purchases": purchases,
            "log_purchases": np.log1p(purchases.clip(lower=0)),
            "decayed_purchases": decayed_purchases,
            "log_decayed_purchases": np.log1p(decayed_purchases.clip(lower=0)),
            "purchase_frequency": _float(frame, "purchase_frequency"),
            "tenure_days": _float(frame, "tenure_days"),
            "recency": recency,
            "activity_weight": weight,
            "children": _float(frame, "children"),
            "family_size": _float(frame, "family_size"),
            "age": _float(frame, "age"),
            "web_visits_month": _float(frame, "web_visits_month"),
            "accepted_campaigns": _float(frame, "accepted_campaigns"),
        },
        index=frame.index,
    )
    sequence = [c for c in frame.columns if str(c).startswith(SEQUENCE_PREFIX)]
    if sequence:  # behaviour-sequence features, when the caller joined them in (Phase 2)
        return pd.concat([features[list(FEATURE_COLUMNS)],
                          frame[sequence].apply(pd.to_numeric, errors="coerce").astype("float64")], axis=1)
    return features[list(FEATURE_COLUMNS)]


def usable_features(features: pd.DataFrame) -> tuple[str, ...]:
    """The :data:`FEATURE_COLUMNS` (and ``seq_*`` columns) with at least two distinct known values.

    A column missing in every row (spend in a PRD file) or constant carries no information, and
    gradient boosting cannot bin it: such columns are left out of the model.
    """
    sequence = tuple(c for c in features.columns if str(c).startswith(SEQUENCE_PREFIX))
    return tuple(c for c in (*FEATURE_COLUMNS, *sequence) if features[c].nunique(dropna=True) >= 2)


def feature_groups(columns: tuple[str, ...]) -> dict[str, list[str]]:
    """``{group: [its columns among columns]}`` for the groups with at least one of ``columns``."""
    used = {g: [c for c in cols if c in columns] for g, cols in FEATURE_GROUPS.items()}
    used["sequence"] = [c for c in columns if str(c).startswith(SEQUENCE_PREFIX)]
    return {g: cols for g, cols in used.items() if cols}


# --- Robustness perturbation -------------------------------------------------------------------
# Used twice: to augment training rows (so the classifier generalizes past hard thresholds and
# learns what to do with missing fields) and to build the perturbed evaluation copy.

MASK_GROUPS: dict[str, tuple[str, ...]] = {
    "income": ("income",),
    "children": ("children", "kids", "teens", "kid_age", "family_size"),
    "spend": (*(f"spend_{c}" for c in SPEND_CATEGORIES), "total_spend"),
    "history": ("total_purchases", "purchase_frequency", "tenure_days", "web_visits_month"),
}
NOISE_GROUPS: dict[str, tuple[str, ...]] = {
    "spend": tuple(f"spend_{c}" for c in SPEND_CATEGORIES),
    "recency": ("recency",),
}


@dataclass(frozen=True)
class PerturbConfig:
    """A random perturbation of customer records.

    Args:
        missing_rate: share of rows whose fields in each of ``mask`` groups are set missing
            (each group drawn independently).
        noise: relative noise: each value in ``noisy`` groups is multiplied by ``1 + U(-noise, noise)``.
        mask: groups from :data:`MASK_GROUPS` that may be masked.
        noisy: groups from :data:`NOISE_GROUPS` that get noise.
    """

    missing_rate: float = 0.1
    noise: float = 0.1
    mask: tuple[str, ...] = ("income", "children")
    noisy: tuple[str, ...] = ("spend", "recency")

    def __post_init__(self) -> None:
        if not 0.0 <= self.missing_rate <= 1.0:
            raise config_error("missing_rate", self.missing_rate, "a share between 0 and 1, e.g. 0.1")
        if not 0.0 <= self.noise < 1.0:
            raise config_error("noise", self.noise, "a relative amount in [0, 1), e.g. 0.1 for ±10%")
        for name, groups, known in (("mask", self.mask, MASK_GROUPS), ("noisy", self.noisy, NOISE_GROUPS)):
            unknown = [g for g in groups if g not in known]
            if unknown:
                raise config_error(name, tuple(groups), f"a tuple of names from {tuple(known)}")


def perturb_customers(frame: pd.DataFrame, config: PerturbConfig, seed: int) -> pd.DataFrame:
    """Return a perturbed copy of an internal-schema frame (the input is not modified)."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    n = len(out)
    for group in config.mask:
        rows = rng.random(n) < config.missing_rate
        for column in MASK_GROUPS[group]:
            if column in out.columns:
                out[column] = out[column].mask(rows)
    for group in config.noisy:
        for column in NOISE_GROUPS[group]:
            if column in out.columns:
                factor = 1.0 + rng.uniform(-config.noise, config.noise, n)
                out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64") * factor
    if "spend" in config.noisy and "total_spend" in out.columns:
        # Keep the total consistent with its noisy parts (and missing where they are all missing).
        out["total_spend"] = total_spend(out)
    return out
