"""Features: value/activity/family signals, time decay, perturbation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genemail.errors import ConfigError
from genemail.features import (
    FEATURE_COLUMNS,
    FEATURE_GROUPS,
    SPEND_WINDOW_YEARS,
    FeatureConfig,
    PerturbConfig,
    activity_weight,
    build_features,
    feature_groups,
    perturb_customers,
    usable_features,
)


def test_activity_weight_halves_every_half_life() -> None:
    weights = activity_weight(np.array([0.0, 30.0, 60.0, np.nan, -5.0]), half_life_days=30)
    np.testing.assert_allclose(weights[:3], [1.0, 0.5, 0.25])
    assert np.isnan(weights[3])
    assert weights[4] == 1.0  # a "future" purchase is clipped to today


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "30"])
def test_feature_config_rejects_bad_half_life(bad: object) -> None:
    with pytest.raises(ConfigError, match="half_life_days"):
        FeatureConfig(half_life_days=bad)  # type: ignore[arg-type]


def test_build_features_columns_and_formulas(customers: pd.DataFrame) -> None:
    features = build_features(customers, FeatureConfig(half_life_days=45))
    assert tuple(features.columns) == FEATURE_COLUMNS
    assert features.index.equals(customers.index)
    spend = customers["total_spend"].astype("float64")
    np.testing.assert_allclose(features["annual_spend"], spend / SPEND_WINDOW_YEARS)
    expected_weight = 0.5 ** (customers["recency"].astype("float64") / 45)
    np.testing.assert_allclose(features["activity_weight"], expected_weight)
    np.testing.assert_allclose(features["decayed_spend_rate"], spend / SPEND_WINDOW_YEARS * expected_weight)
    np.testing.assert_allclose(features["log_income"].dropna(), np.log1p(features["income"].dropna()))


def test_recent_behaviour_weighs_more(customers: pd.DataFrame) -> None:
    two = customers.iloc[[0, 0]].copy()
    two["recency"] = [5.0, 80.0]
    features = build_features(two)
    assert features["decayed_spend_rate"].iloc[0] > features["decayed_spend_rate"].iloc[1]
    assert features["annual_spend"].iloc[0] == features["annual_spend"].iloc[1]
    slow = build_features(two, FeatureConfig(half_life_days=365))
    assert slow["decayed_spend_rate"].iloc[1] > features["decayed_spend_rate"].iloc[1]


def test_imputed_income_counts_as_unknown(customers: pd.DataFrame) -> None:
    frame = customers.head(4).copy()
    frame["income_imputed"] = [True, False, False, False]
    features = build_features(frame)
    assert np.isnan(features["income"].iloc[0]) and features["income"].iloc[1:].notna().all()


def test_prd_schema_rows_keep_what_they_have(customers: pd.DataFrame) -> None:
    prd = customers.head(5).copy()
    for column in [c for c in prd.columns if c.startswith(("spend_", "purchases_"))] + [
        "total_spend", "total_purchases", "tenure_days", "purchase_frequency"
    ]:
        prd[column] = np.nan
    features = build_features(prd)
    assert features["annual_spend"].isna().all() and features["log_purchases"].isna().all()
    assert features[["income", "recency", "children", "activity_weight"]].notna().all().all()


def test_perturbation_masks_and_noises_within_bounds(customers: pd.DataFrame) -> None:
    before = customers.copy()
    out = perturb_customers(customers, PerturbConfig(missing_rate=0.1, noise=0.1), seed=3)
    pd.testing.assert_frame_equal(customers, before)  # input untouched
    share = out["income"].isna().mean() - customers["income"].isna().mean()
    assert 0.05 < share < 0.15
    assert out["children"].isna().sum() == out["family_size"].isna().sum() > 0
    ratio = out["recency"] / customers["recency"]
    ratio = ratio[customers["recency"] > 0]
    assert ratio.between(0.9, 1.1).all() and ratio.std() > 0.01
    np.testing.assert_allclose(out["total_spend"], out[[c for c in out.columns if c.startswith("spend_")]].sum(axis=1))


def test_perturbation_is_seeded(customers: pd.DataFrame) -> None:
    config = PerturbConfig(mask=("income", "spend"), noisy=("recency",))
    pd.testing.assert_frame_equal(perturb_customers(customers, config, 1), perturb_customers(customers, config, 1))
    assert not perturb_customers(customers, config, 1).equals(perturb_customers(customers, config, 2))


@pytest.mark.parametrize(
    "kwargs, name",
    [({"missing_rate": 1.5}, "missing_rate"), ({"noise": -0.1}, "noise"), ({"mask": ("salary",)}, "mask")],
)
def test_perturb_config_validates(kwargs: dict, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        PerturbConfig(**kwargs)


def test_feature_groups_cover_every_feature_once() -> None:
    columns = [c for cols in FEATURE_GROUPS.values() for c in cols]
    assert sorted(columns) == sorted(FEATURE_COLUMNS) and len(columns) == len(set(columns))


def test_usable_features_follow_the_schema(customers: pd.DataFrame) -> None:
    features = build_features(customers)
    assert usable_features(features) == FEATURE_COLUMNS  # the Kaggle schema has every group
    prd = customers.copy()
    prd[[c for c in prd.columns if c.startswith(("spend_", "purchases_"))] +
        ["total_spend", "total_purchases", "tenure_days", "purchase_frequency", "web_visits_month",
         "accepted_campaigns"]] = np.nan
    used = usable_features(build_features(prd))
    assert set(feature_groups(used)) == {"income", "activity", "family", "age"}
    constant = build_features(customers.assign(age=40.0))
    assert "age" not in usable_features(constant)  # one value carries no information
