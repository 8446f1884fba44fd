"""Content relevance: the offer cues agree with the strategies file; profile conflicts are caught."""

from __future__ import annotations

import itertools

import pytest

from genemail.errors import ConfigError
from genemail.evaluation.relevance import OFFER_CUES, offer_counts, offers, relevance, relevance_outcomes
from genemail.training.corpus import write_email
from genemail.generation.prompts import CustomerProfile
from genemail.generation.strategies import LANGS, load_strategies
from genemail.taxonomy import BASELINE, DORMANT, L2_SEGMENTS, NEED_REENGAGEMENT, PARENT_ACTIVE, REGULAR_ACTIVE

FULL = CustomerProfile(customer_id="7", age=45, children=2, kid_age="teen", marital_status="Married", family_size=4,
                       income=80_000.0, recency=45, favourite_category="wines", tenure_days=3 * 365 + 20)


def _every_email(segment: str, lang: str) -> list[str]:
    strategy = load_strategies().for_segment(segment)
    v = strategy.text(lang).variants
    return [write_email(FULL, strategy, lang, choice) for choice in
            itertools.product(range(len(v.greeting)), range(len(v.body)), range(len(v.call_to_action)))]


@pytest.mark.parametrize("lang", LANGS)
def test_every_reference_email_makes_exactly_its_segments_offer(lang: str) -> None:
    for segment in L2_SEGMENTS:
        made = {offers(email, lang) for email in _every_email(segment, lang)}
        assert made == {frozenset({segment})}, (segment, made)


@pytest.mark.parametrize("lang", LANGS)
def test_single_strategy_emails_make_no_segment_offer(lang: str) -> None:
    emails = _every_email(BASELINE, lang)
    assert len(emails) == 512 and all(not offers(e, lang) for e in emails)
    assert offer_counts(emails, lang) == {"by_offer": {s: 0 for s in OFFER_CUES[lang]}, "none": 512, "several": 0}


def test_relevance_needs_the_segments_offer_and_nothing_else() -> None:
    dormant_email = "亲爱的会员，许久未见：距离您上次光临已有45天。唤醒券已放入您的账户。立即激活！"
    assert relevance(dormant_email, FULL, DORMANT).relevant
    wrong_segment = relevance(dormant_email, FULL, REGULAR_ACTIVE)
    assert not wrong_segment.relevant and not wrong_segment.offer_fits and wrong_segment.offers == {DORMANT}
    mixed = relevance(dormant_email + "回归礼等着您！", FULL, DORMANT)
    assert not mixed.relevant and mixed.offers == {DORMANT, NEED_REENGAGEMENT}
    assert not relevance("您好：本店近期更新了商品与服务。了解更多。", FULL, DORMANT).relevant  # the generic offer


def test_offers_the_profile_contradicts_are_not_relevant() -> None:
    childless = CustomerProfile(customer_id="1", children=0, recency=10)
    family = relevance("亲爱的家长：亲子欢乐周开始啦，全家一起来吧。", childless, PARENT_ACTIVE)
    assert family.offer_fits and not family.relevant and family.conflicts == ["family offer to a customer without children"]
    back = relevance("好久不见：回归礼已为您备好。", childless, NEED_REENGAGEMENT)
    assert back.offer_fits and not back.relevant and "visited 10 days ago" in back.conflicts[0]
    unknown = CustomerProfile(customer_id="2")  # unknown facts contradict nothing
    assert relevance("好久不见：回归礼已为您备好。", unknown, NEED_REENGAGEMENT).relevant
    assert relevance("Welcome back! Your welcome-back gift awaits.", FULL, NEED_REENGAGEMENT, "en").relevant


def test_relevance_outcomes_and_errors() -> None:
    emails = ["唤醒券已放入您的账户。", "本周特价！"]
    assert relevance_outcomes(emails, [FULL, FULL], [DORMANT, REGULAR_ACTIVE]) == [1, 1]
    assert relevance_outcomes(emails, [FULL, FULL], [REGULAR_ACTIVE, DORMANT]) == [0, 0]
    with pytest.raises(ConfigError):
        relevance_outcomes(emails, [FULL], [DORMANT, DORMANT])
    with pytest.raises(ConfigError):
        offers("x", "fr")
