"""The Rate tab's workflow: blind pairs of emails, stored ratings, live statistics.

:class:`RatingWorkflow` owns the ratings store and a small cache of composed pairs. The cache lives
here, not on the loaded release: its key holds the release commit, so a release switch simply stops
hitting the old entries, and many raters of one customer share one generation (and rate the very
same texts, which the agreement statistics need).
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import DataError
from genemail.ratings.store import Rating, RatingsStore, new_submission_id

if TYPE_CHECKING:
    import pandas as pd

    from genemail.generation.compose import ComposeResult, StrategyCard

STATS_COLUMNS: tuple[str, ...] = ("segment", "metric", "variant", "n", "value", "ci_low", "ci_high", "p_value")


@dataclass(frozen=True)
class RatingPair:
    """A blind pair shown to a rater; the variants and shas stay on the server (in session state)."""

    submission_id: str
    customer_id: str
    segment: str
    strategy: StrategyCard
    left_variant: str
    right_variant: str
    left_email: str
    right_email: str
    release_repo: str
    release_revision: str
    release_sha: str
    adapter_sha: str
    baseline_adapter_sha: str


class RatingWorkflow:
    """Pairs to rate, the ratings store (SQLite, WAL) and its statistics."""

    def __init__(self, db_path: Path, cache_size: int = 256) -> None:
        self.store = RatingsStore(db_path)
        self._cache_size = cache_size
        self._pairs: OrderedDict[Hashable, ComposeResult] = OrderedDict()
        self._lock = threading.Lock()

    def pair(self, key: Hashable, compose: Callable[[], ComposeResult], *, baseline_adapter_sha: str = "") -> RatingPair:
        """A blind pair from the composed emails cached under ``key`` (``compose()`` on a miss).

        ``key`` must name everything the texts depend on: release commit, customer, decoding options.
        """
        with self._lock:
            result = self._pairs.get(key)
        if result is None:
            result = compose()
            with self._lock:
                self._pairs[key] = result
                while len(self._pairs) > self._cache_size:
                    self._pairs.popitem(last=False)
        return _blind_pair(result, baseline_adapter_sha)

    def rate(self, pair: RatingPair, *, rater: str, choice: str, score_a: int, score_b: int,
             comment: str = "") -> int:
        """Store one rating of ``pair`` (A = left, B = right); return its ``rating_id``.

        Idempotent: submitting the same pair again with the same answers returns the same id.
        """
        if not isinstance(pair, RatingPair):
            raise DataError("there is no pair to rate", where="Rate tab",
                            fix="press 'New pair' to load two emails, read them, then submit")
        scores = {pair.left_variant: _score("score_a", score_a), pair.right_variant: _score("score_b", score_b)}
        rating = Rating(
            submission_id=pair.submission_id, rater=rater, customer_id=pair.customer_id, segment=pair.segment,
            left_variant=pair.left_variant, right_variant=pair.right_variant, choice=choice,
            score_segmented=scores["segmented"], score_baseline=scores["baseline"],
            release_repo=pair.release_repo, release_revision=pair.release_revision, release_sha=pair.release_sha,
            adapter_sha=pair.adapter_sha, baseline_adapter_sha=pair.baseline_adapter_sha, comment=comment or "",
        )
        return self.store.add(rating)

    def stats(self) -> tuple[dict[str, Any], pd.DataFrame]:
        """The live statistics: ``(summary dict, tidy table)`` (an empty table before any rating)."""
        import pandas as pd

        from genemail.ratings.stats import summary, summary_table

        ratings = self.store.all()
        if ratings.empty:
            return {"n_ratings": 0, "n_raters": 0, "n_customers": 0}, pd.DataFrame(columns=list(STATS_COLUMNS))
        return summary(ratings), summary_table(ratings)


def _blind_pair(result: ComposeResult, baseline_adapter_sha: str) -> RatingPair:
    view = result.view
    segmented_left = secrets.randbelow(2) == 0  # recorded in the rating, so a position bias can be checked
    left, right = ("segmented", "baseline") if segmented_left else ("baseline", "segmented")
    texts = {"segmented": result.email, "baseline": result.baseline_email}
    release = result.release
    return RatingPair(
        new_submission_id(), view.customer_id, view.l2, view.strategy, left, right, texts[left], texts[right],
        release.get("repo_id", ""), release.get("revision", ""), release.get("sha", ""),
        view.strategy.adapter_sha or "", baseline_adapter_sha,
    )


def _score(name: str, value: object) -> int:
    """Scores arrive as floats from sliders; accept whole numbers only."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
        raise DataError(f"{name}={value!r} is not a whole number", where="Rate tab", fix="score each email from 1 to 5")
    return int(value)

