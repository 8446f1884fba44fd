"""Neutral sentences: the shop's vocabulary in plain statements, for the embedded base model.

A real pretrained model (Qwen3) knows the language and the words of a shop but none of GenEmail's
segment templates, so the segment adapters must carry each segment's style. The embedded tiny base
model is trained to be like that: on the single-strategy (generic) emails plus these sentences,
never on the segment-styled emails. The sentences come from ``genemail/resources/neutral.yaml``:
factual templates ("会员可以在{place}查看自己的{benefit}。") whose slots are filled, seeded, from
word lists that include the segments' offer words, so the base model can spell them, without ever
seeing them in a segment's email.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

from genemail.errors import ConfigError, DataError
from genemail.generation.strategies import LANGS
from genemail.resources import RESOURCES_DIR

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
