"""The style judge: trained on validation references only, accurate on test references."""

from __future__ import annotations

import random

import pytest

from genemail.errors import ConfigError, DataError
from genemail.evaluation.judge import GENERIC_STYLE, JudgeConfig, StyleJudge, judge_report, train_style_judge
from genemail.evaluation.metrics import style_match
from genemail.training.corpus import CorpusConfig, build_corpus
from genemail.generation.strategies import load_strategies
from genemail.taxonomy import L2_SEGMENTS
from tests.fixtures.data import make_customers


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(make_customers(200, seed=5), load_strategies(), CorpusConfig(seed=1, emails_per_customer=3))[0]


@pytest.fixture(scope="module")
def judge(corpus):
    return train_style_judge(corpus)


def test_judge_learns_segment_style_from_validation_only(judge, corpus) -> None:
    report = judge_report(judge, corpus)
    assert set(judge.labels) == {*L2_SEGMENTS, GENERIC_STYLE}  # the single-strategy style is a sixth label
    # validation references: every segment email plus the same customers' single-strategy emails
    assert report["trained_on"] == "validation" and report["n_train"] == 2 * corpus["validation"].num_rows
    assert report["n_test"] == corpus["test"].num_rows == report["n_generic_test"]
    assert report["generic_accuracy"] >= 0.95
    matrix, labels = report["confusion_matrix"]["matrix"], report["confusion_matrix"]["labels"]
    assert labels == list(judge.labels) and sum(map(sum, matrix)) == 2 * corpus["test"].num_rows
    diagonal = sum(matrix[i][i] for i in range(len(labels)))
    assert diagonal == pytest.approx(report["accuracy"] * report["n_test"] + report["generic_accuracy"] * report["n_test"])
    # Disjoint customers, so this is held-out accuracy.
    assert not set(corpus["validation"]["customer_id"]) & set(corpus["test"]["customer_id"])
    assert report["accuracy"] >= 0.95
    assert min(report["per_segment"].values()) >= 0.8


def test_shuffled_emails_do_not_match_their_customers(judge, corpus) -> None:
    emails, segments = list(corpus["test"]["output"]), list(corpus["test"]["segment"])
    random.Random(0).shuffle(emails)
    assert style_match(judge.predict(emails), segments)["overall"] < 0.5


def test_probabilities_sum_to_one_and_agree_with_predict(judge, corpus) -> None:
    emails = corpus["test"]["output"][:5]
    for probabilities, label in zip(judge.predict_proba(emails), judge.predict(emails)):
        assert sum(probabilities.values()) == pytest.approx(1.0)
        assert max(probabilities, key=probabilities.get) == label
    assert judge.predict([]) == [] and judge.accuracy([], []) == 0.0


def test_judge_needs_two_segments_and_matching_lengths() -> None:
    with pytest.raises(DataError, match="at least 2 segments"):
        StyleJudge.fit(["a", "b"], ["Dormant", "Dormant"])
    with pytest.raises(DataError, match="2 emails but 1 segments"):
        StyleJudge.fit(["a", "b"], ["Dormant"])


@pytest.mark.parametrize("kwargs", [{"ngram_min": 0}, {"ngram_min": 3, "ngram_max": 2}, {"C": 0.0}, {"max_iter": 0}])
def test_judge_config_validation(kwargs: dict) -> None:
    with pytest.raises(ConfigError, match=list(kwargs)[-1]):
        JudgeConfig(**kwargs)
