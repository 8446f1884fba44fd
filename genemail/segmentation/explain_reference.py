"""The straightforward, one-row-at-a-time explanations: the reference the vectorized ones are tested against.

:mod:`genemail.segmentation.explain` builds the same reasons for a whole table with array operations
(a million customers in about a second instead of a minute). This module keeps the plain version,
one Python dict per customer, because it reads like the business rules it implements; the tests
assert that both give the same strings on tables with every case (cold start, unknown income,
spend or children, time decay, borderline). Change the wording here and in ``explain`` together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from genemail import taxonomy
from genemail.segmentation.explain import CURRENCY, DECAY_NOTE_BELOW, LOW_CONFIDENCE, percentile

if TYPE_CHECKING:
    from genemail.segmentation.model import HierarchicalSegmenter


def _rank_words(pct: float) -> str:
    """``top 20% of customers`` / ``bottom 30% of customers`` / ``about average``."""
    if 40 <= pct <= 60:
        return "about average"
    if pct > 60:
        return f"top {max(1, round(100 - pct))}% of customers"
    return f"bottom {max(1, round(pct))}% of customers"


def _activity(l2: str, recency: float, rules) -> str:  # noqa: ANN001 - RuleConfig
    days = f"Last purchase {recency:.0f} days ago"
    if l2 == taxonomy.DORMANT:
        return f"{days} (> {rules.dormant_days:.0f}): lapsed"
    if l2 == taxonomy.NEED_REENGAGEMENT:
        return f"{days} (> {rules.reengage_days:.0f}, ≤ {rules.dormant_days:.0f}): cooling off, worth re-engaging"
    return f"{days} (≤ {rules.reengage_days:.0f}): active"


def _value_reasons(tier: str, row: dict[str, float]) -> list[tuple[float, str]]:
    """(distinctiveness, text) for each known value fact; the most extreme percentile ranks first."""
    facts = [
        ("spend_pct", "annual_spend", lambda v: f"spends {CURRENCY}{v:,.0f} a year"),
        ("income_pct", "income", lambda v: f"household income {CURRENCY}{v:,.0f}"),
        ("purchases_pct", "total_purchases", lambda v: f"{v:.0f} purchases"),
    ]
    out: list[tuple[float, str]] = []
    for pct_key, value_key, words in facts:
        pct, value = row[pct_key], row[value_key]
        if not np.isnan(pct):
            out.append((abs(pct - 50.0), f"{words(value)}, {_rank_words(pct)}"))
    out.sort(key=lambda item: -item[0])
    lead = f"{tier} value tier: "
    texts = [(score, (lead if i == 0 else "") + text) for i, (score, text) in enumerate(out)]
    texts = [(s, t[0].upper() + t[1:]) for s, t in texts]
    if np.isnan(row["income"]) and not np.isnan(row["annual_spend"]):
        texts.append((0.0, "Income unknown: tier estimated from spending"))
    if np.isnan(row["annual_spend"]) and not np.isnan(row["income"]):
        texts.append((0.0, "No spending history: tier estimated from income and family"))
    if np.isnan(row["annual_spend"]) and np.isnan(row["income"]):
        texts.append((0.0, "Income and spending unknown: tier is a rough estimate (the segment follows recency)"))
    return texts


def _family(l2: str, children: float) -> str | None:
    if l2 not in (taxonomy.PARENT_ACTIVE, taxonomy.REGULAR_ACTIVE):
        return None
    if np.isnan(children):
        return "Children at home unknown: treated as none"
    if children > 0:
        noun = "child" if children == 1 else "children"
        return f"{children:.0f} {noun} at home: parent"
    return "No children at home"


def _one(row: dict, rules, half_life: float, top_k: int) -> list[str]:  # noqa: ANN001
    if not pd.isna(row["cold_start_reason"]):
        return [f"Cold start ({row['cold_start_reason']}): default strategy until we know more"][:top_k]
    l2, tier = row["l2"], row["l1"]
    reasons = [_activity(l2, row["recency"], rules)]
    values = _value_reasons(tier, row)
    reasons += [text for _, text in values[:2]]
    family = _family(l2, row["children"])
    if family:
        reasons.append(family)
    reasons += [text for _, text in values[2:]]
    if row["activity_weight"] < DECAY_NOTE_BELOW and not np.isnan(row["annual_spend"]):
        reasons.append(
            f"Past spending counts {row['activity_weight']:.0%} after {row['recency']:.0f} quiet days "
            f"(half-life {half_life:.0f} days)"
        )
    if row["l2_proba"] < LOW_CONFIDENCE:
        reasons.append(f"Borderline: {row['l2_proba']:.0%} confident in {l2}")
    return reasons[:top_k]


def explain_rows_reference(
    model: "HierarchicalSegmenter", features: pd.DataFrame, segments: pd.DataFrame, top_k: int = 3
) -> list[list[str]]:
    """Top ``top_k`` reasons per row, one row at a time (the behaviour :func:`.explain.explain_rows` must match)."""
    if top_k < 1:
        from genemail.errors import config_error

        raise config_error("top_k", top_k, "a whole number >= 1, e.g. 3")
    table = pd.DataFrame(
        {
            "l1": segments["l1"].to_numpy(dtype=object),
            "l2": segments["l2"].to_numpy(dtype=object),
            "l2_proba": segments["l2_proba"].to_numpy(dtype="float64"),
            "cold_start_reason": segments["cold_start_reason"].to_numpy(dtype=object),
            "recency": features["recency"].to_numpy(dtype="float64"),
            "children": features["children"].to_numpy(dtype="float64"),
            "activity_weight": features["activity_weight"].to_numpy(dtype="float64"),
            "annual_spend": features["annual_spend"].to_numpy(dtype="float64"),
            "income": features["income"].to_numpy(dtype="float64"),
            "total_purchases": features["total_purchases"].to_numpy(dtype="float64"),
            "spend_pct": percentile(model, "annual_spend", features["annual_spend"]),
            "income_pct": percentile(model, "income", features["income"]),
            "purchases_pct": percentile(model, "total_purchases", features["total_purchases"]),
        }
    )
    rules, half_life = model.rule_config, float(model.half_life_days)
    return [_one(row, rules, half_life, top_k) for row in table.to_dict("records")]
