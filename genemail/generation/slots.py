"""Merge tags: the model writes where a fact goes, the customer record says what it is.

An email is written with **slots** (merge tags, as Braze's and Klaviyo's templates have them):
``{{recency}}``, ``{{children}}``, ``{{category}}``, ``{{income}}``, ``{{tenure}}``. No model, the
embedded one or a real one behind the OpenAI backend, ever writes a customer's facts from memory:
:func:`render` fills each slot from the customer's :class:`CustomerProfile`, in the email's language,
with the wording of the strategies file (``facts:``), so the wording of a fact changes without
retraining. A slot for a fact the customer does not have (children for a childless customer, an
unknown favourite category, "0 years with us") and a slot of an unknown name are reported, never
filled with a blank or a guess: the quality gate (:mod:`genemail.generation.gate`) fails such an email.

The corpus writes its reference emails in slot form (``slot_form`` of the strategies' ``{recency_fact}``
placeholders), so the embedded model learns the tags themselves; the prompt lists the tags the customer
can take (:func:`tags_line`).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from genemail.errors import StrategyError

if TYPE_CHECKING:
    from genemail.generation.prompts import CustomerProfile

SLOTS: tuple[str, ...] = ("recency", "children", "category", "income", "tenure")
# The strategies file's body placeholder of each slot ({recency_fact} -> {{recency}}).
PLACEHOLDER_OF: dict[str, str] = {slot: f"{slot}_fact" for slot in SLOTS}
SLOT_OF_PLACEHOLDER: dict[str, str] = {v: k for k, v in PLACEHOLDER_OF.items()}
# A tag as the model writes it; anything between double braces counts, so a misspelt tag is caught.
TAG = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
# What a wording template may use, per form.
WORDING_FIELDS: dict[str, frozenset[str]] = {
    "recency": frozenset({"days", "days_s"}),
    "children": frozenset({"count", "count_s", "ages"}),
    "children_no_ages": frozenset({"count", "count_s"}),
    "category": frozenset({"category"}),
    "income": frozenset({"tier"}),
    "tenure": frozenset({"years", "years_s"}),
}
CATEGORY_NAMES: dict[str, dict[str, str]] = {
    "zh": {"wines": "葡萄酒", "fruits": "水果", "meat": "肉类", "fish": "海鲜", "sweets": "甜品", "gold": "金饰"},
    "en": {"wines": "wine", "fruits": "fruit", "meat": "meat", "fish": "seafood", "sweets": "sweets", "gold": "gold jewellery"},
}
KID_BAND_NAMES: dict[str, dict[str, str]] = {
    "zh": {"young": "幼童", "teen": "青少年", "young_and_teen": "幼童和青少年"},
    "en": {"young": "little ones", "teen": "teens", "young_and_teen": "little ones and teens"},
}
# Income band as the email states it ("高端之选" / "premium picks").
INCOME_TIER_NAMES: dict[str, dict[str, str]] = {
    "zh": {"high": "高端", "mid": "品质", "low": "实惠"},
    "en": {"high": "premium", "mid": "quality", "low": "value"},
}
_TAGS_CUE = {"zh": "事实标签：", "en": "Fact tags: "}


def tag(slot: str) -> str:
    """The merge tag of ``slot`` as an email carries it: ``{{recency}}``."""
    return "{{" + slot + "}}"


def slot_form(template: str) -> str:
    """A strategies-file body (``"{recency_fact}，..."``) with each fact placeholder as its merge tag."""
    out = []
    for literal, field, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if field is not None:
            out.append(tag(SLOT_OF_PLACEHOLDER[field]))
    return "".join(out)


@dataclass(frozen=True)
class FactWording:
    """How one language states each fact (the strategies file's ``facts.<lang>`` block)."""

    recency: str
    children: str
    children_no_ages: str
    category: str
    income: str
    tenure: str

    def __post_init__(self) -> None:
        for form, allowed in WORDING_FIELDS.items():
            text = getattr(self, form)
            if not isinstance(text, str) or not text.strip():
                raise StrategyError(f"fact wording {form!r} is empty", where=f"facts.{form}",
                                    fix="give the form a text with its placeholders")
            try:
                used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            except ValueError as exc:
                raise StrategyError(f"malformed fact wording ({exc})", where=f"facts.{form}",
                                    fix="balance the braces") from None
            main = {"recency": "days", "children": "count", "children_no_ages": "count", "category": "category",
                    "income": "tier", "tenure": "years"}[form]
            if used - allowed or main not in used:
                raise StrategyError(f"fact wording {form!r} uses {sorted(used)}", where=f"facts.{form}",
                                    fix=f"use {{{main}}} and only {sorted(allowed)}")

    @classmethod
    def parse(cls, block: object, where: str) -> "FactWording":
        """Build from a YAML mapping; a missing or extra form is a :class:`StrategyError`."""
        if not isinstance(block, Mapping):
            raise StrategyError("fact wording is not a mapping", where=where, fix=f"give the forms {list(WORDING_FIELDS)}")
        missing = [f for f in WORDING_FIELDS if f not in block]
        extra = [f for f in block if f not in WORDING_FIELDS]
        if missing or extra:
            raise StrategyError(f"fact wording forms missing {missing}, unknown {extra}", where=where,
                                fix=f"give exactly the forms {list(WORDING_FIELDS)}")
        try:
            return cls(**{f: block[f] for f in WORDING_FIELDS})
        except StrategyError as exc:
            raise StrategyError(exc.what, where=f"{where}.{(exc.where or '').split('.')[-1]}", fix=exc.fix) from None


def _plural(n: int, lang: str) -> str:
    return "s" if lang == "en" and n != 1 else ""


def fact_values(profile: "CustomerProfile", lang: str, wording: FactWording) -> dict[str, str]:
    """Each slot this customer can take, as its text in ``lang``; a fact the profile lacks is absent."""
    out: dict[str, str] = {}
    if profile.recency is not None:
        out["recency"] = wording.recency.format(days=profile.recency, days_s=_plural(profile.recency, lang))
    if profile.children:
        ages = KID_BAND_NAMES[lang].get(profile.kid_age or "")
        form = wording.children if ages else wording.children_no_ages
        out["children"] = form.format(count=profile.children, count_s=_plural(profile.children, lang), ages=ages)
    if profile.favourite_category is not None:
        out["category"] = wording.category.format(category=CATEGORY_NAMES[lang][profile.favourite_category])
    if profile.income_band is not None:
        out["income"] = wording.income.format(tier=INCOME_TIER_NAMES[lang][profile.income_band])
    years = profile.tenure_years
    if years:  # "0 years with us" is no compliment: the customer has no tenure fact
        out["tenure"] = wording.tenure.format(years=years, years_s=_plural(years, lang))
    return out


def available_slots(profile: "CustomerProfile") -> tuple[str, ...]:
    """The slots this customer can take, in :data:`SLOTS` order (the same in every language)."""
    known = {"recency": profile.recency is not None, "children": bool(profile.children),
             "category": profile.favourite_category is not None, "income": profile.income_band is not None,
             "tenure": bool(profile.tenure_years)}
    return tuple(slot for slot in SLOTS if known[slot])


def tags_line(profile: "CustomerProfile", lang: str) -> str:
    """The prompt line that tells a model which merge tags this customer can take."""
    return _TAGS_CUE[lang] + " ".join(tag(s) for s in available_slots(profile))


@dataclass(frozen=True)
class Rendered:
    """An email with its slots filled, and what could not be filled."""

    text: str
    slots: tuple[str, ...]  # every tag the email carried, in order
    unknown: tuple[str, ...]  # tags of no known slot ({{shoe_size}}, {{ recency }} typos count here)
    unfillable: tuple[str, ...]  # known slots this customer has no fact for
    stray_braces: bool  # a '{' or '}' that is not part of a tag (a half-written tag)

    @property
    def ok(self) -> bool:
        """Every tag was known and filled, and no brace is left over."""
        return not (self.unknown or self.unfillable or self.stray_braces)


def render(text: str, profile: "CustomerProfile", lang: str, wording: FactWording) -> Rendered:
    """Fill every merge tag of ``text`` from ``profile``; unknown and unfillable tags are kept and reported."""
    values = fact_values(profile, lang, wording)
    slots: list[str] = []
    unknown: list[str] = []
    unfillable: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        slots.append(name)
        if name not in SLOTS:
            unknown.append(name)
            return match.group(0)
        if name not in values:
            unfillable.append(name)
            return match.group(0)
        return values[name]

    filled = TAG.sub(fill, text)
    stray = bool(re.search(r"[{}]", TAG.sub("", filled)))
    return Rendered(filled, tuple(slots), tuple(unknown), tuple(unfillable), stray)
