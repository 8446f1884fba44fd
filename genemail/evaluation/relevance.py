"""Content relevance: does the email's offer and focus fit the customer's segment and profile?

Style match asks whether an email *sounds* like the customer's segment (greeting, tone, wording, as
the style judge reads it). Relevance asks whether it makes the *right offer* to this customer:

1. **The offer fits the segment.** Every segment's strategy has one offer (its ``focus`` and call to
   action): private privileges and an advisor (HighValue_Active), family activities and vouchers
   (Parent_Active), this week's deals (Regular_Active), a welcome-back gift (Need_Reengagement), a
   reactivation reward (Dormant). :data:`OFFER_CUES` lists the words that make each offer. An email's
   offers are the segments whose cues it contains; the offer fits when that set is exactly the
   customer's segment: no offer at all (a generic email) does not fit, nor does a mixture of two
   segments' offers.
2. **The focus fits the profile.** An offer that contradicts what the profile says is irrelevant to
   this customer whatever the segment label: a family offer to a customer with no children, a
   welcome-back or reactivation offer to a customer who visited within the active window
   (``recency <= reengage_days``, the segmentation rules' threshold). Unknown fields contradict nothing.

An email is relevant when both hold. The cue lists are checked against the packaged strategies in
the tests: every reference email of a segment makes exactly its segment's offer, and every
single-strategy (generic) email makes none. So the single strategy scores 0 on relevance by
definition (it makes everyone the same, segment-free offer); what the measurement adds is how far
the generated segmented, unsegmented and segment-as-prompt emails are from their references.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from genemail.errors import ConfigError
from genemail.taxonomy import DORMANT, HIGHVALUE_ACTIVE, LANGS, NEED_REENGAGEMENT, PARENT_ACTIVE, REGULAR_ACTIVE

if TYPE_CHECKING:
    from genemail.generation.prompts import CustomerProfile

# The words that make each segment's offer (matched case-insensitively). Greetings and
# tone are left out on purpose: they are style, which the judge measures.
OFFER_CUES: dict[str, dict[str, tuple[str, ...]]] = {
    "zh": {
        HIGHVALUE_ACTIVE: ("贵宾", "尊享", "臻", "私享", "专属顾问", "礼遇", "VIP"),
        PARENT_ACTIVE: ("亲子", "全家", "家庭", "孩子"),
        REGULAR_ACTIVE: ("特价", "半价", "满减", "会员价", "本周好物", "好物清单", "本周清单", "本周优惠", "小惊喜",
                         "犒劳", "好物不等人", "合集", "快来逛逛"),
        NEED_REENGAGEMENT: ("回归", "想念", "常回来", "新变化", "惦记"),
        DORMANT: ("唤醒", "激活", "重逢", "积分"),
    },
    "en": {
        HIGHVALUE_ACTIVE: ("vip", "privilege", "exclusive", "curated", "private", "advisor", "distinguished", "premier"),
        PARENT_ACTIVE: ("family", "kids"),
        REGULAR_ACTIVE: ("flash deal", "half price", "member deal", "finds", "money-off", "treat yourself", "bundle",
                         "deals", "little surprise", "landed", "check out the list"),
        NEED_REENGAGEMENT: ("welcome-back", "welcome back", "come back", "return", "miss you", "a lot has changed",
                            "see you again"),
        DORMANT: ("reactivat", "reunion", "points", "afresh", "asleep"),
    },
}
FAMILY_OFFERS = frozenset({PARENT_ACTIVE})
WIN_BACK_OFFERS = frozenset({NEED_REENGAGEMENT, DORMANT})


@dataclass(frozen=True)
class RelevanceCheck:
    """Result of :func:`relevance` for one email: the offers it makes and what contradicts the profile."""

    relevant: bool
    offers: frozenset[str] = frozenset()
    offer_fits: bool = False
    conflicts: list[str] = field(default_factory=list)


def offers(email: str, lang: str = "zh") -> frozenset[str]:
    """The segments whose offer the email makes (see :data:`OFFER_CUES`)."""
    if lang not in LANGS:
        raise ConfigError(f"lang={lang!r} is invalid", fix=f"pass lang as one of {list(LANGS)}")
    text = email.lower()  # Chinese is unchanged; "VIP" and "vip" both match
    return frozenset(seg for seg, cues in OFFER_CUES[lang].items() if any(cue.lower() in text for cue in cues))


def profile_conflicts(made: frozenset[str], profile: "CustomerProfile", reengage_days: float) -> list[str]:
    """The offers in ``made`` that the profile contradicts, as readable reasons."""
    conflicts = []
    if made & FAMILY_OFFERS and profile.children == 0:
        conflicts.append("family offer to a customer without children")
    if made & WIN_BACK_OFFERS and profile.recency is not None and profile.recency <= reengage_days:
        conflicts.append(f"win-back offer to a customer who visited {profile.recency} days ago")
    return conflicts


def relevance(email: str, profile: "CustomerProfile", segment: str, lang: str = "zh",
              reengage_days: float | None = None) -> RelevanceCheck:
    """Is ``email`` relevant to this customer: its segment's offer, and nothing the profile contradicts?"""
    if reengage_days is None:
        reengage_days = default_reengage_days()
    made = offers(email, lang)
    fits = made == {segment}
    conflicts = profile_conflicts(made, profile, reengage_days)
    return RelevanceCheck(relevant=fits and not conflicts, offers=made, offer_fits=fits, conflicts=conflicts)


def relevance_outcomes(emails: Sequence[str], profiles: Sequence["CustomerProfile"], segments: Sequence[str],
                       lang: str = "zh") -> list[int]:
    """1 for each relevant email, else 0 (one per customer, in order)."""
    if not len(emails) == len(profiles) == len(segments):
        raise ConfigError(f"{len(emails)} emails, {len(profiles)} profiles, {len(segments)} segments",
                          fix="pass one profile and one segment per email")
    days = default_reengage_days()
    return [int(relevance(e, p, s, lang, days).relevant) for e, p, s in zip(emails, profiles, segments)]


def offer_counts(emails: Sequence[str], lang: str = "zh") -> dict[str, Any]:
    """How often each offer appears, and how many emails make none or several (a diagnostic)."""
    made = [offers(e, lang) for e in emails]
    counts = {seg: sum(seg in m for m in made) for seg in OFFER_CUES[lang]}
    return {"by_offer": counts, "none": sum(not m for m in made), "several": sum(len(m) > 1 for m in made)}


def default_reengage_days() -> float:
    """The active window of the segmentation rules (``RuleConfig.reengage_days``)."""
    from genemail.segmentation.rules import RuleConfig

    return float(RuleConfig().reengage_days)
