"""The quality gate: every email is checked before it is shown, written or sent.

One :class:`QualityGate` checks an email as the model wrote it (merge tags and all) for one customer:

* ``slots``: every merge tag is known and fillable from the record, and no half-written tag is left;
* ``structure``: one greeting first, a body, one call to action last, within the voice's length bounds;
* ``fluency``: no sentence or phrase is repeated, nothing is cut off, and, by the gate's fluency mode,
  ``voice`` (the embedded default): every body clause is close to a clause of the voice the email should
  speak (the strategy's own language); ``likelihood`` (a real model): the model's own log-probabilities
  of the tokens it wrote are not too low, on average or over any short stretch
  (:mod:`genemail.generation.likelihood`);
* ``facts``: every fact the rendered email states is true of this customer (:mod:`genemail.generation.claims`);
* ``segment_fit``: nothing the segment must not say, no win-back wording to an active customer, no
  parent wording to a customer without children, greeting and call to action in the segment's voice;
* ``language``: a Chinese email has no foreign words beyond its voice's own (VIP), an English one no
  Chinese characters.

Segment fit is enforced for segmented emails and only reported for the baseline, because that
difference is what an A/B test of the two measures. :mod:`genemail.generation.writer` resamples a
failing email and falls back to the strategy's template email (:func:`QualityGate.fallback`), which is
checked like any other.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from genemail.errors import config_error
from genemail.generation.claims import check_facts
from genemail.generation.likelihood import FLUENCY_MODES, LIKELIHOOD, VOICE, likelihood_failures
from genemail.generation.slots import TAG, available_slots, render, slot_form
from genemail.generation.strategies import Strategy, StrategyBook
from genemail.generation.templates import SEPARATOR, repeats_phrase, split_clauses, template_for
from genemail.taxonomy import L2_SEGMENTS

if TYPE_CHECKING:
    from genemail.generation.prompts import CustomerProfile

CHECKS: tuple[str, ...] = ("slots", "structure", "fluency", "facts", "segment_fit", "language")
SEGMENTED, BASELINE_VARIANT, SINGLE_STRATEGY = "segmented", "baseline", "single_strategy"
PASSED, FALLBACK = "passed", "fallback"
_SENTENCE_END = {"zh": r"(?<=[。！？；!?;～])", "en": r"(?<=[.!?;])\s+"}
_TERMINAL = ("。", "！", "？", "～", ".", "!", "?")
SEPARATOR_CLAUSE = {"zh": "", "en": " "}
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class GateConfig:
    """How hard the gate looks and how often a failing email is written again."""

    max_attempts: int = 3  # model attempts per email before the template email is sent
    similarity: float = 0.85  # a body sentence must be at least this close to one of its voice's
    length_slack: float = 0.3  # length bounds: the voice's shortest and longest email, this much wider
    # Likelihood mode (a real model), in nats per token of the model's raw distribution. Uniform over a
    # real vocabulary is ~12 nats; sub-1B pretrained models read ordinary prose at ~2.5-3 (perplexity
    # 12-20), and a model's own samples average its entropy, far lower once an adapter learned the email
    # corpus (the embedded adapters: 0.33, docs/MODELS.md). So a whole email above 3.0 is one the model
    # would not write. A splice, a doubled or shuffled clause is one transition the model finds very
    # unlikely (8-20 nats on the tiny model of tests/test_gate_likelihood.py, whose own samples never
    # pass 1.2) inside text it otherwise predicts well; a real model's induction heads make the rest of a
    # doubled clause likely again, and a mean over a long window would dilute that one token. So the
    # window is 2 tokens, and 4.5 nats/token over it (9 nats: one token below 1/8000, or two in a row
    # below 1/90) is far outside what sampling at T <= 1 with top_p = 0.95 picks from a fluent model.
    max_mean_nll: float = 3.0
    window_tokens: int = 2
    max_window_nll: float = 4.5

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or isinstance(self.max_attempts, bool) or not 1 <= self.max_attempts <= 10:
            raise config_error("max_attempts", self.max_attempts, "an integer from 1 to 10")
        for name in ("similarity", "length_slack"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise config_error(name, value, "a number from 0 to 1")
        for name in ("max_mean_nll", "max_window_nll"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 50:
                raise config_error(name, value, "nats per token, a number in (0, 50]")
        if isinstance(self.window_tokens, bool) or not isinstance(self.window_tokens, int) \
                or not 1 <= self.window_tokens <= 64:
            raise config_error("window_tokens", self.window_tokens, "an integer from 1 to 64")


@dataclass(frozen=True)
class Verdict:
    """What the gate found in one email: the checks that failed and why (empty when it passed)."""

    failed: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    reported: tuple[str, ...] = ()  # checks that failed but are not enforced for this variant

    @property
    def passed(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class QA:
    """An email's way through the gate: passed on attempt k, or the template was sent after k failures."""

    status: str  # "passed" | "fallback"
    attempts: int  # model attempts made (the template is not counted)
    failed: tuple[str, ...] = ()  # checks that failed on any attempt, in CHECKS order
    reported: tuple[str, ...] = ()  # reported, not enforced (segment fit of a baseline email)
    reasons: tuple[str, ...] = ()  # the last failed attempt's reasons

    @property
    def first_attempt(self) -> bool:
        return self.status == PASSED and self.attempts == 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (one per email in campaign rows and send logs)."""
        return {"status": self.status, "attempts": self.attempts, "failed": list(self.failed),
                "reported": list(self.reported), "reasons": list(self.reasons[:3])}


@dataclass(frozen=True)
class Voice:
    """The texts an email of one kind is written in: greetings, bodies (slot form), calls to action."""

    greetings: tuple[str, ...]
    bodies: tuple[str, ...]
    ctas: tuple[str, ...]
    lang: str

    @cached_property
    def greeting_set(self) -> frozenset[str]:
        return frozenset(self.greetings)

    @cached_property
    def greeting_clauses(self) -> frozenset[str]:
        return frozenset(c for g in self.greetings for c in split_clauses(g, self.lang))

    @cached_property
    def body_clauses(self) -> frozenset[str]:
        return frozenset(c for b in self.bodies for c in split_clauses(b, self.lang))

    @cached_property
    def cta_clauses(self) -> frozenset[str]:
        return frozenset(c for x in self.ctas for c in split_clauses(x, self.lang))

    @cached_property
    def latin_words(self) -> frozenset[str]:
        text = " ".join((*self.greetings, *self.bodies, *self.ctas))
        return frozenset(w.lower() for w in _LATIN_WORD.findall(TAG.sub(" ", text)))


def split_sentences(text: str, lang: str) -> list[str]:
    """``text`` cut after each sentence end (。！？； in Chinese, . ! ? ; in English), blanks dropped."""
    return [s.strip() for s in re.split(_SENTENCE_END[lang], text) if s.strip()]


@dataclass
class QualityGate:
    """The checks of one strategies book in one language (build once, use for every email)."""

    book: StrategyBook
    lang: str = "zh"
    config: GateConfig = field(default_factory=GateConfig)

    def __post_init__(self) -> None:
        self._voices: dict[str, Voice] = {}
        self._bounds_of: dict[int, tuple[int, int]] = {}
        self._closeness_cache: dict[frozenset[str], dict[str, float]] = {}
        self._all = self._voice_of(list(self.book.strategies.values()))

    # ---------------------------------------------------------------- voices

    def _voice_of(self, strategies: list[Strategy]) -> Voice:
        parts: dict[str, list[str]] = {"greeting": [], "body": [], "call_to_action": []}
        for st in strategies:
            variants = st.text(self.lang).variants if self.lang in st.texts else None
            if variants is None:
                continue
            parts["greeting"] += variants.greeting
            parts["body"] += [slot_form(body) for body in variants.body]
            parts["call_to_action"] += variants.call_to_action
        unique = {k: tuple(dict.fromkeys(v)) for k, v in parts.items()}
        return Voice(unique["greeting"], unique["body"], unique["call_to_action"], self.lang)

    def voice(self, strategy: Strategy, variant: str) -> Voice:
        """What ``variant``'s email for a customer of ``strategy`` may sound like.

        A segmented email speaks its segment's voice; the unsegmented baseline adapter learned every
        styled email, so the baseline (and a cold-start customer's email, which it writes) speaks all of
        them; the single strategy speaks the ``baseline`` record's generic voice.
        """
        if variant == SINGLE_STRATEGY:
            key, members = "__single__", [self.book.baseline]
        elif variant == SEGMENTED and strategy.segment in L2_SEGMENTS:
            key, members = strategy.segment, [strategy]
        else:
            return self._all
        if key not in self._voices:
            self._voices[key] = self._voice_of(members)
        return self._voices[key]

    # ---------------------------------------------------------------- the checks

    def check(self, text: str, profile: "CustomerProfile", strategy: Strategy, variant: str, *,
              fluency: str = VOICE, logprobs: Sequence[float] | None = None) -> tuple[Verdict, str]:
        """Check ``text`` (as the model wrote it, with merge tags) for one customer; returns the verdict and
        the rendered email (facts filled where they could be).

        ``fluency`` is the mode of the fluency check: ``voice`` (the embedded default's: the strategy's
        own language) or ``likelihood`` (a real model's: ``logprobs``, the model's log-probability of each
        token of ``text``; None fails the check).
        """
        if fluency not in FLUENCY_MODES:
            raise config_error("fluency", fluency, f"one of {FLUENCY_MODES}")
        rendered = render(text, profile, self.lang, self.book.wording(self.lang))
        found: dict[str, list[str]] = {}

        def fail(check: str, reason: str) -> None:
            found.setdefault(check, []).append(reason)

        if not rendered.ok:
            for name in rendered.unknown:
                fail("slots", f"unknown merge tag {{{{{name}}}}}")
            for name in rendered.unfillable:
                fail("slots", f"merge tag {{{{{name}}}}} but the customer has no such fact")
            if rendered.stray_braces:
                fail("slots", "a half-written merge tag (a stray brace)")
        voice = self.voice(strategy, variant)
        self._structure_and_fluency(text, voice, strategy, variant, fail, by_voice=fluency == VOICE)
        if fluency == LIKELIHOOD:
            c = self.config
            for reason in likelihood_failures(logprobs, max_mean_nll=c.max_mean_nll,
                                              max_window_nll=c.max_window_nll, window_tokens=c.window_tokens):
                fail("fluency", reason)
        facts = check_facts(rendered.text, profile, self.lang, self.book.wording(self.lang))
        for mismatch in facts.mismatches:
            fail("facts", mismatch)
        self._segment_fit(rendered.text, profile, strategy, variant, fail)
        self._language(rendered.text, voice, fail)
        enforce_fit = variant == SEGMENTED
        failed = tuple(c for c in CHECKS if c in found and (enforce_fit or c != "segment_fit"))
        reported = () if enforce_fit or "segment_fit" not in found else ("segment_fit",)
        reasons = tuple(r for c in failed for r in found[c])
        return Verdict(failed, reasons, reported), rendered.text

    def _structure_and_fluency(self, text: str, voice: Voice, strategy: Strategy, variant: str, fail: Any,
                               by_voice: bool = True) -> None:
        """Greeting, body and call to action read clause by clause against the voices' own clauses.

        A clause (text up to a comma, colon or sentence end) passes when it is close to a clause the
        strategies use in that part of an email, so a greeting joined from two known greetings' halves
        reads as fluent, while a sentence cut off and spliced into another does not. Body clauses are
        held to the voice only ``by_voice`` (likelihood mode judges a real model's wording by the model).
        """
        text = text.strip()
        clauses = split_clauses(text, self.lang)
        tau = self.config.similarity
        start = 0
        while start < len(clauses) and self._close(clauses[start], self._all.greeting_clauses) >= tau:
            start += 1
        end = len(clauses)
        while end > start and self._close(clauses[end - 1], self._all.cta_clauses) >= tau:
            end -= 1
        greeting, cta, body = clauses[:start], clauses[end:], clauses[start:end]
        if not greeting:
            fail("structure", "it does not open with a greeting")
        elif self._second_greeting(greeting):
            fail("structure", "a second greeting")
        cut_off = not text.endswith(_TERMINAL)
        if cut_off:
            fail("fluency", "it is cut off")
        elif not cta:
            fail("structure", "it does not end with a call to action")
        elif sum(c.endswith(_TERMINAL) for c in cta) > 1:
            fail("structure", "the call to action is repeated")
        if not any(re.search(r"\w", TAG.sub("x", c)) for c in body):
            fail("structure", "the body is empty")
        low, high = self._bounds(voice)
        if not low <= len(text) <= high:
            fail("structure", f"{len(text)} characters, expected {low}-{high}")
        if variant == SEGMENTED:  # a clause nearer another segment's wording than this segment's own
            if any(self._close(c, voice.greeting_clauses) < self._close(c, self._all.greeting_clauses) for c in greeting):
                fail("segment_fit", "the greeting is another segment's")
            if any(self._close(c, voice.cta_clauses) < self._close(c, self._all.cta_clauses) for c in cta):
                fail("segment_fit", "the call to action is another segment's")
        for clause in body if by_voice else ():
            if self._close(clause, voice.body_clauses) < tau:
                fail("fluency", f"a clause unlike the strategy's language: {clause[:40]!r}")
        if repeats_phrase(TAG.sub("#", text), self.lang):
            fail("fluency", "a phrase, clause or sentence is repeated")

    def _second_greeting(self, greeting: list[str]) -> bool:
        """Two greetings in a row: a repeated clause, two colons, or clauses that split into two whole greetings."""
        if len(set(greeting)) < len(greeting) or sum(c.endswith(("：", ":")) for c in greeting) > 1:
            return True
        whole, tau, sep = self._all.greeting_set, self.config.similarity, SEPARATOR_CLAUSE[self.lang]
        if self._close(sep.join(greeting), whole) >= tau:
            return False
        # fewest whole greetings (of 1-3 clauses each) that cover the clauses, if they can be covered at all
        n, inf = len(greeting), len(greeting) + 1
        fewest = [0] + [inf] * n
        for end in range(1, n + 1):
            for size in range(1, min(3, end) + 1):
                if fewest[end - size] < inf and self._close(sep.join(greeting[end - size:end]), whole) >= tau:
                    fewest[end] = min(fewest[end], fewest[end - size] + 1)
        return 2 <= fewest[n] < inf

    def _close(self, clause: str, known: frozenset[str]) -> float:
        """How close ``clause`` comes to the nearest of ``known`` (1.0 for an exact match)."""
        if clause in known:
            return 1.0
        cache = self._closeness_cache.setdefault(known, {})  # frozensets hash once, and never by a reused id
        if clause not in cache:
            matcher = difflib.SequenceMatcher(autojunk=False)
            matcher.set_seq2(clause)
            best = 0.0
            for other in known:
                matcher.set_seq1(other)
                if matcher.real_quick_ratio() > best and matcher.quick_ratio() > best:
                    best = max(best, matcher.ratio())
            if len(cache) > 50_000:
                cache.clear()
            cache[clause] = best
        return cache[clause]

    def _bounds(self, voice: Voice) -> tuple[int, int]:
        """Length bounds of an email in ``voice``: its shortest and longest template, ``length_slack`` wider."""
        if id(voice) not in self._bounds_of:
            sep = 2 * len(SEPARATOR[self.lang])
            parts = (voice.greetings, voice.bodies, voice.ctas)
            shortest = sum(min(map(len, p)) for p in parts) + sep
            longest = sum(max(map(len, p)) for p in parts) + sep
            slack = self.config.length_slack
            self._bounds_of[id(voice)] = (int(shortest * (1 - slack)), int(longest * (1 + slack)) + 40)
        return self._bounds_of[id(voice)]

    def _segment_fit(self, rendered: str, profile: "CustomerProfile", strategy: Strategy, variant: str,
                     fail: Any) -> None:
        low = rendered.lower()
        if variant == SEGMENTED and self.lang in strategy.texts:
            for phrase in strategy.text(self.lang).must_not_say:
                if phrase.lower() in low:
                    fail("segment_fit", f"{strategy.segment} must not say {phrase!r}")
        guards = self.book.guards
        if guards is None:
            return
        if profile.recency is not None and profile.recency <= guards.active_days:
            for phrase in guards.active.get(self.lang, ()):
                if phrase.lower() in low:
                    fail("segment_fit", f"win-back wording {phrase!r} to a customer who visited {profile.recency} days ago")
        if not profile.children:
            for phrase in guards.no_children.get(self.lang, ()):
                if phrase.lower() in low:
                    fail("segment_fit", f"parent wording {phrase!r} to a customer without children")

    def _language(self, rendered: str, voice: Voice, fail: Any) -> None:
        if self.lang == "en":
            if _CJK.search(rendered):
                fail("language", "Chinese characters in an English email")
            return
        foreign = [w for w in _LATIN_WORD.findall(rendered) if w.lower() not in voice.latin_words | self._all.latin_words]
        if foreign:
            fail("language", f"foreign words in a Chinese email: {foreign[:3]}")

    # ---------------------------------------------------------------- the template email

    def fallback(self, profile: "CustomerProfile", strategy: Strategy, variant: str) -> tuple[str, str, Verdict]:
        """The template email this customer gets when the model's attempts all failed.

        The strategy's own template (a segmented email of an L2 segment), else the single strategy's
        generic one; if the segment's template fails the gate too (a segment's wording that does not fit
        this customer, such as win-back to an active one), the generic template. Returns the template in
        slot form, rendered, and its verdict.
        """
        slots = available_slots(profile)
        own = strategy if (variant == SEGMENTED and strategy.segment in L2_SEGMENTS) else self.book.baseline
        candidates = [(own, variant)] + ([(self.book.baseline, SINGLE_STRATEGY)] if own is not self.book.baseline else [])
        last: tuple[str, str, Verdict] | None = None
        for st, as_variant in candidates:
            template = template_for(st, self.lang, slots, profile.customer_id)
            verdict, rendered = self.check(template, profile, st, as_variant)
            last = (template, rendered, verdict)
            if verdict.passed:
                return last
        assert last is not None
        return last


def qa_summary(qas: list[QA]) -> dict[str, Any]:
    """Counts of a batch of verdicts: emails, first-attempt passes, passes, fallbacks, failures by check."""
    counts: Mapping[str, int] = {c: sum(c in q.failed for q in qas) for c in CHECKS}
    return {"emails": len(qas), "first_attempt": sum(q.first_attempt for q in qas),
            "passed": sum(q.status == PASSED for q in qas), "fallback": sum(q.status == FALLBACK for q in qas),
            "failed_checks": {c: n for c, n in counts.items() if n}}
