"""The Label tab's workflow: the next customer to label, blind, and the stored answer.

:class:`LabelWorkflow` owns the labels store. The model's scores used to choose customers are cached
per release commit (a release switch starts a new cache). The task a labeler sees carries the
customer's profile only; the model's answer travels with it on the server, for the evaluation.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import DataError
from genemail.labels.store import Label, LabelsStore, new_submission_id

if TYPE_CHECKING:
    import pandas as pd

# What a labeler sees of a customer (the internal schema's descriptive columns; never a segment).
PROFILE_COLUMNS: tuple[str, ...] = (
    "customer_id", "age", "gender", "education", "marital_status", "income", "children", "kid_age", "family_size",
    "recency", "tenure_days", "total_spend", "total_purchases", "purchase_frequency", "favourite_category",
    "web_visits_month", "accepted_campaigns",
)


@dataclass(frozen=True)
class LabelTask:
    """One customer shown for labelling; ``model_l1``/``model_l2`` stay on the server (session state)."""

    submission_id: str
    customer_id: str
    profile: dict[str, Any]
    model_l1: str
    model_l2: str
    release: dict[str, str]


class LabelWorkflow:
    """Tasks to label, the labels store (SQLite, WAL) and a summary of what is stored."""

    def __init__(self, db_path: Path) -> None:
        self.store = LabelsStore(db_path)
        self._scores: dict[str, pd.DataFrame] = {}
        self._lock = threading.Lock()

    def next_task(self, rater: str, customers: pd.DataFrame, segmenter: Any, release: dict[str, str] | None,
                  customer_id: str | None = None) -> LabelTask:
        """The next customer for ``rater`` (``genemail.labels.queue``), or ``customer_id`` when given."""
        from genemail.labels.queue import candidate_scores, next_customer

        if not str(rater or "").strip():
            raise DataError("no labeler name", where="Label tab", fix="type your name (or sign in) first")
        key = (release or {}).get("sha") or str(id(segmenter))
        with self._lock:
            scores = self._scores.get(key)
        if scores is None:
            scores = candidate_scores(segmenter, customers)
            with self._lock:
                self._scores[key] = scores
        chosen = str(customer_id).strip() if customer_id else next_customer(scores, self.store.all(), rater.strip())
        row = customers[customers["customer_id"].astype(str) == chosen]
        if row.empty:
            raise DataError(f"unknown customer ID {chosen!r}", where="customer table",
                            fix="leave the ID empty to get the next customer to label")
        predicted = segmenter.segment(row.reset_index(drop=True))
        profile = {c: _plain(row.iloc[0][c]) for c in PROFILE_COLUMNS if c in row.columns}
        return LabelTask(new_submission_id(), chosen, profile, str(predicted["l1"].iloc[0]),
                         str(predicted["l2"].iloc[0]), dict(release or {}))

    def submit(self, task: LabelTask, *, rater: str, l1: str, l2: str, note: str = "") -> int:
        """Store the labeler's answer for ``task``; return its ``label_id`` (idempotent on the task)."""
        if not isinstance(task, LabelTask):
            raise DataError("there is no customer to label", where="Label tab",
                            fix="press 'Next customer' first, then pick the tier and the segment")
        release = task.release
        return self.store.add(Label(
            submission_id=task.submission_id, rater=str(rater or "").strip(), customer_id=task.customer_id,
            l1=l1, l2=l2, note=note or "", model_l1=task.model_l1, model_l2=task.model_l2,
            release_repo=release.get("repo_id"), release_revision=release.get("revision"),
            release_sha=release.get("sha")))

    def summary(self) -> dict[str, Any]:
        """Counts per labeled segment and labeler, and agreement between labelers."""
        from genemail.labels.evaluate import agreement

        labels = self.store.all()
        if labels.empty:
            return {"n_labels": 0, "n_raters": 0, "n_customers": 0, "per_segment": {}, "agreement": None}
        return {"n_labels": int(len(labels)), "n_raters": int(labels["rater"].nunique()),
                "n_customers": int(labels["customer_id"].nunique()),
                "per_segment": {str(k): int(v) for k, v in labels["l2"].value_counts().items()},
                "agreement": agreement(labels)}


def _plain(value: Any) -> Any:
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value
