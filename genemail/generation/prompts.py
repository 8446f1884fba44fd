"""Customer profile -> prompt (the PRD's ``user_profile_to_prompt``, generalized) and fact phrases.

Prompts are short on purpose: the embedded base model is tiny and trained from scratch, so a
compact, fixed layout with digits for numbers is far easier to learn than prose. The same fixed
surface forms appear in the prompt ("45天未光临") and in the reference emails ("距离您上次光临已有
45天"), which both helps the model copy facts and lets the evaluation check them by regex
(see :mod:`genemail.evaluation.metrics`).

The baseline prompt carries the same profile with no segment information at all.

Free text never reaches a prompt: a :class:`CustomerProfile` holds numbers, values of fixed
vocabularies (kid age band, marital status, favourite category) and a customer ID of the documented
character set (``genemail.data.schema.CUSTOMER_ID_RULE``), and refuses anything else. The data layer
already folds every text cell of a file, the app's form or a campaign upload onto those values; the
check here is the second line of defence for profiles built by hand.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from genemail.data.schema import (
    CUSTOMER_ID_PATTERN, CUSTOMER_ID_RULE, KID_AGE_BANDS, MARITAL_STATUSES, SPEND_CATEGORIES,
)
from genemail.errors import ConfigError, DataError
from genemail.generation.slots import (
    CATEGORY_NAMES, INCOME_TIER_NAMES, KID_BAND_NAMES, PLACEHOLDER_OF, FactWording, fact_values, tags_line,
)
from genemail.generation.strategies import (
    FACT_PLACEHOLDERS,
    PROFILE_PLACEHOLDERS,
    STRATEGY_PLACEHOLDERS,
    Strategy,
    default_wording,
)
from genemail.taxonomy import LANGS

# Yearly household income bands (the Kaggle table's quartiles are about 35k and 68k).
INCOME_BANDS: tuple[tuple[str, float], ...] = (("low", 35_000.0), ("mid", 70_000.0), ("high", math.inf))
DAYS_PER_YEAR = 365

_INCOME_PROMPT = {"zh": {"high": "高", "mid": "中", "low": "低"}, "en": {"high": "high", "mid": "mid", "low": "low"}}
_MARITAL_NAMES = {
    "zh": {"Single": "单身", "Together": "有伴侣", "Married": "已婚", "Divorced": "离异", "Widow": "丧偶"},
    "en": {"Single": "single", "Together": "partnered", "Married": "married", "Divorced": "divorced", "Widow": "widowed"},
}
_EMAIL_CUE = {"zh": "邮件：", "en": "Email:"}
_ID = re.compile(CUSTOMER_ID_PATTERN)


@dataclass(frozen=True)
class CustomerProfile:
    """What a prompt and an email may say about one customer. ``None`` means unknown."""

    customer_id: str
    age: int | None = None
    children: int | None = None
    kid_age: str | None = None
    marital_status: str | None = None
    family_size: int | None = None
    income: float | None = None
    recency: int | None = None
    favourite_category: str | None = None
    tenure_days: int | None = None

    def __post_init__(self) -> None:
        if not str(self.customer_id).strip():
            raise DataError("empty customer_id", where="customer_id", fix="give every customer an ID")
        if not isinstance(self.customer_id, str) or not _ID.fullmatch(self.customer_id):
            from genemail.data.text import show

            raise DataError(f"customer_id {show(str(self.customer_id))} is not a valid ID", where="customer_id",
                            fix=f"use IDs of {CUSTOMER_ID_RULE} (load customers with genemail.data.load_customers)")
        where = f"customer {self.customer_id!r}"
        for name in ("age", "children", "family_size", "income", "recency", "tenure_days"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise DataError(f"{name}={value!r} is negative", where=f"{where}, field {name}", fix="clean the input data")
        choices = {"kid_age": KID_AGE_BANDS, "marital_status": MARITAL_STATUSES, "favourite_category": SPEND_CATEGORIES}
        for name, allowed in choices.items():
            value = getattr(self, name)
            if value is not None and value not in allowed:
                from genemail.data.text import show

                raise DataError(f"{name}={show(value)} is unknown", where=f"{where}, field {name}",
                                fix=f"use one of {allowed}")

    @property
    def income_band(self) -> str | None:
        """``low`` / ``mid`` / ``high`` (see :data:`INCOME_BANDS`), or ``None`` when unknown."""
        return income_band(self.income)

    @property
    def tenure_years(self) -> int | None:
        """Whole years since joining, or ``None`` when unknown."""
        return None if self.tenure_days is None else self.tenure_days // DAYS_PER_YEAR

    def to_record(self) -> dict[str, Any]:
        """A JSON-safe dict (the corpus stores it so evaluation can rebuild the profile)."""
        return asdict(self)


def income_band(income: float | None) -> str | None:
    """The band name of a yearly income."""
    if income is None:
        return None
    return next(name for name, upper in INCOME_BANDS if income < upper)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _as_int(value: Any) -> int | None:
    return None if _missing(value) else int(round(float(value)))


def _as_text(value: Any) -> str | None:
    return None if _missing(value) or str(value) in ("", "Unknown", "none") else str(value)


def profile_from_row(row: Mapping[str, Any]) -> CustomerProfile:
    """Build a profile from an internal-schema row (pandas NaN / <NA> become ``None``)."""
    if _missing(row.get("customer_id")):
        raise DataError("row has no customer_id", where="customer_id", fix="load customers with genemail.data.load_customers")
    income = row.get("income")
    return CustomerProfile(
        customer_id=str(row["customer_id"]),
        age=_as_int(row.get("age")),
        children=_as_int(row.get("children")),
        kid_age=_as_text(row.get("kid_age")),
        marital_status=_as_text(row.get("marital_status")),
        family_size=_as_int(row.get("family_size")),
        income=None if _missing(income) else float(income),
        recency=_as_int(row.get("recency")),
        favourite_category=_as_text(row.get("favourite_category")),
        tenure_days=_as_int(row.get("tenure_days")),
    )


def _check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise ConfigError(f"lang={lang!r} is invalid", fix=f"pass lang as one of {list(LANGS)}")


def _children_text(profile: CustomerProfile, lang: str) -> str | None:
    """'2个孩子（青少年）' / '2 kids (teens)'; the band is left out when unknown."""
    n = profile.children
    if n is None:
        return None
    if n == 0:
        return "无孩子" if lang == "zh" else "no kids"
    band = KID_BAND_NAMES[lang].get(profile.kid_age or "")
    if lang == "zh":
        return f"{n}个孩子" + (f"（{band}）" if band else "")
    return f"{n} kid{'s' if n != 1 else ''}" + (f" ({band})" if band else "")


def profile_fields(profile: CustomerProfile, lang: str = "zh") -> dict[str, str]:
    """Each profile placeholder as prompt text; unknown values render as an empty string."""
    _check_lang(lang)
    zh = lang == "zh"
    band = profile.income_band
    fields = {
        "customer_id": profile.customer_id,
        "age": "" if profile.age is None else (f"{profile.age}岁" if zh else f"{profile.age} y"),
        "children": _children_text(profile, lang) or "",
        "kid_age": KID_BAND_NAMES[lang].get(profile.kid_age or "", ""),
        "marital_status": _MARITAL_NAMES[lang].get(profile.marital_status or "", ""),
        "family_size": "" if profile.family_size is None else (
            f"{profile.family_size}口之家" if zh else f"family of {profile.family_size}"),
        "income_band": "" if band is None else (f"收入{_INCOME_PROMPT[lang][band]}" if zh else f"income {band}"),
        "recency": "" if profile.recency is None else (
            f"{profile.recency}天未光临" if zh else f"{profile.recency} days since last visit"),
        "favourite_category": "" if profile.favourite_category is None else (
            ("偏爱" if zh else "likes ") + CATEGORY_NAMES[lang][profile.favourite_category]),
        "tenure_years": "" if profile.tenure_years is None else (
            f"会员{profile.tenure_years}年" if zh else f"member {profile.tenure_years} y"),
    }
    order = ("age", "marital_status", "children", "family_size", "income_band", "recency",
             "favourite_category", "tenure_years")
    parts = [fields[name] for name in order if fields[name]]
    fields["profile"] = (("客户：" + "，".join(parts)) if zh else ("Customer: " + ", ".join(parts))) + (
        "\n" + tags_line(profile, lang))
    assert set(fields) == PROFILE_PLACEHOLDERS  # the strategies validator relies on this set
    return fields


def fact_phrases(profile: CustomerProfile, lang: str = "zh", wording: FactWording | None = None) -> dict[str, str]:
    """Each fact this customer has, as the strategies' body placeholder (``recency_fact``) -> its text.

    ``wording`` defaults to the packaged strategies file's; a fact the profile lacks is absent.
    """
    _check_lang(lang)
    values = fact_values(profile, lang, wording or default_wording(lang))
    facts = {PLACEHOLDER_OF[slot]: text for slot, text in values.items()}
    assert set(facts) <= FACT_PLACEHOLDERS
    return facts


def build_prompt(profile: CustomerProfile, strategy: Strategy, lang: str = "zh") -> str:
    """The segmented prompt: segment tag + strategy (display name, tone, focus) + profile."""
    _check_lang(lang)
    text = strategy.text(lang)
    values = {name: getattr(text, name) for name in STRATEGY_PLACEHOLDERS - {"segment"}}
    values["segment"] = strategy.segment
    values.update(profile_fields(profile, lang))
    return text.prompt_template.format(**values)


def build_baseline_prompt(profile: CustomerProfile, lang: str = "zh") -> str:
    """The baseline prompt: the same profile, no segment, strategy or tone information."""
    _check_lang(lang)
    return f"{profile_fields(profile, lang)['profile']}\n{_EMAIL_CUE[lang]}"
