"""Human ratings: the Rate tab's store and its statistics.

Their export to a Hub dataset is :mod:`genemail.exports.ratings`, at the edge.
"""

from __future__ import annotations

from genemail.ratings.stats import (
    ALL,
    Agreement,
    agreement,
    outcomes,
    score_matrix,
    sign_test_pvalue,
    style_match_rates,
    summary,
    summary_table,
    wilson_interval,
    win_rates,
)
from genemail.ratings.store import (
    CHOICES,
    COLUMNS,
    RATED_SEGMENTS,
    VARIANTS,
    Rating,
    RatingsStore,
    new_submission_id,
    utc_now_iso,
)

__all__ = [
    "ALL", "CHOICES", "COLUMNS", "RATED_SEGMENTS", "VARIANTS",
    "Agreement", "Rating", "RatingsStore",
    "agreement", "new_submission_id", "outcomes", "score_matrix", "sign_test_pvalue", "style_match_rates",
    "summary", "summary_table", "utc_now_iso", "wilson_interval", "win_rates",
]

