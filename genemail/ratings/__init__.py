"""Human ratings: the Rate tab's store, its statistics and the Hub export.

``store`` and ``stats`` load with the package; ``export`` (which imports huggingface_hub) loads on
first use of one of its names, so importing ``genemail.ratings`` stays fast.
"""

from __future__ import annotations

from typing import Any

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

_EXPORT_NAMES = ("RatingsCommitScheduler", "exported_up_to", "start_export", "start_export_from_settings")

__all__ = [
    "ALL", "CHOICES", "COLUMNS", "RATED_SEGMENTS", "VARIANTS",
    "Agreement", "Rating", "RatingsStore",
    "agreement", "new_submission_id", "outcomes", "score_matrix", "sign_test_pvalue", "style_match_rates",
    "summary", "summary_table", "utc_now_iso", "wilson_interval", "win_rates",
    *_EXPORT_NAMES,
]


def __getattr__(name: str) -> Any:
    if name in _EXPORT_NAMES:
        from genemail.ratings import export

        return getattr(export, name)
    raise AttributeError(f"module 'genemail.ratings' has no attribute {name!r}")
