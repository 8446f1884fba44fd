"""Neutral text for the embedded base model: the product's language and vocabulary, never an email style.

A real pretrained model (Qwen3) can write every phrase a marketing email needs, but knows none of
GenEmail's segment templates, so the segment adapters must carry each segment's style. The embedded
tiny base model is trained to be like that: on the single-strategy (generic) emails plus two kinds of
neutral text, never on a segment-styled email:

* **grammar sentences** (:func:`neutral_sentences`) from ``genemail/resources/neutral.yaml``:
  factual statements and small talk ("会员可以在{place}查看自己的{benefit}。") whose slots are filled,
  seeded, from word lists that cover every character the strategies use;
* **phrase mixes** (:func:`phrase_mixes`): single phrases of the strategies' variants (a greeting,
  one clause of a body, a call to action, facts filled from a random profile) strung together from
  two or three *different* segments, with no prompt. So the base model can spell every phrase, as a
  real model knows the idioms of its language, but it has never seen one segment's email, a segment's
  phrases side by side, or any phrase tied to a profile: which phrases, in which order, for which
  customer, is what each segment's adapter has to learn.

Measured (docs/MODELS.md): on grammar sentences alone, LoRA adapters could not learn the styles in
the time budget (validation loss stayed above 4.7 nats per token), because the base had to learn the
phrases themselves from a rank-8 update.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

from genemail.errors import ConfigError, DataError
from genemail.resources import RESOURCES_DIR
from genemail.taxonomy import LANGS

NEUTRAL_FILE = RESOURCES_DIR / "neutral.yaml"


def load_neutral_grammar(path: Path | None = None) -> dict[str, Any]:
    """Read and check the templates and slot lists (every slot a template uses must have words)."""
    import yaml

    source = Path(path) if path is not None else NEUTRAL_FILE
    if not source.is_file():
        raise DataError("neutral sentence file not found", where=str(source),
                        fix="reinstall genemail (the file is package data) or pass an existing file")
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    for lang in LANGS:
        block = data.get(lang) if isinstance(data, dict) else None
        if not isinstance(block, dict) or not block.get("templates") or not isinstance(block.get("slots"), dict):
            raise DataError(f"no '{lang}' block with templates and slots", where=str(source),
                            fix=f"add '{lang}: {{templates: [...], slots: {{...}}}}'")
        for index, template in enumerate(block["templates"]):
            for field in _fields(template):
                words = block["slots"].get(field)
                if not isinstance(words, list) or len(set(map(str, words))) < 2:
                    raise DataError(f"slot {field!r} has fewer than 2 words", where=f"{source}: {lang}.templates[{index}]",
                                    fix=f"add '{field}: [...]' with at least two words to {lang}.slots")
    return data


def neutral_sentences(n: int, lang: str = "zh", seed: int = 0, path: Path | None = None) -> list[str]:
    """``n`` distinct neutral sentences in ``lang`` (seeded); fewer if the grammar has fewer."""
    import numpy as np

    if lang not in LANGS:
        raise ConfigError(f"lang={lang!r} is invalid", fix=f"pass lang as one of {list(LANGS)}")
    if not isinstance(n, int) or n < 0:
        raise ConfigError(f"n={n!r} is invalid", fix="pass a non-negative number of sentences")
    block = load_neutral_grammar(path)[lang]
    rng = np.random.default_rng([seed, 7919])  # its own stream: the corpus' variant draws are untouched
    templates = block["templates"]
    words = {name: _Cycle([str(w) for w in values], rng) for name, values in block["slots"].items()}
    sentences: dict[str, None] = {}  # ordered set
    attempts = 0
    while len(sentences) < n and attempts < 20 * n:
        template = templates[attempts % len(templates)]  # every template in turn
        attempts += 1
        sentences[_fill(template, words)] = None
    return list(sentences)


class _Cycle:
    """A slot's words in seeded shuffled rounds: every word is used before any is used again, so a
    few hundred sentences already contain the whole vocabulary."""

    def __init__(self, words: list[str], rng: Any) -> None:
        self.words, self.rng, self.queue = words, rng, []  # type: list[str]

    def take(self, avoid: set[str]) -> str:
        if not self.queue:
            self.queue = [self.words[i] for i in self.rng.permutation(len(self.words))]
        word = next((w for w in self.queue if w not in avoid), None)
        if word is None:  # only words already in this sentence are left in the round
            word = next(w for w in self.words if w not in avoid)
        else:
            self.queue.remove(word)
        return word


def _fill(template: str, words: dict[str, _Cycle]) -> str:
    """Fill each ``{slot}`` left to right; a slot repeated in one template gets different words."""
    out, used = [], set()
    for literal, field, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if field:
            word = words[field].take(used)
            used.add(word)
            out.append(word)
    return "".join(out)


def _fields(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


_PHRASE_END = {"zh": "，。！：；～？", "en": ",.!:;?"}
_SENTENCE_END = {"zh": "。", "en": "."}


def phrase_mixes(book: Any, n: int, lang: str = "zh", seed: int = 0) -> list[str]:
    """``n`` distinct strings of 2-3 phrases, each from a *different* segment's variants (seeded).

    ``book`` is a :class:`~genemail.generation.strategies.StrategyBook`; facts are filled from a
    random profile per phrase, so no phrase is tied to a customer.
    """
    import numpy as np

    from genemail.taxonomy import L2_SEGMENTS

    if lang not in LANGS:
        raise ConfigError(f"lang={lang!r} is invalid", fix=f"pass lang as one of {list(LANGS)}")
    rng = np.random.default_rng([seed, 104729])
    segments = [s for s in L2_SEGMENTS if s in book.segments and book.for_segment(s).text(lang).variants]
    if len(segments) < 2:
        return []
    texts: dict[str, None] = {}
    attempts = 0
    while len(texts) < n and attempts < 20 * n:
        attempts += 1
        chosen = rng.choice(segments, size=min(len(segments), int(rng.integers(2, 4))), replace=False)
        phrases = [_random_phrase(book.for_segment(str(seg)).text(lang).variants, lang, rng) for seg in chosen]
        texts[_join(phrases, lang)] = None
    return list(texts)


def _random_phrase(variants: Any, lang: str, rng: Any) -> str:
    """One phrase of one randomly chosen variant (greeting, body or call to action), facts filled."""
    from genemail.generation.prompts import fact_phrases

    part = (variants.greeting, variants.body, variants.call_to_action)[int(rng.integers(3))]
    text = part[int(rng.integers(len(part)))].format(**fact_phrases(_random_profile(rng), lang))
    phrases = _split_phrases(text, lang)
    return phrases[int(rng.integers(len(phrases)))]


def _random_profile(rng: Any) -> Any:
    """A profile with every fact known, drawn at random (the facts are filler here)."""
    from genemail.data.schema import KID_AGE_BANDS, SPEND_CATEGORIES
    from genemail.generation.prompts import CustomerProfile

    bands = [b for b in KID_AGE_BANDS if b != "none"]
    return CustomerProfile(customer_id="neutral", children=int(rng.integers(1, 4)),
                           kid_age=bands[int(rng.integers(len(bands)))],
                           favourite_category=SPEND_CATEGORIES[int(rng.integers(len(SPEND_CATEGORIES)))],
                           income=float(rng.integers(15_000, 120_000)), recency=int(rng.integers(1, 100)),
                           tenure_days=int(rng.integers(366, 1500)))


def _split_phrases(text: str, lang: str) -> list[str]:
    """``text`` cut after each phrase-ending punctuation mark (kept with its phrase)."""
    phrases, current = [], ""
    for char in text:
        current += char
        if char in _PHRASE_END[lang]:
            phrases.append(current.strip())
            current = ""
    if current.strip():
        phrases.append(current.strip())
    return phrases or [text]


def _join(phrases: list[str], lang: str) -> str:
    """The phrases as one string that ends like a sentence."""
    text = ("" if lang == "zh" else " ").join(phrases)
    return text[:-1] + _SENTENCE_END[lang] if text and text[-1] in "，：；,:;" else text
