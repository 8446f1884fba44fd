"""Export new ratings to a Hub dataset repo every few minutes (the Hub layer's JSONL ``CommitScheduler``).

SQLite stays the source of truth; the Hub gets an append-only ``data/ratings-<uuid>.jsonl`` per
process (:mod:`genemail.hub.jsonl_export` explains the pattern). Readers de-duplicate on
``submission_id``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from genemail.hub.jsonl_export import (
    DEFAULT_EVERY_MINUTES,
    DEFAULT_PATH_IN_REPO,
    JsonlCommitScheduler,
    start_jsonl_export,
)
from genemail.hub.jsonl_export import exported_up_to as _exported_up_to
from genemail.ratings.store import RatingsStore

if TYPE_CHECKING:
    from huggingface_hub import HfApi

    from genemail.settings import Settings

logger = logging.getLogger(__name__)
PREFIX = "ratings"
RatingsCommitScheduler = JsonlCommitScheduler  # the ratings store's scheduler (one per store)


def exported_up_to(folder: Path) -> int:
    """Highest ``rating_id`` already written to any ``ratings-*.jsonl`` file in ``folder`` (0 if none)."""
    return _exported_up_to(folder, "rating_id", PREFIX)


def start_export(store: RatingsStore, repo_id: str, folder: Path, *, token: str | None = None,
                 every: float = DEFAULT_EVERY_MINUTES, path_in_repo: str = DEFAULT_PATH_IN_REPO,
                 private: bool | None = None, hf_api: HfApi | None = None) -> JsonlCommitScheduler:
    """Create the dataset repo if needed and push new ratings every ``every`` minutes."""
    return start_jsonl_export(rows_since=store.iter_since, max_id=store.max_rating_id, id_field="rating_id",
                              prefix=PREFIX, repo_id=repo_id, folder=folder, what="ratings export",
                              env_var="GENEMAIL_RATINGS_REPO", token=token, every=every,
                              path_in_repo=path_in_repo, private=private, hf_api=hf_api)


def start_export_from_settings(store: RatingsStore, folder: Path, settings: Settings | None = None,
                               *, every: float = DEFAULT_EVERY_MINUTES) -> JsonlCommitScheduler | None:
    """Start the export when ``GENEMAIL_RATINGS_REPO`` is set; ``None`` (ratings stay local) otherwise."""
    from genemail.settings import Settings

    settings = settings or Settings.from_env()
    if not settings.ratings_repo:
        logger.info("GENEMAIL_RATINGS_REPO unset: ratings are kept only in %s", store.path)
        return None
    return start_export(store, settings.ratings_repo, folder, token=settings.hf_token, every=every)
