"""Automatic email metrics (O3, KR2): fact consistency, distinct-n, self-BLEU, style match.

Fact consistency reads the fixed fact forms that :func:`genemail.generation.prompts.fact_phrases`
writes ("距离您上次光临已有45天", "your 2 kids (teens)", ...) back out of an email with regular
expressions and compares each claim with the customer's profile. An email that states no fact
claims nothing false and counts as consistent; the number of claims is reported beside the rate so
a model that avoids facts altogether is visible.

Diversity is measured on characters for Chinese and on words for English. BLEU is implemented
here (nltk and sacrebleu are not dependencies): corpus-standard modified n-gram precision with
clipping, brevity penalty against the closest reference length, and add-one smoothing for n > 1
(Lin and Och 2004; nltk's ``method2``) so short texts do not score 0.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from genemail.errors import ConfigError
from genemail.generation.prompts import CATEGORY_NAMES, INCOME_TIER_NAMES, KID_BAND_NAMES, CustomerProfile
from genemail.generation.strategies import LANGS


@dataclass(frozen=True)
class Claim:
    """One concrete fact an email states: ``kind`` (recency, children, kid_age, category, income, tenure)."""

    kind: str
    value: Any
    text: str


@dataclass(frozen=True)
class FactCheck:
    """Result of :func:`fact_consistency` for one email."""

    consistent: bool
    claims: list[Claim] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)


def _alternation(names: dict[str, str]) -> str:
    # Longest first, so "幼童和青少年" wins over "幼童".
    return "|".join(re.escape(n) for n in sorted(names.values(), key=len, reverse=True))


def _patterns(lang: str) -> dict[str, re.Pattern[str]]:
    bands, cats, tiers = (_alternation(t[lang]) for t in (KID_BAND_NAMES, CATEGORY_NAMES, INCOME_TIER_NAMES))
    if lang == "zh":
        return {
            "recency": re.compile(r"距离您上次光临已有(\d+)天"),
            "children": re.compile(rf"您的(\d+)个孩子(?:（({bands})）)?"),
            "category": re.compile(rf"您喜爱的({cats})"),
            "income": re.compile(rf"({tiers})之选"),
            "tenure": re.compile(r"感谢您(\d+)年来的陪伴"),
        }
    return {
        "recency": re.compile(r"(\d+) days? since your last visit", re.I),
        "children": re.compile(rf"your (\d+) kids?(?: \(({bands})\))?", re.I),
        "category": re.compile(rf"your favourite ({cats})", re.I),
        "income": re.compile(rf"\b({tiers}) picks\b", re.I),
        "tenure": re.compile(r"(\d+) years? with us", re.I),
    }


def _reverse(table: dict[str, dict[str, str]], lang: str) -> dict[str, str]:
    return {name.lower(): key for key, name in table[lang].items()}


def extract_claims(email: str, lang: str = "zh") -> list[Claim]:
    """Every fact claim in ``email``, in the fixed forms the corpus uses."""
    _check_lang(lang)
    bands, cats, tiers = (_reverse(t, lang) for t in (KID_BAND_NAMES, CATEGORY_NAMES, INCOME_TIER_NAMES))
    claims: list[Claim] = []
    for kind, pattern in _patterns(lang).items():
        for match in pattern.finditer(email):
            text, value = match.group(0), match.group(1)
            if kind == "children":
                claims.append(Claim("children", int(value), text))
                if match.group(2):
                    claims.append(Claim("kid_age", bands[match.group(2).lower()], text))
            elif kind == "category":
                claims.append(Claim(kind, cats[value.lower()], text))
            elif kind == "income":
                claims.append(Claim(kind, tiers[value.lower()], text))
            else:
                claims.append(Claim(kind, int(value), text))
    return claims


def _truth(profile: CustomerProfile, kind: str) -> Any:
    return {
        "recency": profile.recency, "children": profile.children, "kid_age": profile.kid_age,
        "category": profile.favourite_category, "income": profile.income_band, "tenure": profile.tenure_years,
    }[kind]


def fact_consistency(email: str, profile: CustomerProfile, lang: str = "zh") -> FactCheck:
    """Do the email's claims agree with the profile? A claim about an unknown field is a mismatch."""
    claims = extract_claims(email, lang)
    mismatches = [
        f"{c.kind}: email says {c.value!r} ({c.text}), profile has {_truth(profile, c.kind)!r}"
        for c in claims
        if c.value != _truth(profile, c.kind)
    ]
    return FactCheck(consistent=not mismatches, claims=claims, mismatches=mismatches)


def fact_consistency_rate(emails: Sequence[str], profiles: Sequence[CustomerProfile], lang: str = "zh") -> dict[str, float]:
    """Share of consistent emails, mean claims per email, share of emails with at least one claim."""
    _same_length(emails, profiles, "profiles")
    checks = [fact_consistency(e, p, lang) for e, p in zip(emails, profiles)]
    n = len(checks)
    return {
        "rate": sum(c.consistent for c in checks) / n if n else 0.0,
        "claims_per_email": sum(len(c.claims) for c in checks) / n if n else 0.0,
        "with_claims": sum(bool(c.claims) for c in checks) / n if n else 0.0,
        "n": n,
    }


def tokenize(text: str, lang: str = "zh") -> list[str]:
    """Characters (no whitespace) for Chinese, lower-cased words and punctuation for English."""
    _check_lang(lang)
    if lang == "zh":
        return [ch for ch in text if not ch.isspace()]
    return re.findall(r"\w+(?:['-]\w+)*|[^\w\s]", text.lower())


def ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    """Counts of the n-grams of ``tokens``."""
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def distinct_n(texts: Sequence[str], n: int, lang: str = "zh") -> float:
    """Distinct n-grams over all n-grams across ``texts`` (Li et al. 2016); 0.0 when there are none."""
    if n < 1:
        raise ConfigError(f"n={n!r} is invalid", fix="pass n as a positive integer")
    total: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        total.update(ngrams(tokenize(text, lang), n))
    count = sum(total.values())
    return len(total) / count if count else 0.0


def sentence_bleu(
    hypothesis: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 4, max_ref_counts: list[Counter] | None = None
) -> float:
    """BLEU of one tokenized hypothesis against tokenized references (add-one smoothing for n > 1).

    ``max_ref_counts`` (per n, the maximum count of each n-gram over the references) may be passed
    precomputed; :func:`self_bleu` does, to avoid a quadratic loop.
    """
    if not hypothesis or not references:
        return 0.0
    if max_ref_counts is None:
        max_ref_counts = [_max_counts([ngrams(ref, n) for ref in references]) for n in range(1, max_n + 1)]
    log_precision = 0.0
    for n in range(1, max_n + 1):
        hyp = ngrams(hypothesis, n)
        total = sum(hyp.values())
        clipped = sum(min(count, max_ref_counts[n - 1].get(gram, 0)) for gram, count in hyp.items())
        if n == 1 and clipped == 0:
            return 0.0  # no word in common: BLEU is 0 whatever the smoothing
        if n > 1:  # add-one smoothing keeps short hypotheses from scoring exactly 0
            clipped, total = clipped + 1, total + 1
        log_precision += math.log(clipped / total) / max_n
    ref_len = min((len(r) for r in references), key=lambda length: (abs(length - len(hypothesis)), length))
    brevity = 1.0 if len(hypothesis) > ref_len else math.exp(1 - ref_len / len(hypothesis))
    return brevity * math.exp(log_precision)


def _max_counts(counters: Sequence[Counter]) -> Counter:
    result: Counter = Counter()
    for counter in counters:
        for gram, count in counter.items():
            if count > result[gram]:
                result[gram] = count
    return result


def self_bleu(texts: Sequence[str], lang: str = "zh", max_n: int = 4) -> float:
    """Mean BLEU of each text against all the others (Zhu et al. 2018): lower is more diverse."""
    tokens = [tokenize(t, lang) for t in texts]
    if len(tokens) < 2:
        return 0.0
    counts = [[ngrams(t, n) for t in tokens] for n in range(1, max_n + 1)]
    # For each n-gram keep the largest count, its owner and the runner-up: the maximum over "all
    # texts but i" is then the largest count unless i owns it. Linear instead of quadratic.
    tops = [_top_two(per_text) for per_text in counts]
    scores = []
    for i, hyp in enumerate(tokens):
        max_ref = [
            Counter({gram: (second if owner == i else first) for gram in counts[n][i]
                     for first, owner, second in [tops[n][gram]]})
            for n in range(max_n)
        ]
        scores.append(sentence_bleu(hyp, tokens[:i] + tokens[i + 1:], max_n, max_ref_counts=max_ref))
    return sum(scores) / len(scores)


def _top_two(per_text: Sequence[Counter]) -> dict[tuple[str, ...], tuple[int, int, int]]:
    """n-gram -> (largest count, index of the text that has it, second-largest count)."""
    top: dict[tuple[str, ...], tuple[int, int, int]] = {}
    for index, counter in enumerate(per_text):
        for gram, count in counter.items():
            first, owner, second = top.get(gram, (0, -1, 0))
            if count > first:
                top[gram] = (count, index, first)
            elif count > second:
                top[gram] = (first, owner, count)
    return top


def style_match(predicted: Sequence[str], expected: Sequence[str]) -> dict[str, Any]:
    """Share of emails judged to be in the customer's segment: overall, per segment, and n."""
    _same_length(predicted, expected, "expected")
    per_segment: dict[str, float] = {}
    for segment in sorted(set(expected)):
        pairs = [(p, e) for p, e in zip(predicted, expected) if e == segment]
        per_segment[segment] = sum(p == e for p, e in pairs) / len(pairs)
    n = len(expected)
    overall = sum(p == e for p, e in zip(predicted, expected)) / n if n else 0.0
    return {"overall": overall, "per_segment": per_segment, "n": n}


def diversity(texts: Sequence[str], lang: str = "zh") -> dict[str, float]:
    """distinct-1, distinct-2 and self-BLEU of a set of emails."""
    return {"distinct1": distinct_n(texts, 1, lang), "distinct2": distinct_n(texts, 2, lang), "self_bleu": self_bleu(texts, lang)}


def _same_length(a: Sequence[Any], b: Sequence[Any], name: str) -> None:
    if len(a) != len(b):
        raise ConfigError(f"{name} has {len(b)} items for {len(a)} emails", fix=f"pass one {name} item per email")


def _check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise ConfigError(f"lang={lang!r} is invalid", fix=f"pass lang as one of {list(LANGS)}")
