"""The compiled forest gives scikit-learn's own probabilities, bit for bit, and steps aside where it cannot.

Random data with holes (so trees learn both missing-value directions), binary and multi-class models,
row counts on and off the block size, values sitting exactly on split thresholds; and the segmenter's
scores with the compiled forest against the same segmenter scored by scikit-learn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier

from genemail.data import synthesize
from genemail.data.loader import clean_frame
from genemail.segmentation import HierarchicalSegmenter
from genemail.segmentation import model as model_module
from genemail.segmentation.forest import BLOCK, compile_forest


def _data(n: int, seed: int, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    X[:, 4] = rng.integers(0, 5, n)  # few distinct values: many rows land exactly on a threshold
    y = (X[:, 0] + 0.5 * X[:, 1] - np.nan_to_num(X[:, 2]) + rng.normal(0, 0.3, n) > 0).astype(int)
    if n_classes > 2:
        y = y + (X[:, 3] > 0.5) * (n_classes - 2)
    X[rng.random((n, 6)) < 0.1] = np.nan
    return X, y


@pytest.fixture(scope="module")
def models() -> list[HistGradientBoostingClassifier]:
    fitted = []
    for seed, classes in ((0, 2), (1, 3), (2, 4)):
        X, y = _data(2000, seed, classes)
        fitted.append(HistGradientBoostingClassifier(max_iter=15, learning_rate=0.3, random_state=seed).fit(X, y))
    return fitted


def _on_thresholds(models: list, X: np.ndarray, seed: int) -> np.ndarray:
    """``X`` with half its cells set exactly to a threshold some tree splits that feature on."""
    rng = np.random.default_rng(seed)
    X = X.copy()
    nodes = np.concatenate([p.nodes for m in models for it in m._predictors for p in it])
    nodes = nodes[~nodes["is_leaf"].astype(bool)]
    for f in range(X.shape[1]):
        limits = nodes["num_threshold"][nodes["feature_idx"] == f]
        rows = rng.random(len(X)) < 0.5
        if len(limits):
            X[rows, f] = rng.choice(limits, rows.sum())
    return X


@pytest.mark.parametrize("n", [1, BLOCK - 1, BLOCK, 3 * BLOCK + 7])
def test_probabilities_equal_scikit_learn_bit_for_bit(models: list, n: int) -> None:
    X, _ = _data(n, seed=10 + n, n_classes=2)
    X = _on_thresholds(models, X, seed=n)  # `x <= threshold` goes left: the boundary itself is tested
    forest = compile_forest(models)
    assert forest is not None
    for got, model in zip(forest.predict_proba(X), models):
        assert got.shape == (n, len(model.classes_))
        assert np.array_equal(got, model.predict_proba(X))


def test_missing_values_follow_each_node_learned_direction(models: list) -> None:
    nodes = np.concatenate([p.nodes for m in models for it in m._predictors for p in it])
    split = ~nodes["is_leaf"].astype(bool)
    assert len(set(nodes["missing_go_to_left"][split])) == 2  # both directions are exercised below
    X = np.full((50, 6), np.nan)
    X[::2, 0] = 1.0  # some rows all missing, some with one known value
    forest = compile_forest(models)
    for got, model in zip(forest.predict_proba(X), models):
        assert np.array_equal(got, model.predict_proba(X))


def test_a_model_it_cannot_score_is_left_to_scikit_learn(models: list) -> None:
    X, y = _data(300, 3, 2)
    assert compile_forest([*models, DummyClassifier().fit(X, y)]) is None
    categorical = HistGradientBoostingClassifier(max_iter=5, categorical_features=[4]).fit(np.nan_to_num(X), y)
    assert compile_forest([categorical]) is None
    assert compile_forest([]) is None


def test_a_table_of_the_wrong_width_is_refused(models: list) -> None:
    with pytest.raises(ValueError, match="6 features"):
        compile_forest(models).raw(np.zeros((3, 5)))


def test_the_segmenter_scores_the_same_with_and_without_the_compiled_forest(monkeypatch: pytest.MonkeyPatch) -> None:
    model = HierarchicalSegmenter(max_iter=10, n_augment=1, random_state=0).fit(
        clean_frame(synthesize(800, seed=3)).frame)
    frame = clean_frame(synthesize(2500, seed=4)).frame
    compiled = model.segment_and_explain(frame)
    assert model_module._FORESTS[model][1] is not None  # compiled while scoring, and used
    monkeypatch.setattr(model_module, "MIN_ROWS_COMPILED", 10**9)  # scikit-learn scores every table
    plain = model.segment_and_explain(frame)
    pd.testing.assert_frame_equal(compiled, plain, check_exact=True)
