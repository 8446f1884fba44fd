"""The time decay moves lapsed big spenders down the value tiers, and the half-life decides how many.

The tiers are the business definition (``ValueTiers`` on ``VALUE_FEATURES``); the customers asked
about are the top quarter of yearly spend whose last purchase was 61-99 days ago (lapsed), beside the
top quarter who bought in the last 30 days (active). docs/SEGMENTATION.md gives the measured counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genemail.features import DEFAULT_HALF_LIFE_DAYS, VALUE_FEATURES, FeatureConfig, build_features
from genemail.segmentation.rules import ValueTiers, cold_start_reasons

NO_DECAY = 1e9  # a half-life so long that the weight is 1 for every customer


def tiers_of_big_spenders(customers: pd.DataFrame, half_life: float) -> tuple[pd.Series, pd.Series]:
    """Tier counts of the lapsed and of the active top-quarter spenders under ``half_life``."""
    features = build_features(customers, FeatureConfig(half_life_days=half_life))
    features = features[cold_start_reasons(features).isna().to_numpy()]
    tiers = pd.Series(ValueTiers().fit(features).predict(features), index=features.index)
    top = features["annual_spend"] >= features["annual_spend"].quantile(0.75)
    lapsed = top & features["recency"].between(61, 99)
    active = top & (features["recency"] <= 30)
    return tiers[lapsed].value_counts(), tiers[active].value_counts()


def share_high(counts: pd.Series) -> float:
    return counts.get("High", 0) / counts.sum()


@pytest.fixture(scope="module")
def synthetic() -> pd.DataFrame:
    from genemail.data import clean_frame, synthesize

    return clean_frame(synthesize(3000, 0, dirty=False)).frame


def test_both_behaviour_value_features_are_decayed_and_income_is_not() -> None:
    assert VALUE_FEATURES == ("log_income", "log_decayed_spend_rate", "log_decayed_purchases")
    frame = pd.DataFrame({"customer_id": ["a", "b"], "recency": [0.0, 60.0], "income": [50_000.0, 50_000.0],
                          "total_spend": [1000.0, 1000.0], "total_purchases": [20.0, 20.0]})
    f = build_features(frame, FeatureConfig(half_life_days=30))
    assert f["decayed_purchases"].tolist() == [20.0, 5.0] and f["decayed_spend_rate"].tolist() == [500.0, 125.0]
    assert f["log_income"].iloc[0] == f["log_income"].iloc[1]


def test_the_default_half_life_moves_most_lapsed_big_spenders_out_of_high(synthetic: pd.DataFrame) -> None:
    lapsed, active = tiers_of_big_spenders(synthetic, DEFAULT_HALF_LIFE_DAYS)
    assert lapsed.sum() > 150
    assert share_high(lapsed) < 0.5, f"lapsed top spenders still High: {lapsed.to_dict()}"
    assert share_high(active) > 0.97, f"active top spenders left High: {active.to_dict()}"


def test_the_half_life_has_a_visible_effect_on_tiers(synthetic: pd.DataFrame) -> None:
    shares = {hl: share_high(tiers_of_big_spenders(synthetic, hl)[0]) for hl in (15, 30, 90, NO_DECAY)}
    assert shares[NO_DECAY] > 0.97  # without decay the lapsed big spenders stay High: lock-in
    assert shares[90] > 0.9  # a quarter-long half-life barely moves them
    assert shares[15] < shares[30] < shares[90] - 0.3  # the shorter the half-life, the more move


def test_a_fitted_segmenter_follows_the_decayed_tiers(synthetic: pd.DataFrame) -> None:
    """Two copies of each top-quarter spender, bought 5 and 80 days ago: the lapsed copy is never in a higher tier."""
    from genemail.segmentation import HierarchicalSegmenter

    model = HierarchicalSegmenter(max_iter=20, n_augment=0, random_state=0).fit(synthetic)
    big = synthetic[synthetic["total_spend"] >= synthetic["total_spend"].quantile(0.75)].head(200)
    active, lapsed = big.assign(recency=5.0), big.assign(recency=80.0)
    rank = {"High": 0, "Mid": 1, "Low": 2}
    t_active = model.predict_l1(active)
    t_lapsed = model.predict_l1(lapsed)
    assert np.all([rank[b] >= rank[a] for a, b in zip(t_active, t_lapsed)])
    assert (t_active == "High").mean() > 0.95 and (t_lapsed != "High").mean() > 0.4


@pytest.mark.realdata
def test_real_file_lapsed_big_spenders_leave_high(real_data_file) -> None:
    """The issue's measurement: 202 top-quarter spenders lapsed 61-99 days, all High before the change."""
    from genemail.data import load_customers

    customers = load_customers(real_data_file).frame
    lapsed, active = tiers_of_big_spenders(customers, DEFAULT_HALF_LIFE_DAYS)
    assert lapsed.sum() == 202
    assert lapsed.get("High", 0) <= 20 and active.get("High", 0) == active.sum()
    assert share_high(tiers_of_big_spenders(customers, 90.0)[0]) == 1.0  # the old 90-day half-life: no one moves
