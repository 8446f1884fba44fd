"""Export new hand labels to a Hub dataset repo every few minutes (``data/labels-<uuid>.jsonl``).

The same append-only JSONL ``CommitScheduler`` as the ratings (:mod:`genemail.hub.jsonl_export`);
readers de-duplicate on ``submission_id``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from genemail.hub.jsonl_export import DEFAULT_EVERY_MINUTES, JsonlCommitScheduler, start_jsonl_export
from genemail.labels.store import LabelsStore

if TYPE_CHECKING:
    from huggingface_hub import HfApi


def start_labels_export(store: LabelsStore, repo_id: str, folder: Path, *, token: str | None = None,
                        every: float = DEFAULT_EVERY_MINUTES, hf_api: HfApi | None = None) -> JsonlCommitScheduler:
    """Create the dataset repo if needed and push new labels every ``every`` minutes."""
    return start_jsonl_export(rows_since=store.iter_since, max_id=store.max_label_id, id_field="label_id",
                              prefix="labels", repo_id=repo_id, folder=folder, what="labels export",
                              env_var="GENEMAIL_LABELS_REPO", token=token, every=every, hf_api=hf_api)
