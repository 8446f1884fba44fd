"""Template emails: greeting + body + call to action from a strategy's variants, in slot form.

The corpus writes its reference emails from these (:mod:`genemail.training.corpus`), and the quality
gate falls back to one of them, deterministically per customer, when a model's email keeps failing
(:mod:`genemail.generation.gate`). A body is offered only to a customer who has every fact it needs, and
among those only the bodies that state the most facts (at least two when the customer has them).
"""

from __future__ import annotations

import itertools
import re
import string
import zlib
from collections.abc import Collection
from functools import lru_cache

from genemail.errors import DataError
from genemail.generation.slots import SLOT_OF_PLACEHOLDER, slot_form
from genemail.generation.strategies import EmailVariants, Strategy

SEPARATOR: dict[str, str] = {"zh": "", "en": " "}  # between greeting, body and call to action


_CLAUSE_END = {"zh": r"(?<=[，。！？；：～,!?;:])", "en": r"(?<=[,.!?;:])\s+"}


def split_clauses(text: str, lang: str) -> list[str]:
    """``text`` cut after each comma, colon and sentence end (the unit the fluency check compares)."""
    return [c.strip() for c in re.split(_CLAUSE_END[lang], text) if c.strip()]


def repeats_phrase(text: str, lang: str) -> bool:
    """A stutter: a clause said twice (4+ characters), or a run of words (English: 4) or characters
    (Chinese: 6, punctuation aside) that occurs twice."""
    said = [c.rstrip("，。！？；：～,.!?;: ").lower() for c in split_clauses(text, lang)]
    said = [c for c in said if len(c) >= 4]
    if len(set(said)) < len(said):
        return True
    if lang == "en":
        words = re.findall(r"[\w'#-]+", text.lower())
        grams = [" ".join(words[i:i + 4]) for i in range(len(words) - 3)]
    else:
        chars = re.sub(r"[\s，。！？：；、,.!?:;～（）()]", "", text)
        grams = [chars[i:i + 6] for i in range(len(chars) - 5)]
    seen: dict[str, int] = {}
    for i, gram in enumerate(grams):
        if gram in seen and i - seen[gram] >= (4 if lang == "en" else 6):
            return True
        seen.setdefault(gram, i)
    return False


def needed_facts(template: str) -> set[str]:
    """The fact placeholders (``recency_fact`` ...) a strategies-file body uses."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def variant_combinations(variants: EmailVariants, facts: Collection[str]) -> list[tuple[int, int, int]]:
    """Every (greeting, body, CTA) index triple whose body the customer can fill and states the most facts.

    ``facts`` are the placeholders the customer has (``recency_fact`` ...). Among the bodies it can fill,
    only those stating at least two facts (or as many as its best body states, when fewer), so an email
    says something true about its customer whenever it can; and no combination that repeats a phrase.
    """
    return list(_combinations(variants, frozenset(facts)))


@lru_cache(maxsize=512)
def _combinations(variants: EmailVariants, have: frozenset[str]) -> tuple[tuple[int, int, int], ...]:
    # Cached: a corpus asks for the same few (variants, facts) pairs tens of thousands of times.
    fillable = [i for i, body in enumerate(variants.body) if needed_facts(body) <= have]
    most = min(2, max((len(needed_facts(variants.body[i])) for i in fillable), default=0))
    bodies = [i for i in fillable if len(needed_facts(variants.body[i])) >= most]
    lang = "zh" if re.search(r"[\u3400-\u9fff]", variants.greeting[0]) else "en"
    # A greeting and body (or body and call to action) that say the same words read as a stutter.
    return tuple((g, b, c) for g, b, c in itertools.product(range(len(variants.greeting)), bodies,
                                                       range(len(variants.call_to_action)))
            if not repeats_phrase(SEPARATOR[lang].join((variants.greeting[g], slot_form(variants.body[b]),
                                                        variants.call_to_action[c])), lang))


def email_variants(strategy: Strategy, lang: str) -> EmailVariants:
    """The strategy's variants in ``lang``; :class:`DataError` for a record without any (Cold_Start)."""
    variants = strategy.text(lang).variants
    if variants is None:
        raise DataError(
            f"strategy {strategy.segment!r} has no email variants", where=f"strategies.{strategy.segment}.{lang}",
            fix="only L2 segments have reference emails; add 'variants:' to the record",
        )
    return variants


def write_template(strategy: Strategy, lang: str, choice: tuple[int, int, int]) -> str:
    """The email of one (greeting, body, CTA) choice in slot form: facts as merge tags."""
    variants = email_variants(strategy, lang)
    greeting, body, cta = choice
    return SEPARATOR[lang].join((variants.greeting[greeting], slot_form(variants.body[body]),
                                 variants.call_to_action[cta]))


def template_for(strategy: Strategy, lang: str, slots: Collection[str], customer_id: str) -> str:
    """The strategy's template email for one customer: the same customer always gets the same one."""
    facts = {placeholder for placeholder, slot in SLOT_OF_PLACEHOLDER.items() if slot in slots}
    combos = variant_combinations(email_variants(strategy, lang), facts)
    return write_template(strategy, lang, combos[zlib.crc32(customer_id.encode("utf-8")) % len(combos)])
