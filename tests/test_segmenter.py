"""The hierarchical segmenter: sklearn contract, hierarchy consistency, cold start, explanations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from genemail import taxonomy
from genemail.errors import ConfigError, DataError
from genemail.features import PerturbConfig, perturb_customers
from genemail.segmentation import HierarchicalSegmenter

FAST = {"max_iter": 30, "n_augment": 1}  # small but real models: tests stay around a second


@pytest.fixture(scope="module")
def split(customers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    shuffled = customers.sample(frac=1.0, random_state=0)
    cut = int(len(shuffled) * 0.75)
    return shuffled.iloc[:cut], shuffled.iloc[cut:]


@pytest.fixture(scope="module")
def fitted(split) -> HierarchicalSegmenter:  # noqa: ANN001
    return HierarchicalSegmenter(**FAST).fit(split[0])


def _prd_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The same customers as the PRD schema would give them: no spend, purchases or tenure."""
    prd = frame.copy()
    gone = [c for c in prd.columns if c.startswith(("spend_", "purchases_"))]
    gone += ["total_spend", "total_purchases", "tenure_days", "purchase_frequency", "web_visits_month"]
    prd[gone] = np.nan
    return prd


def _assert_consistent(l1: np.ndarray, l2: np.ndarray) -> None:
    for tier, segment in zip(l1, l2):
        if tier == taxonomy.COLD_START:
            assert segment == taxonomy.COLD_START
        else:
            assert segment in taxonomy.HIERARCHY[tier], (tier, segment)


def test_classes_and_probabilities(fitted: HierarchicalSegmenter, split) -> None:  # noqa: ANN001
    test = split[1]
    assert list(fitted.classes_) == [*taxonomy.L2_SEGMENTS, taxonomy.COLD_START]
    assert list(fitted.l1_classes_) == [*taxonomy.L1_TIERS, taxonomy.COLD_START]
    proba, l1_proba = fitted.predict_proba(test), fitted.predict_l1_proba(test)
    assert proba.shape == (len(test), len(fitted.classes_)) and l1_proba.shape == (len(test), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(l1_proba.sum(axis=1), 1.0, atol=1e-9)
    assert set(fitted.predict(test)) <= set(fitted.classes_)


def test_held_out_accuracy_against_business_labels(fitted: HierarchicalSegmenter, split) -> None:  # noqa: ANN001
    test = split[1]
    truth = fitted.rule_labels(test)
    assert np.mean(fitted.predict(test) == truth["l2"].to_numpy(dtype=object)) > 0.85
    assert np.mean(fitted.predict_l1(test) == truth["l1"].to_numpy(dtype=object)) > 0.85


@pytest.mark.parametrize("variant", ["clean", "perturbed", "prd_schema"])
def test_predictions_are_consistent_with_their_parent(fitted: HierarchicalSegmenter, split, variant: str) -> None:  # noqa: ANN001
    test = split[1]
    if variant == "perturbed":
        test = perturb_customers(test, PerturbConfig(missing_rate=0.5, noise=0.3, mask=("income", "children", "spend")), 1)
    elif variant == "prd_schema":
        test = _prd_rows(test)
    _assert_consistent(fitted.predict_l1(test), fitted.predict(test))
    # Consistency holds in segment() too, and l2_proba is the predicted column of predict_proba.
    seg = fitted.segment(test, probabilities=True)
    _assert_consistent(seg["l1"].to_numpy(dtype=object), seg["l2"].to_numpy(dtype=object))
    picked = seg[[f"p_{c}" for c in fitted.classes_]].to_numpy()[
        np.arange(len(seg)), pd.Categorical(seg["l2"], categories=fitted.classes_).codes
    ]
    np.testing.assert_allclose(seg["l2_proba"], picked)


def test_prd_schema_rows_are_segmented_not_cold_started(fitted: HierarchicalSegmenter, split) -> None:  # noqa: ANN001
    prd = _prd_rows(split[1])
    seg = fitted.segment(prd)
    # Only active customers whose income is also unknown (imputed by the cleaner) fall to cold start:
    # a lapsed customer's segment follows recency, whatever the value.
    no_income = (prd["income"].isna() | prd["income_imputed"]).to_numpy()
    active = (prd["recency"] <= fitted.reengage_days).to_numpy()
    assert (seg["cold_start_reason"].notna().to_numpy() == (no_income & active)).all() and (~no_income).sum() > 100
    assert set(seg["l2"][~(no_income & active)]) <= set(taxonomy.L2_SEGMENTS)
    # Activity comes from recency alone, so the activity branch must still match the rules.
    truth = fitted.rule_labels(split[1])["l2"].to_numpy(dtype=object)
    lapsed = np.isin(truth, [taxonomy.DORMANT, taxonomy.NEED_REENGAGEMENT]) & ~no_income
    assert np.mean(seg["l2"].to_numpy(dtype=object)[lapsed] == truth[lapsed]) > 0.9


def test_cold_start_gets_its_segment_and_reason(fitted: HierarchicalSegmenter, split) -> None:  # noqa: ANN001
    rows = split[1].head(4).copy()
    spend = [c for c in rows.columns if c.startswith("spend_")] + ["total_spend"]
    rows.loc[rows.index[0], "recency"] = np.nan
    rows.loc[rows.index[1], "income"] = np.nan
    rows.loc[rows.index[1], spend] = np.nan
    rows.loc[rows.index[1], "recency"] = 5  # active: its segment needs the value tier
    rows.loc[rows.index[3], ["income", *spend]] = np.nan
    rows.loc[rows.index[3], "recency"] = 90  # lapsed: Dormant whatever the value
    seg = fitted.segment(rows)
    assert list(seg["l2"][:2]) == [taxonomy.COLD_START] * 2
    assert list(seg["cold_start_reason"][:2]) == ["recency missing", "income and spend missing"]
    assert pd.isna(seg["cold_start_reason"].iloc[2]) and seg["l2"].iloc[2] in taxonomy.L2_SEGMENTS
    assert pd.isna(seg["cold_start_reason"].iloc[3]) and seg["l2"].iloc[3] == taxonomy.DORMANT
    assert seg["l1"].iloc[3] in taxonomy.L1_TIERS
    assert "Income and spending unknown" in " ".join(fitted.explain(rows.iloc[[3]], top_k=5)[0])
    assert fitted.predict_proba(rows)[0, -1] == 1.0
    assert list(seg["customer_id"]) == list(rows["customer_id"])


def test_segment_frame_columns(fitted: HierarchicalSegmenter, split) -> None:  # noqa: ANN001
    seg = fitted.segment(split[1])
    assert list(seg.columns) == ["customer_id", "l1", "l1_proba", "l2", "l2_proba", "cold_start_reason"]
    assert seg["l1_proba"].between(0, 1).all() and seg["l2_proba"].between(0, 1).all()
    assert (seg["l2"] == pd.Series(fitted.predict(split[1]), dtype="string")).all()


def test_explanations_read_like_the_rules(fitted: HierarchicalSegmenter, split) -> None:  # noqa: ANN001
    test = split[1]
    reasons = fitted.explain(test, top_k=3)
    seg = fitted.segment(test)
    assert len(reasons) == len(test) and all(1 <= len(r) <= 3 for r in reasons)
    for r, l2, recency in zip(reasons, seg["l2"], test["recency"]):
        assert r[0].startswith(f"Last purchase {recency:.0f} days ago")
        if l2 == taxonomy.DORMANT:
            assert "(> 60): lapsed" in r[0]
        assert any(word in r[1] for word in ("top", "bottom", "average"))
    assert all(len(r) == 1 for r in fitted.explain(test.head(5), top_k=1))
    with pytest.raises(ConfigError, match="top_k"):
        fitted.explain(test.head(2), top_k=0)


@pytest.mark.integration
def test_get_params_clone_and_pipeline(fitted: HierarchicalSegmenter, split) -> None:  # noqa: ANN001
    train, test = split
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params() and not hasattr(copy, "l2_models_")
    assert copy.set_params(dormant_days=90).dormant_days == 90
    pipe = Pipeline([("ids", FunctionTransformer(lambda df: df.set_index("customer_id", drop=False))),
                     ("segment", clone(fitted))]).fit(train)
    np.testing.assert_array_equal(pipe.predict(test), fitted.predict(test))  # same seed -> same model


@pytest.mark.integration
def test_explicit_labels(split) -> None:  # noqa: ANN001
    train = split[0]
    base = HierarchicalSegmenter(**FAST).fit(train)
    labels = base.rule_labels(train)
    assert np.array_equal(HierarchicalSegmenter(**FAST).fit(train, labels).predict(train), base.predict(train))
    wrong = labels["l2"].to_numpy(dtype=object).copy()
    wrong[(labels["l1"] == "Mid").to_numpy()] = taxonomy.HIGHVALUE_ACTIVE
    with pytest.raises(DataError, match="hierarchy"):
        HierarchicalSegmenter(**FAST).fit(train, wrong)


def test_bad_parameters_and_inputs(split) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match="reengage_days"):
        HierarchicalSegmenter(dormant_days=20, reengage_days=30).fit(split[0])
    with pytest.raises(ConfigError, match="half_life_days"):
        HierarchicalSegmenter(half_life_days=0).fit(split[0])
    with pytest.raises(DataError, match="DataFrame"):
        HierarchicalSegmenter().fit(split[0].to_numpy())
