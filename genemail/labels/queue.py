"""Which customer to label next: cover every segment, then the borderline customers, with some overlap.

Labels are worth most where they test the model: a segment with few labels says little about its
accuracy, and a customer the model is sure about says less than one on a boundary. So the next
customer for a labeler is, among the customers they have not labelled:

1. every :data:`OVERLAP_EVERY`-th label, one that someone else already labelled (so agreement between
   labelers can be measured), the most-labelled-by-others first;
2. otherwise, one from the segment (as the model predicts it) with the fewest labels so far, and within
   it the one with the smallest margin between the model's two most likely segments (borderline).

Everything is deterministic given the labels so far (ties go to the table's order).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from genemail.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

OVERLAP_EVERY = 5  # one label in five goes to a customer someone else labelled


def candidate_scores(segmenter: object, customers: pd.DataFrame) -> pd.DataFrame:
    """Per customer: the model's L2 segment and its margin (top probability minus the second)."""
    import numpy as np
    import pandas as pd

    scored = segmenter.segment(customers.reset_index(drop=True), probabilities=True)
    proba_cols = [c for c in scored.columns if c.startswith("p_")]
    if len(proba_cols) >= 2:
        top2 = np.sort(scored[proba_cols].to_numpy(dtype=float), axis=1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
    else:  # a model without per-segment probabilities: every customer is equally borderline
        margin = np.zeros(len(scored))
    return pd.DataFrame({"customer_id": scored["customer_id"].astype(str).to_numpy(),
                         "segment": scored["l2"].astype(str).to_numpy(), "margin": margin})


def next_customer(scores: pd.DataFrame, labels: pd.DataFrame, rater: str) -> str:
    """The next customer ``rater`` should label (see the module docstring); :class:`DataError` when done."""
    mine = set(labels.loc[labels["rater"] == rater, "customer_id"].astype(str)) if len(labels) else set()
    todo = scores[~scores["customer_id"].isin(mine)]
    if todo.empty:
        raise DataError(f"{rater} has labelled every customer of the table", where="Label tab",
                        fix="load a larger customer table (GENEMAIL_CUSTOMERS) to label more")
    by_others = labels[labels["rater"] != rater]["customer_id"].astype(str).value_counts() if len(labels) else None
    if by_others is not None and len(mine) % OVERLAP_EVERY == OVERLAP_EVERY - 1:
        shared = todo[todo["customer_id"].isin(by_others.index)]
        if not shared.empty:
            counts = shared["customer_id"].map(by_others)
            return str(shared.loc[counts.idxmax(), "customer_id"])
    labelled = labels["customer_id"].astype(str) if len(labels) else []
    per_segment = scores[scores["customer_id"].isin(set(labelled))]["segment"].value_counts()
    coverage = todo["segment"].map(per_segment).fillna(0)
    order = todo.assign(coverage=coverage).sort_values(["coverage", "margin"], kind="stable")
    return str(order.iloc[0]["customer_id"])
