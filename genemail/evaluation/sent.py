"""What a campaign actually sent, read back: facts, merge tags, variety and the gate's verdicts.

:func:`check_sent` reads a campaign's rows (``genemail campaign``'s JSONL) beside the customers they
were written for and counts, for the segmented and the baseline emails: emails that state a false fact
(:mod:`genemail.generation.claims`), emails that still carry a merge tag or a brace, distinct emails,
rows without a verdict, first-attempt passes and template fallbacks, and the share of emails that state
two or more true facts among customers who have two or more. Every rate has its 95% Wilson interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from genemail.generation.claims import check_facts
from genemail.generation.prompts import CustomerProfile
from genemail.generation.slots import available_slots
from genemail.generation.strategies import StrategyBook

VARIANTS: dict[str, tuple[str, str]] = {"segmented": ("email", "qa_status"),
                                        "baseline": ("baseline_email", "baseline_qa_status")}


def _rate(k: int, n: int) -> dict[str, Any]:
    from statsmodels.stats.proportion import proportion_confint

    if n == 0:
        return {"k": 0, "n": 0, "rate": None, "ci": [None, None]}
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    return {"k": k, "n": n, "rate": round(k / n, 4), "ci": [round(float(low), 4), round(float(high), 4)]}


def check_sent(rows: Sequence[Mapping[str, Any]], profiles: Mapping[str, CustomerProfile], book: StrategyBook,
               lang: str = "zh") -> dict[str, Any]:
    """Counts and rates per variant over the rows that carry that variant's email (see the module doc)."""
    wording = book.wording(lang)
    out: dict[str, Any] = {"rows": len(rows)}
    for variant, (field, status) in VARIANTS.items():
        sent = [(r, profiles[str(r["customer_id"])]) for r in rows if r.get(field)]
        if not sent:
            continue
        checks = [check_facts(r[field], p, lang, wording) for r, p in sent]
        rich = [(c, p) for c, (_, p) in zip(checks, sent) if len(available_slots(p)) >= 2]
        statuses = [r.get(status) for r, _ in sent]
        out[variant] = {
            "emails": len(sent),
            "distinct": len({r[field] for r, _ in sent}),
            "false_fact": _rate(sum(not c.consistent for c in checks), len(sent)),
            "merge_tag_or_brace_left": _rate(sum("{" in r[field] or "}" in r[field] for r, _ in sent), len(sent)),
            "no_verdict": _rate(sum(s is None for s in statuses), len(sent)),
            "fallback": _rate(sum(s == "fallback" for s in statuses), len(sent)),
            "first_attempt": _rate(sum(r.get(status.replace("status", "attempts")) == 1 and s == "passed"
                                       for (r, _), s in zip(sent, statuses)), len(sent)),
            "two_true_facts": _rate(sum(c.consistent and len({cl.kind for cl in c.claims} - {"kid_age"}) >= 2
                                        for c, _ in rich), len(rich)),
        }
    return out
