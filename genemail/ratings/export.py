"""Export new ratings to a Hub dataset repo every few minutes (``huggingface_hub.CommitScheduler``).

SQLite stays the source of truth; the Hub gets an append-only copy. :class:`RatingsCommitScheduler`
is the pattern from huggingface_hub's "scheduled uploads" guide: rows are appended to a JSONL file
in a watched folder *under the scheduler's lock*, and the scheduler commits changed files every
``every`` minutes. Before each push it copies the ratings the folder does not hold yet from the
store, so the app only has to start it once (:func:`start_export_from_settings`).

Each process writes its own ``ratings-<uuid>.jsonl`` (a file is never rewritten, only appended),
so restarts and replicas never overwrite each other's files. Readers should de-duplicate on
``submission_id``, which is unique across every file.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huggingface_hub import CommitInfo, CommitScheduler, HfApi

# huggingface_hub's HTTP errors (HfHubHTTPError) and its transport's connection errors share this
# base class (httpx2's HTTPError, which huggingface_hub.errors imports); catching it avoids
# depending on the transport package by name.
from huggingface_hub.errors import HFValidationError
from huggingface_hub.errors import HTTPError as HubHTTPError

from genemail.errors import ConfigError, HubError
from genemail.ratings.store import RatingsStore

if TYPE_CHECKING:
    from genemail.settings import Settings

logger = logging.getLogger(__name__)
DEFAULT_EVERY_MINUTES = 5.0
DEFAULT_PATH_IN_REPO = "data"
FILE_GLOB = "ratings-*.jsonl"


def exported_up_to(folder: Path) -> int:
    """Highest ``rating_id`` already written to any JSONL file in ``folder`` (0 if none).

    The folder itself is the export cursor: whatever is in it is pushed (now or at the next
    tick), so no separate state can drift from what was really written.
    """
    highest = 0
    for path in sorted(Path(folder).glob(FILE_GLOB)):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    highest = max(highest, int(json.loads(line)["rating_id"]))
    return highest


class RatingsCommitScheduler(CommitScheduler):
    """A ``CommitScheduler`` that, before each push, appends the store's new ratings to its JSONL file.

    One per store: two schedulers on one store and one folder would each export every row.
    """

    def __init__(self, *, store: RatingsStore, folder_path: Path, **kwargs: Any) -> None:
        self.store = store
        folder = Path(folder_path)
        folder.mkdir(parents=True, exist_ok=True)
        # Set before super().__init__: its thread starts at once and calls push_to_hub().
        self.cursor = exported_up_to(folder)
        self.jsonl_path = folder / f"ratings-{uuid.uuid4().hex}.jsonl"
        super().__init__(folder_path=folder, **kwargs)

    def flush(self) -> int:
        """Append ratings newer than the cursor to this process's JSONL file; return how many."""
        with self.lock:  # the guide's rule: append only under the lock the push lists files under
            if self.store.max_rating_id() < self.cursor:
                # The database was replaced (e.g. a fresh disk) but the folder kept: start over;
                # readers de-duplicate on submission_id.
                logger.warning("ratings store restarted below exported id %d; re-exporting it", self.cursor)
                self.cursor = 0
            rows = self.store.iter_since(self.cursor)
            first = next(rows, None)
            if first is None:
                return 0  # no empty file is ever created, so none is pushed
            written = 0
            with self.jsonl_path.open("a", encoding="utf-8") as handle:
                for row in itertools.chain([first], rows):
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                    self.cursor = int(row["rating_id"])
                    written += 1
                handle.flush()
                os.fsync(handle.fileno())  # on disk before the push reads its size
            return written

    def push_to_hub(self) -> CommitInfo | None:
        """Flush new ratings, then let the parent commit every changed file."""
        self.flush()
        return super().push_to_hub()


def start_export(
    store: RatingsStore,
    repo_id: str,
    folder: Path,
    *,
    token: str | None = None,
    every: float = DEFAULT_EVERY_MINUTES,
    path_in_repo: str = DEFAULT_PATH_IN_REPO,
    private: bool | None = None,
    hf_api: HfApi | None = None,
) -> RatingsCommitScheduler:
    """Create the dataset repo if needed and push new ratings every ``every`` minutes.

    Returns the running scheduler: ``scheduler.trigger().result()`` pushes now, ``scheduler.flush()``
    only writes the local JSONL, ``scheduler.stop()`` ends it (a last push also runs at exit).
    """
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise ConfigError(f"repo_id={repo_id!r} is invalid", where="ratings export",
                          fix="pass repo_id as 'namespace/name' (GENEMAIL_RATINGS_REPO)")
    if isinstance(every, bool) or not isinstance(every, (int, float)) or every <= 0:
        raise ConfigError(f"every={every!r} is invalid", where="ratings export",
                          fix="pass every as a positive number of minutes")
    folder = Path(folder)
    if folder.is_file():
        raise ConfigError(f"folder={str(folder)!r} is a file", where="ratings export",
                          fix="pass a folder for the JSONL files (it is created if missing)")
    try:
        return RatingsCommitScheduler(
            store=store, folder_path=folder, repo_id=repo_id, repo_type="dataset", every=every,
            path_in_repo=path_in_repo, private=private, token=token, allow_patterns=[FILE_GLOB], hf_api=hf_api,
        )
    except (HubHTTPError, OSError, HFValidationError) as exc:
        raise HubError(f"cannot start the ratings export ({exc})", where=f"dataset repo {repo_id}",
                       fix="check HF_ENDPOINT, HF_TOKEN (write access) and GENEMAIL_RATINGS_REPO") from exc


def start_export_from_settings(store: RatingsStore, folder: Path, settings: "Settings | None" = None,
                               *, every: float = DEFAULT_EVERY_MINUTES) -> RatingsCommitScheduler | None:
    """Start the export when ``GENEMAIL_RATINGS_REPO`` is set; ``None`` (ratings stay local) otherwise."""
    from genemail.settings import Settings

    settings = settings or Settings.from_env()
    if not settings.ratings_repo:
        logger.info("GENEMAIL_RATINGS_REPO unset: ratings are kept only in %s", store.path)
        return None
    return start_export(store, settings.ratings_repo, folder, token=settings.hf_token, every=every)
