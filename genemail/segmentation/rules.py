"""The business definition of the segments, written down once.

L1 value tiers (``High`` / ``Mid`` / ``Low``): KMeans with k=3 (seeded) on the standardized value
features (:data:`genemail.features.VALUE_FEATURES`: log income, log time-decayed yearly spend, log
purchases). Clusters are *named* by ordering their centroids by value (the sum of the standardized
coordinates), so the names do not depend on KMeans' arbitrary cluster numbering.

L2 sub-segments, in priority order (first match wins):

====================================================  =====================
``recency > dormant_days``  (default 60)              ``Dormant``            any tier
``reengage_days < recency <= dormant_days`` (30, 60)  ``Need_Reengagement``  any tier
active (``recency <= reengage_days``) and tier High   ``HighValue_Active``
active, tier Mid/Low, ``children > 0``                ``Parent_Active``
active, tier Mid/Low, no children (or unknown)        ``Regular_Active``
====================================================  =====================

Cold start (no segment, default strategy): ``recency`` unknown, or ``income`` *and* spend both unknown
for an *active* customer (whose segment depends on the value tier). A lapsed customer's segment does
not depend on the tier, so one with unknown value is still Dormant / Need_Reengagement (the tier is
then the classifier's estimate from what is known). PRD-schema rows (income, recency, children, no
spend) are segmented normally.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from genemail import taxonomy
from genemail.errors import DataError, config_error
from genemail.features import VALUE_FEATURES

ACTIVE, REENGAGE, DORMANT_STATE, UNKNOWN = "active", "reengage", "dormant", "unknown"
# The thresholds as a file of their own (the strategy studio saves them into a release beside the strategies).
RULES_FILE = "segment_rules.json"
RULES_FORMAT_VERSION = 1


@dataclass(frozen=True)
class RuleConfig:
    """Thresholds of the business definition.

    Args:
        dormant_days: a customer whose last purchase is more than this many days ago is Dormant.
        reengage_days: more than this (and at most ``dormant_days``) is Need_Reengagement; at most
            this is active.
    """

    dormant_days: float = 60.0
    reengage_days: float = 30.0

    def __post_init__(self) -> None:
        for name in ("dormant_days", "reengage_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise config_error(name, value, "a positive number of days")
        if self.reengage_days >= self.dormant_days:
            raise config_error(
                "reengage_days", self.reengage_days, f"a number of days below dormant_days={self.dormant_days}"
            )


def rules_to_json(config: RuleConfig) -> bytes:
    """The thresholds as the bytes of :data:`RULES_FILE` (stable: equal thresholds, equal bytes)."""
    import json

    data = {"format_version": RULES_FORMAT_VERSION, "dormant_days": config.dormant_days,
            "reengage_days": config.reengage_days}
    return (json.dumps(data, indent=2) + "\n").encode("utf-8")


def rules_from_json(text: str | bytes, where: str = RULES_FILE) -> RuleConfig:
    """Read :data:`RULES_FILE`; a broken file raises :class:`DataError` naming it."""
    import json

    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"not valid JSON ({err})", where=where, fix="save the thresholds again") from None
    if not isinstance(data, dict) or data.get("format_version") != RULES_FORMAT_VERSION:
        raise DataError(f"format_version is not {RULES_FORMAT_VERSION}", where=where, fix="save the thresholds again")
    return RuleConfig(dormant_days=data.get("dormant_days"), reengage_days=data.get("reengage_days"))


class ValueTiers(BaseEstimator):
    """L1 value tiers: seeded KMeans(k=3) on standardized value features, named by centroid value.

    ``fit`` takes a feature frame (:func:`genemail.features.build_features`); missing value features
    are imputed with the training median *for clustering only* (the classifier sees the NaN).
    """

    def __init__(self, value_features: tuple[str, ...] = VALUE_FEATURES, random_state: int = 0) -> None:
        self.value_features = value_features
        self.random_state = random_state

    def fit(self, features: pd.DataFrame, y: object = None) -> "ValueTiers":
        """Cluster the rows and name clusters High/Mid/Low by descending centroid value."""
        from sklearn.cluster import KMeans
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from threadpoolctl import threadpool_limits

        X = features[list(self.value_features)].to_numpy(dtype="float64")
        n_distinct = len(np.unique(SimpleImputer(strategy="median").fit_transform(X), axis=0)) if len(X) else 0
        if n_distinct < len(taxonomy.L1_TIERS):
            raise DataError(
                f"the customers' value features ({', '.join(self.value_features)}) take only {n_distinct} distinct "
                f"value(s): {len(taxonomy.L1_TIERS)} value tiers cannot be formed",
                where="value tiers (fit)", fix="train on customers whose income or spending differ",
            )
        self.pipeline_ = make_pipeline(
            SimpleImputer(strategy="median"),
            StandardScaler(),
            KMeans(n_clusters=len(taxonomy.L1_TIERS), n_init=10, random_state=self.random_state),
        )
        # One thread: k=3 in 3-D is cheap, and OpenMP threads spinning on a busy machine are not.
        with threadpool_limits(limits=1):
            self.pipeline_.fit(X)
        centers = self.pipeline_[-1].cluster_centers_  # (k, n_value_features), standardized
        # All value features grow with value, so the coordinate sum orders clusters from richest down.
        order = np.argsort(-centers.sum(axis=1), kind="stable")
        self.tier_of_cluster_ = np.empty(len(order), dtype=object)
        self.tier_of_cluster_[order] = np.array(taxonomy.L1_TIERS, dtype=object)
        return self

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        """Standardized (imputed) value features, shape (n, n_value_features)."""
        X = features[list(self.value_features)].to_numpy(dtype="float64")
        return self.pipeline_[:-1].transform(X)

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Tier name per row (object array of ``High``/``Mid``/``Low``)."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            clusters = self.pipeline_[-1].predict(self.transform(features))
        return self.tier_of_cluster_[clusters]

    def distances(self, features: pd.DataFrame) -> np.ndarray:
        """Distance to each tier's centroid (columns High, Mid, Low), NaN where a value feature is missing.

        Used as classifier inputs: they make the tiers' oblique KMeans boundaries easy for trees to
        learn. NaN (not a median-imputed guess) where data are missing, so the classifier learns to
        fall back on the raw features there.
        """
        d = self.pipeline_[-1].transform(self.transform(features))  # (n, k) in cluster order
        order = [int(np.flatnonzero(self.tier_of_cluster_ == tier)[0]) for tier in taxonomy.L1_TIERS]
        d = d[:, order]
        d[features[list(self.value_features)].isna().any(axis=1).to_numpy()] = np.nan
        return d

    def centroids(self) -> pd.DataFrame:
        """Tier centroids in the value features' own (log) units, indexed by tier name, richest first."""
        pipe = self.pipeline_
        raw = pipe[1].inverse_transform(pipe[-1].cluster_centers_)
        table = pd.DataFrame(raw, columns=list(self.value_features), index=list(self.tier_of_cluster_))
        return table.loc[list(taxonomy.L1_TIERS)]


def activity_state(recency: pd.Series | np.ndarray, config: RuleConfig) -> np.ndarray:
    """``active`` / ``reengage`` / ``dormant`` per row by days since last purchase (``unknown`` for NaN)."""
    days = np.asarray(recency, dtype="float64")
    return np.select(
        [np.isnan(days), days > config.dormant_days, days > config.reengage_days],
        [UNKNOWN, DORMANT_STATE, REENGAGE],
        default=ACTIVE,
    ).astype(object)


def assign_l2(
    tier: np.ndarray, recency: pd.Series | np.ndarray, children: pd.Series | np.ndarray, config: RuleConfig
) -> np.ndarray:
    """The L2 table above, vectorized. Unknown children count as none; unknown recency gives <NA>."""
    state = activity_state(recency, config)
    kids = np.nan_to_num(np.asarray(children, dtype="float64"), nan=0.0)
    tier = np.asarray(tier, dtype=object)
    return np.select(
        [
            state == UNKNOWN,
            state == DORMANT_STATE,
            state == REENGAGE,
            tier == "High",
            kids > 0,
        ],
        [None, taxonomy.DORMANT, taxonomy.NEED_REENGAGEMENT, taxonomy.HIGHVALUE_ACTIVE, taxonomy.PARENT_ACTIVE],
        default=taxonomy.REGULAR_ACTIVE,
    ).astype(object)


def cold_start_reasons(features: pd.DataFrame, config: RuleConfig | None = None) -> pd.Series:
    """Why a row is cold-started (``"recency missing"``, ``"income and spend missing"``, both ``; ``-joined), else <NA>.

    Unknown value (income and spend) cold-starts only active customers (``recency <= reengage_days``):
    the segment of a lapsed customer is set by recency alone.
    """
    config = config or RuleConfig()
    recency = features["recency"].to_numpy(dtype="float64")
    no_recency = np.isnan(recency)
    lapsed = recency > config.reengage_days
    no_value = (features["income"].isna() & features["annual_spend"].isna()).to_numpy() & ~lapsed
    reasons = np.select(
        [no_recency & no_value, no_recency, no_value],
        ["recency missing; income and spend missing", "recency missing", "income and spend missing"],
        default="",
    )
    return pd.Series(reasons, index=features.index, dtype="string").replace("", pd.NA)


def business_labels(features: pd.DataFrame, tiers: ValueTiers, config: RuleConfig) -> pd.DataFrame:
    """Columns ``l1``, ``l2`` from the business definition; both <NA> on cold-start rows."""
    l1 = tiers.predict(features).astype(object)
    l2 = assign_l2(l1, features["recency"], features["children"], config)
    cold = cold_start_reasons(features, config).notna().to_numpy()
    l1[cold] = None
    l2[cold] = None
    return pd.DataFrame({"l1": l1, "l2": l2}, index=features.index).astype("string")
