"""What the sent emails' content means under a known truth: phrase shares and expected click rates.

The simulator's content effects (``content:`` in a truth file) are the ground truth a preference-tuned
adapter should discover. These functions read a send log the way the simulator does (substring
match in each customer's own email) and say, per segment and arm:

* how often each truth phrase occurs (the *mechanism*: did tuning make the adapter write the
  phrases that draw clicks, and drop the ones that cost them?), and
* the expected click rate, the mean of each customer's true click probability (no sampling noise:
  the lift tuning would earn on average, beside the measured one with its interval).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from genemail.experiments.assignment import HOLDOUT

if TYPE_CHECKING:
    import pandas as pd

    from genemail.experiments.simulate import Truth


def _sends(send_log: "pd.DataFrame") -> "pd.DataFrame":
    frame = send_log.rename(columns={"l2": "segment"}) if "segment" not in send_log.columns else send_log
    return frame[frame["arm"] != HOLDOUT]


def phrase_shares(send_log: "pd.DataFrame", truth: "Truth") -> "pd.DataFrame":
    """Per segment, arm and truth phrase: emails, emails containing the phrase, share, effect."""
    import pandas as pd

    rows = []
    for (segment, arm), part in _sends(send_log).groupby(["segment", "arm"], sort=True):
        spec = truth.for_segment(str(segment))
        if spec is None:
            continue
        emails = part["email"].fillna("").astype(str)
        for phrase, delta in spec.content.items():
            hits = int(emails.str.contains(phrase, regex=False).sum())
            rows.append({"segment": segment, "arm": arm, "phrase": phrase, "effect": delta, "emails": len(emails),
                         "with_phrase": hits, "share": hits / len(emails) if len(emails) else float("nan")})
    return pd.DataFrame(rows, columns=["segment", "arm", "phrase", "effect", "emails", "with_phrase", "share"])


def expected_rates(send_log: "pd.DataFrame", truth: "Truth") -> "pd.DataFrame":
    """Per segment and arm: recipients and the mean true click probability of their emails."""
    import pandas as pd

    rows = []
    for (segment, arm), part in _sends(send_log).groupby(["segment", "arm"], sort=True):
        spec = truth.for_segment(str(segment))
        if spec is None:
            continue
        base, top = spec.click.get(str(arm), 0.0), 1.0 - spec.bounce
        probs = [min(max(base + sum(d for p, d in spec.content.items() if p in (email or "")), 0.0), top)
                 for email in part["email"].fillna("").astype(str)]
        rows.append({"segment": segment, "arm": arm, "n": len(probs),
                     "expected_rate": sum(probs) / len(probs) if probs else float("nan")})
    return pd.DataFrame(rows, columns=["segment", "arm", "n", "expected_rate"])


def expected_lift(rates: "pd.DataFrame", treatment: str, control: str) -> dict[str, float]:
    """``expected_rate[treatment] - expected_rate[control]`` per segment (from :func:`expected_rates`)."""
    table = rates.pivot(index="segment", columns="arm", values="expected_rate")
    if treatment not in table.columns or control not in table.columns:
        return {}
    return {str(k): float(v) for k, v in (table[treatment] - table[control]).dropna().items()}


def shares_by_arm(shares: "pd.DataFrame") -> dict[str, dict[str, Mapping[str, Any]]]:
    """``{segment: {phrase: {arm: share, ..., "effect": delta}}}`` for printing."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for row in shares.to_dict("records"):
        entry = out.setdefault(str(row["segment"]), {}).setdefault(str(row["phrase"]), {"effect": row["effect"]})
        entry[str(row["arm"])] = row["share"]
    return out
