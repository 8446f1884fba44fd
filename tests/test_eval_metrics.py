"""Metrics: BLEU against hand-computed values, distinct-n, fact consistency, style match, evaluate."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from genemail.errors import ConfigError
from genemail.evaluation.metrics import (
    distinct_n,
    extract_claims,
    fact_consistency,
    fact_consistency_rate,
    self_bleu,
    sentence_bleu,
    style_match,
    tokenize,
)
from genemail.training.corpus import CorpusConfig, variant_combinations, build_corpus, save_corpus, write_email
from genemail.generation.prompts import CustomerProfile, fact_phrases
from genemail.generation.strategies import load_strategies
from genemail.taxonomy import L2_SEGMENTS
from tests.fixtures.data import make_customers

PROFILE = CustomerProfile(
    customer_id="7", age=45, children=2, kid_age="teen", marital_status="Married", family_size=4,
    income=80_000.0, recency=45, favourite_category="wines", tenure_days=3 * 365 + 20,
)


def test_sentence_bleu_matches_hand_computed_value() -> None:
    hyp = "the cat sat on the mat".split()
    ref = "the cat is on the mat".split()
    # p1 = 5/6; smoothed p2 = (3+1)/(5+1), p3 = (1+1)/(4+1), p4 = (0+1)/(3+1); equal lengths: BP = 1.
    expected = (5 / 6 * 4 / 6 * 2 / 5 * 1 / 4) ** 0.25
    assert sentence_bleu(hyp, [ref]) == pytest.approx(expected)
    # Short hypothesis: every precision is 1, brevity penalty exp(1 - 6/2).
    assert sentence_bleu(["the", "cat"], [ref]) == pytest.approx(math.exp(-2))
    assert sentence_bleu(ref, [hyp, ref]) == pytest.approx(1.0)
    assert sentence_bleu(["dog"], [ref]) == 0.0


def test_sentence_bleu_clips_repeated_words() -> None:
    # "the the the" against "the cat": unigram precision clipped to 1/3 (Papineni et al.'s example).
    score = sentence_bleu(["the"] * 3, [["the", "cat"]], max_n=1)
    assert score == pytest.approx(1 / 3)


def test_self_bleu_equals_the_naive_mean() -> None:
    rng = random.Random(0)
    texts = ["".join(rng.choice("abcde") for _ in range(rng.randint(5, 12))) for _ in range(12)]
    texts += [texts[0], texts[3]]  # duplicates exercise the "top count is my own" case
    tokens = [tokenize(t) for t in texts]
    naive = sum(sentence_bleu(t, tokens[:i] + tokens[i + 1:]) for i, t in enumerate(tokens)) / len(tokens)
    assert self_bleu(texts) == pytest.approx(naive)
    assert self_bleu(["同一封邮件"] * 4) == pytest.approx(1.0)
    assert self_bleu(["abcd", "efgh", "ijkl"]) == 0.0  # nothing in common
    assert self_bleu(["only one"]) == 0.0


def test_distinct_n_by_hand() -> None:
    assert distinct_n(["ab", "ab"], 1) == pytest.approx(2 / 4)
    assert distinct_n(["ab", "ab"], 2) == pytest.approx(1 / 2)
    assert distinct_n(["the cat", "the dog"], 1, "en") == pytest.approx(3 / 4)
    assert distinct_n(["the cat", "the dog"], 2, "en") == pytest.approx(1.0)
    assert distinct_n([], 2) == 0.0
    with pytest.raises(ConfigError):
        distinct_n(["x"], 0)


def test_tokenize() -> None:
    assert tokenize("您 好！") == ["您", "好", "！"]
    assert tokenize("Hey, it's 45 days!", "en") == ["hey", ",", "it's", "45", "days", "!"]


def test_fact_consistency_accepts_true_claims_and_names_false_ones() -> None:
    email = "距离您上次光临已有45天，您的2个孩子（青少年）一定喜欢您喜爱的葡萄酒，高端之选。感谢您3年来的陪伴。"
    check = fact_consistency(email, PROFILE)
    assert check.consistent and not check.mismatches
    assert sorted(c.kind for c in check.claims) == ["category", "children", "income", "kid_age", "recency", "tenure"]
    wrong = fact_consistency("距离您上次光临已有46天，您的3个孩子（幼童），您喜爱的甜品，实惠之选。", PROFILE)
    assert not wrong.consistent
    assert {m.split(":")[0] for m in wrong.mismatches} == {"recency", "children", "kid_age", "category", "income"}
    assert "email says 46" in " ".join(wrong.mismatches)


def test_claims_about_unknown_or_absent_facts_are_mismatches() -> None:
    childless = CustomerProfile(customer_id="1", children=0, recency=3)
    assert not fact_consistency("您的1个孩子会喜欢。", childless).consistent
    assert not fact_consistency("感谢您2年来的陪伴", childless).consistent  # tenure unknown


def test_an_email_without_claims_is_consistent_but_counted() -> None:
    check = fact_consistency("本周好物清单更新啦！", PROFILE)
    assert check.consistent and check.claims == []
    rate = fact_consistency_rate(["本周好物清单更新啦！", "距离您上次光临已有45天"], [PROFILE, PROFILE])
    assert rate == {"rate": 1.0, "claims_per_email": 0.5, "with_claims": 0.5, "n": 2}
    with pytest.raises(ConfigError):
        fact_consistency_rate(["a"], [])


def test_english_claims() -> None:
    email = "It has been 45 days since your last visit. We think your 2 kids (teens) love your favourite wine, premium picks. Thank you for 3 years with us."
    check = fact_consistency(email, PROFILE, "en")
    assert check.consistent and len(check.claims) == 6
    assert not fact_consistency("your favourite seafood, value picks", PROFILE, "en").consistent


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_body_variant_round_trips_through_the_checker(lang: str) -> None:
    # Each fact a body renders is read back exactly once, and agrees with the profile.
    book = load_strategies()
    facts = fact_phrases(PROFILE, lang)
    for segment in L2_SEGMENTS:
        strategy = book.for_segment(segment)
        for choice in {(0, b, 0) for _, b, _ in variant_combinations(strategy.text(lang).variants, facts)}:
            body = strategy.text(lang).variants.body[choice[1]]
            email = write_email(PROFILE, strategy, lang, choice)
            check = fact_consistency(email, PROFILE, lang)
            kinds = sorted(c.kind for c in check.claims)
            expected = sorted(
                k for field in facts if "{" + field + "}" in body
                for k in ({"children_fact": ["children", "kid_age"]}.get(field) or [field.removesuffix("_fact")]))
            assert check.consistent and kinds == expected, (segment, email)


def test_style_match_overall_and_per_segment() -> None:
    result = style_match(["A", "A", "B", "B"], ["A", "B", "B", "B"])
    assert result == {"overall": 0.75, "per_segment": {"A": 1.0, "B": 2 / 3}, "n": 4}
    with pytest.raises(ConfigError):
        style_match(["A"], [])


@pytest.mark.integration
def test_evaluate_scores_references_high_and_shuffled_low(tmp_path: Path) -> None:
    from training.evaluate import main as run

    corpus, info = build_corpus(make_customers(200, seed=1), load_strategies(), CorpusConfig(seed=0))
    save_corpus(corpus, info, tmp_path / "corpus")
    assert run(["--artifacts", str(tmp_path), "--source", "references", "--no-progress"]) == 0
    report = json.loads((tmp_path / "eval" / "eval.json").read_text(encoding="utf-8"))
    assert report["n"] == info["splits"]["test"]["customers"]
    assert report["judge_accuracy"] >= 0.95
    assert report["style_match_segmented"] >= 0.95 and report["fact_consistency_segmented"] == 1.0
    assert report["style_match_baseline"] < 0.6 and report["fact_consistency_baseline"] < 0.6
    assert all(report["targets"].values())
    variants = report["variants"]
    assert set(variants) == {"segmented", "unsegmented", "single_strategy", "segment_prompt"}
    # generic references: consistent facts but no segment style and no segment offer
    assert variants["single_strategy"]["fact_consistency"]["rate"] == 1.0
    assert variants["single_strategy"]["style_match"]["rate"] == 0.0 == variants["single_strategy"]["relevance"]["rate"]
    # references shuffled within a segment: the segment's style and offer, someone else's facts
    assert variants["segment_prompt"]["style_match"]["rate"] >= 0.95
    assert variants["segment_prompt"]["fact_consistency"]["rate"] < 0.6
    verdicts = report["comparisons"]["segmented_vs_single_strategy"]
    assert verdicts["relevance"]["verdict"] == "segmented better"
    assert verdicts["fact_consistency"]["verdict"] == "within noise"
    for plot in ("style_match.png", "relevance.png", "metrics.png"):
        assert (tmp_path / "eval" / plot).read_bytes()[:4] == b"\x89PNG"
    assert run(["--artifacts", str(tmp_path), "--source", "references", "--n-customers", "10", "--no-progress"]) == 0
    report = json.loads((tmp_path / "eval" / "eval.json").read_text(encoding="utf-8"))
    assert report["n"] == 10 and set(report["style_match_segmented_per_segment"]) == set(L2_SEGMENTS)
    # The model source needs base/ and adapters/: a user error, not a traceback.
    assert run(["--artifacts", str(tmp_path)]) == 2
    assert run(["--artifacts", str(tmp_path), "--source", "magic"]) == 2
    assert run(["--artifacts", str(tmp_path), "--source", "references", "--variants", "nope"]) == 2
    assert run(["--artifacts", str(tmp_path), "--source", "references", "--seeds", "0,x"]) == 2


def test_extract_claims_prefers_the_longest_age_band() -> None:
    claims = extract_claims("您的2个孩子（幼童和青少年）")
    assert [(c.kind, c.value) for c in claims] == [("children", 2), ("kid_age", "young_and_teen")]
    assert [(c.kind, c.value) for c in extract_claims("your 3 kids (little ones and teens)", "en")] == [
        ("children", 3), ("kid_age", "young_and_teen")]
