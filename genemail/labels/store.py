"""The hand-label store: one validated :class:`Label` per submit, in SQLite (WAL; :mod:`genemail.sqlite`).

A labeler sees a customer's profile without the model's answer and picks the L1 tier and the L2
segment (or ``unsure``), with an optional note. Each submit carries a ``submission_id`` made when the
customer is shown, so a double click or a retry stores one label. The model's own answer at that time
and the release it came from are stored beside the label (never shown), for the evaluation.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import ClassVar

from genemail.errors import ConfigError, DataError
from genemail.sqlite import PAGE_ROWS, Migration, SubmissionStore, utc_now_iso
from genemail.sqlite import new_submission_id as new_submission_id  # the workflow makes one per customer shown
from genemail.taxonomy import COLD_START, L1_TIERS, L2_SEGMENTS

UNSURE = "unsure"
L1_CHOICES: tuple[str, ...] = (*L1_TIERS, UNSURE)
L2_CHOICES: tuple[str, ...] = (*L2_SEGMENTS, COLD_START, UNSURE)
MAX_NOTE_CHARS = 2000
MAX_NAME_CHARS = 200
LABEL_FIELDS: tuple[str, ...] = (
    "submission_id", "rater", "customer_id", "l1", "l2", "note", "model_l1", "model_l2",
    "release_repo", "release_revision", "release_sha", "created_at",
)
COLUMNS: tuple[str, ...] = ("label_id", *LABEL_FIELDS)
MIGRATIONS: tuple[Migration, ...] = (
    (1, (
        f"""CREATE TABLE labels (
            label_id INTEGER PRIMARY KEY AUTOINCREMENT,
            submission_id TEXT NOT NULL UNIQUE,
            rater TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            l1 TEXT NOT NULL CHECK (l1 IN ({", ".join(repr(c) for c in L1_CHOICES)})),
            l2 TEXT NOT NULL CHECK (l2 IN ({", ".join(repr(c) for c in L2_CHOICES)})),
            note TEXT NOT NULL,
            model_l1 TEXT, model_l2 TEXT,
            release_repo TEXT, release_revision TEXT, release_sha TEXT,
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX labels_by_customer ON labels (customer_id)",
    )),
)


@dataclass(frozen=True)
class Label:
    """One labeler's answer for one customer (validated on creation)."""

    submission_id: str
    rater: str
    customer_id: str
    l1: str
    l2: str
    note: str = ""
    model_l1: str | None = None
    model_l2: str | None = None
    release_repo: str | None = None
    release_revision: str | None = None
    release_sha: str | None = None
    created_at: str = field(default_factory=utc_now_iso)

    def __post_init__(self) -> None:
        try:
            uuid.UUID(str(self.submission_id))
        except ValueError:
            raise _bad("submission_id", self.submission_id, "a UUID (new_submission_id())") from None
        for name in ("rater", "customer_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME_CHARS:
                raise _bad(name, value, f"a non-empty name of at most {MAX_NAME_CHARS} characters")
        if self.l1 not in L1_CHOICES:
            raise _bad("l1", self.l1, f"one of {', '.join(L1_CHOICES)}")
        if self.l2 not in L2_CHOICES:
            raise _bad("l2", self.l2, f"one of {', '.join(L2_CHOICES)}")
        if not isinstance(self.note, str) or len(self.note) > MAX_NOTE_CHARS:
            raise _bad("note", f"{str(self.note)[:40]}…", f"text of at most {MAX_NOTE_CHARS} characters")


def _bad(name: str, value: object, expected: str) -> DataError:
    return DataError(f"{name}={value!r} is invalid", where=f"Label.{name}", fix=f"pass {name} as {expected}")


@dataclass
class LabelsStore(SubmissionStore):
    """Hand labels in one SQLite file; safe to share across threads (one connection per call)."""

    MIGRATIONS: ClassVar[tuple[Migration, ...]] = MIGRATIONS
    KIND: ClassVar[str] = "labels"
    OPEN_FIX: ClassVar[str] = "point GENEMAIL_LABELS_DB at a GenEmail labels SQLite file (or a new path)"
    TABLE: ClassVar[str] = "labels"
    ID_COLUMN: ClassVar[str] = "label_id"
    FIELDS: ClassVar[tuple[str, ...]] = LABEL_FIELDS

    def add(self, label: Label) -> int:
        """Store ``label`` (committed before returning); return its ``label_id``.

        Idempotent on ``submission_id``; reusing one for a *different* answer raises :class:`DataError`.
        """
        if not isinstance(label, Label):
            raise ConfigError(f"label={type(label).__name__} is invalid", where="LabelsStore.add",
                              fix="pass a genemail.labels.store.Label")
        return self._add_once(asdict(label), ("rater", "customer_id", "l1", "l2", "note"),
                              fix="press 'Next customer' for a new label; a submission_id is reused only to retry")

    def max_label_id(self) -> int:
        """The highest ``label_id`` stored, 0 when empty."""
        return self._max_id()

    def iter_since(self, label_id: int = 0, *, page_size: int = PAGE_ROWS) -> Iterator[dict[str, object]]:
        """Labels with ``label_id > label_id`` in id order, as dicts (for the export), read in pages."""
        return self._rows_since(label_id, page_size)
