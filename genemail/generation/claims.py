"""Reading the facts an email states back out of its text, and checking them against the customer.

Two readers, so that a fact written from memory is caught however it is phrased:

* the **wording** forms of the strategies file (``facts:``; "距离您上次光临已有45天", "your 2 kids
  (teens)"), turned into regular expressions, so a changed wording is read back the same way;
* **loose** forms: any number followed by the unit of a fact ("34天", "3 years", "2个孩子") and any
  favourite-category phrase ("喜爱的葡萄酒"), wherever they stand.

Every claim must agree with the profile; a claim about a fact the profile does not have is a mismatch.
An email that claims nothing is consistent. Used by the quality gate on every email before it is sent
and by the evaluation on what was sent.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from genemail.generation.slots import CATEGORY_NAMES, INCOME_TIER_NAMES, KID_BAND_NAMES

if TYPE_CHECKING:
    from genemail.generation.prompts import CustomerProfile
    from genemail.generation.slots import FactWording


@dataclass(frozen=True)
class Claim:
    """One fact an email states: ``kind`` (recency, children, kid_age, category, income, tenure)."""

    kind: str
    value: Any
    text: str


@dataclass(frozen=True)
class FactCheck:
    """The claims of one email and those that disagree with the customer's profile."""

    consistent: bool
    claims: list[Claim] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)


def _alternation(names: dict[str, str]) -> str:
    # Longest first, so "幼童和青少年" wins over "幼童".
    return "|".join(re.escape(n) for n in sorted(names.values(), key=len, reverse=True))


_FIELD_PATTERN = {"days": r"(?P<n>\d+)", "count": r"(?P<n>\d+)", "years": r"(?P<n>\d+)",
                  "days_s": "s?", "count_s": "s?", "years_s": "s?"}


def _wording_regex(template: str, lang: str) -> re.Pattern[str]:
    names = {"ages": ("ages", KID_BAND_NAMES), "category": ("cat", CATEGORY_NAMES), "tier": ("tier", INCOME_TIER_NAMES)}
    parts = []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name in names:
            group, table = names[name]
            parts.append(f"(?P<{group}>{_alternation(table[lang])})")
        elif name is not None:
            parts.append(_FIELD_PATTERN[name])
    return re.compile("".join(parts), re.IGNORECASE)


@lru_cache(maxsize=32)
def _readers(wording: "FactWording", lang: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    cats = _alternation(CATEGORY_NAMES[lang])
    loose = {
        "zh": (("recency", r"(?<!\d)(?P<n>\d+)\s*天"), ("children", r"(?<!\d)(?P<n>\d+)\s*(?:个|位|名)?(?:孩子|小孩|宝宝)"),
               ("tenure", r"(?<!\d)(?P<n>\d{1,2})\s*年"), ("category", rf"(?:喜爱|喜欢|最爱|偏爱)的?(?P<cat>{cats})")),
        "en": (("recency", r"\b(?P<n>\d+)\s+days?\b"), ("children", r"\b(?P<n>\d+)\s+(?:kids?|children|child)\b"),
               ("tenure", r"\b(?P<n>\d{1,2})\s+years?\b"), ("category", rf"\bfavou?rite\s+(?P<cat>{cats})")),
    }[lang]
    forms = [("recency", wording.recency), ("children", wording.children), ("children", wording.children_no_ages),
             ("category", wording.category), ("income", wording.income), ("tenure", wording.tenure)]
    exact = tuple((kind, _wording_regex(text, lang)) for kind, text in forms)
    return exact + tuple((kind, re.compile(p, re.IGNORECASE)) for kind, p in loose)


def _reverse(table: dict[str, dict[str, str]], lang: str) -> dict[str, str]:
    return {name.lower(): key for key, name in table[lang].items()}


def extract_claims(email: str, lang: str, wording: "FactWording") -> list[Claim]:
    """Every fact ``email`` states, read with the wording forms first, then the loose forms.

    A span read once is not read again, so "距离您上次光临已有45天" is one recency claim, not two.
    """
    taken: list[tuple[int, int]] = []
    claims: list[Claim] = []
    bands, cats, tiers = (_reverse(t, lang) for t in (KID_BAND_NAMES, CATEGORY_NAMES, INCOME_TIER_NAMES))
    for kind, pattern in _readers(wording, lang):
        for match in pattern.finditer(email):
            if any(a < match.end() and match.start() < b for a, b in taken):
                continue
            taken.append(match.span())
            groups, text = match.groupdict(), match.group(0)
            if kind == "category":
                claims.append(Claim(kind, cats[groups["cat"].lower()], text))
            elif kind == "income":
                claims.append(Claim(kind, tiers[groups["tier"].lower()], text))
            else:
                claims.append(Claim(kind, int(groups["n"]), text))
                if kind == "children" and groups.get("ages"):
                    claims.append(Claim("kid_age", bands[groups["ages"].lower()], text))
    return claims


def unrender(email: str, lang: str, wording: "FactWording") -> str:
    """``email`` with every fact stated in the wording's forms put back as its merge tag (slot form).

    What a sent email looks like to the model that wrote it: preference pairs are built from sent
    emails and must teach tags, never literal facts. Facts in other forms are left as they are.
    """
    from genemail.generation.slots import tag

    spans: list[tuple[int, int, str]] = []
    for kind, pattern in _readers(wording, lang)[:6]:  # the wording's own forms only
        for match in pattern.finditer(email):
            if not any(a < match.end() and match.start() < b for a, b, _ in spans):
                spans.append((match.start(), match.end(), kind))
    out = email
    for start, end, kind in sorted(spans, reverse=True):
        out = out[:start] + tag(kind) + out[end:]
    return out


def truth(profile: "CustomerProfile", kind: str) -> Any:
    """The profile's value for a claim kind (None when unknown)."""
    return {
        "recency": profile.recency, "children": profile.children, "kid_age": profile.kid_age,
        "category": profile.favourite_category, "income": profile.income_band, "tenure": profile.tenure_years,
    }[kind]


def check_facts(email: str, profile: "CustomerProfile", lang: str, wording: "FactWording") -> FactCheck:
    """Do the email's claims agree with the profile? A claim about an unknown field is a mismatch."""
    claims = extract_claims(email, lang, wording)
    mismatches = [f"{c.kind}: the email says {c.value!r} ({c.text}), the customer has {truth(profile, c.kind)!r}"
                  for c in claims if c.value != truth(profile, c.kind)]
    return FactCheck(consistent=not mismatches, claims=claims, mismatches=mismatches)
