"""Automatic email metrics (O3, KR2): fact consistency, distinct-n, self-BLEU, style match.

Fact consistency reads the facts an email states back out of it with the quality gate's reader
(:mod:`genemail.generation.claims`: the strategies' wording forms such as "距离您上次光临已有45天", and
loose forms such as "34天") and compares each claim with the customer's profile. An email that states no fact
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
from typing import Any

from genemail.errors import ConfigError
from genemail.generation.claims import Claim, FactCheck, check_facts, truth
from genemail.generation.claims import extract_claims as _extract
from genemail.generation.prompts import CustomerProfile
from genemail.generation.strategies import default_wording
from genemail.taxonomy import LANGS


def extract_claims(email: str, lang: str = "zh") -> list[Claim]:
    """Every fact claim in ``email``: the packaged strategies' wording forms, then loose forms (34天, 3 years)."""
    _check_lang(lang)
    return _extract(email, lang, default_wording(lang))


def _truth(profile: CustomerProfile, kind: str) -> Any:
    return truth(profile, kind)


def fact_consistency(email: str, profile: CustomerProfile, lang: str = "zh") -> FactCheck:
    """Do the email's claims agree with the profile? A claim about an unknown field is a mismatch.

    The same reading as the quality gate's facts check (:mod:`genemail.generation.claims`).
    """
    _check_lang(lang)
    return check_facts(email, profile, lang, default_wording(lang))


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
