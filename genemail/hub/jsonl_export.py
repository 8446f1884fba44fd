"""Export a store's new rows to a Hub dataset repo every few minutes (``huggingface_hub.CommitScheduler``).

SQLite stays the source of truth; the Hub gets an append-only copy. :class:`JsonlCommitScheduler`
is the pattern from huggingface_hub's "scheduled uploads" guide: rows are appended to a JSONL file
in a watched folder *under the scheduler's lock*, and the scheduler commits changed files every
``every`` minutes. Before each push it copies the rows the folder does not hold yet from the store,
so an app only has to start it once.

Each process writes its own ``<prefix>-<uuid>.jsonl`` (a file is never rewritten, only appended),
so restarts and replicas never overwrite each other's files. Readers de-duplicate on the store's
``submission_id``, unique across every file. The ratings and the hand labels both export this way.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from huggingface_hub import CommitInfo, CommitScheduler, HfApi

# huggingface_hub's HTTP errors (HfHubHTTPError) and its transport's connection errors share this
# base class (httpx2's HTTPError, which huggingface_hub.errors imports); catching it avoids
# depending on the transport package by name.
from huggingface_hub.errors import HFValidationError
from huggingface_hub.errors import HTTPError as HubHTTPError

from genemail.errors import ConfigError, HubError

logger = logging.getLogger(__name__)
DEFAULT_EVERY_MINUTES = 5.0
DEFAULT_PATH_IN_REPO = "data"


def exported_up_to(folder: Path, id_field: str, prefix: str) -> int:
    """Highest ``id_field`` already written to any ``<prefix>-*.jsonl`` file in ``folder`` (0 if none).

    The folder itself is the export cursor: whatever is in it is pushed (now or at the next
    tick), so no separate state can drift from what was really written.
    """
    highest = 0
    for path in sorted(Path(folder).glob(f"{prefix}-*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    highest = max(highest, int(json.loads(line)[id_field]))
    return highest


class JsonlCommitScheduler(CommitScheduler):
    """A ``CommitScheduler`` that, before each push, appends the store's new rows to its JSONL file.

    ``rows_since(cursor)`` yields rows with ``id_field > cursor`` in id order; ``max_id()`` is the
    store's highest id. One scheduler per store: two on one store and folder would export every row twice.
    """

    def __init__(self, *, rows_since: Callable[[int], Iterator[dict[str, Any]]], max_id: Callable[[], int],
                 id_field: str, prefix: str, folder_path: Path, **kwargs: Any) -> None:
        self.rows_since, self.max_id, self.id_field = rows_since, max_id, id_field
        folder = Path(folder_path)
        folder.mkdir(parents=True, exist_ok=True)
        # Set before super().__init__: its thread starts at once and calls push_to_hub().
        self.cursor = exported_up_to(folder, id_field, prefix)
        self.jsonl_path = folder / f"{prefix}-{uuid.uuid4().hex}.jsonl"
        super().__init__(folder_path=folder, allow_patterns=[f"{prefix}-*.jsonl"], **kwargs)

    def flush(self) -> int:
        """Append rows newer than the cursor to this process's JSONL file; return how many."""
        with self.lock:  # the guide's rule: append only under the lock the push lists files under
            if self.max_id() < self.cursor:
                # The database was replaced (e.g. a fresh disk) but the folder kept: start over;
                # readers de-duplicate on submission_id.
                logger.warning("store restarted below exported id %d; re-exporting it", self.cursor)
                self.cursor = 0
            rows = self.rows_since(self.cursor)
            first = next(rows, None)
            if first is None:
                return 0  # no empty file is ever created, so none is pushed
            written = 0
            with self.jsonl_path.open("a", encoding="utf-8") as handle:
                for row in itertools.chain([first], rows):
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                    self.cursor = int(row[self.id_field])
                    written += 1
                handle.flush()
                os.fsync(handle.fileno())  # on disk before the push reads its size
            return written

    def push_to_hub(self) -> CommitInfo | None:
        """Flush new rows, then let the parent commit every changed file."""
        self.flush()
        return super().push_to_hub()


def start_jsonl_export(*, rows_since: Callable[[int], Iterator[dict[str, Any]]], max_id: Callable[[], int],
                       id_field: str, prefix: str, repo_id: str, folder: Path, what: str, env_var: str,
                       token: str | None = None, every: float = DEFAULT_EVERY_MINUTES,
                       path_in_repo: str = DEFAULT_PATH_IN_REPO, private: bool | None = None,
                       hf_api: HfApi | None = None) -> JsonlCommitScheduler:
    """Create the dataset repo if needed and push new rows every ``every`` minutes.

    Returns the running scheduler: ``scheduler.trigger().result()`` pushes now, ``scheduler.flush()``
    only writes the local JSONL, ``scheduler.stop()`` ends it (a last push also runs at exit).
    ``what`` (e.g. "ratings export") and ``env_var`` name the setting in error messages.
    """
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise ConfigError(f"repo_id={repo_id!r} is invalid", where=what,
                          fix=f"pass repo_id as 'namespace/name' ({env_var})")
    if isinstance(every, bool) or not isinstance(every, (int, float)) or every <= 0:
        raise ConfigError(f"every={every!r} is invalid", where=what, fix="pass every as a positive number of minutes")
    folder = Path(folder)
    if folder.is_file():
        raise ConfigError(f"folder={str(folder)!r} is a file", where=what,
                          fix="pass a folder for the JSONL files (it is created if missing)")
    try:
        return JsonlCommitScheduler(
            rows_since=rows_since, max_id=max_id, id_field=id_field, prefix=prefix, folder_path=folder,
            repo_id=repo_id, repo_type="dataset", every=every, path_in_repo=path_in_repo, private=private,
            token=token, hf_api=hf_api,
        )
    except (HubHTTPError, OSError, HFValidationError) as exc:
        raise HubError(f"cannot start the {what} ({exc})", where=f"dataset repo {repo_id}",
                       fix=f"check HF_ENDPOINT, HF_TOKEN (write access) and {env_var}") from exc
