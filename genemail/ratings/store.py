"""The human-rating store: one validated :class:`Rating` per submit, kept in SQLite (WAL mode).

The app's Rate tab shows a rater the target segment's strategy and two emails for one customer
(segmented and baseline, left/right randomized), and records which side fits the target style
better plus a 1-5 style-match score for each. This module only stores those answers durably:

* **Idempotent.** Every submit carries a client-made ``submission_id`` (a UUID made when the pair
  is shown). A retried submit hits the UNIQUE constraint and gets the first row's id back, so a
  double click or a network retry never counts twice (:class:`genemail.sqlite.SubmissionStore`).
* **Durable, concurrent, migrations-ready**: :mod:`genemail.sqlite`'s rules (one ``BEGIN IMMEDIATE``
  transaction per write, committed before ``add`` returns, ``synchronous=FULL``, WAL, a busy timeout,
  one connection per call, numbered migrations in ``schema_migrations``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from genemail.clock import format_utc
from genemail.errors import ConfigError, DataError
from genemail.sqlite import PAGE_ROWS, Migration, SubmissionStore, utc_now_iso
from genemail.sqlite import new_submission_id as new_submission_id  # the workflow makes one per pair shown
from genemail.taxonomy import COLD_START, L2_SEGMENTS

if TYPE_CHECKING:  # pandas is only needed by ``all()``
    import pandas as pd

VARIANTS: tuple[str, ...] = ("segmented", "baseline")
# "A" is the left email, "B" the right one; which variant each shows is recorded per rating.
CHOICES: tuple[str, ...] = ("A", "B", "tie", "both_poor")
# Rated target segments: the L2 sub-segments, plus cold start (it has its own default strategy).
RATED_SEGMENTS: tuple[str, ...] = (*L2_SEGMENTS, COLD_START)
SCORE_MIN, SCORE_MAX = 1, 5
MAX_COMMENT_CHARS = 2000
MAX_NAME_CHARS = 200
_SHA_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")  # git SHA-1, or SHA-256 object format


def _bad(name: str, value: object, expected: str) -> DataError:
    return DataError(f"{name}={value!r} is invalid", where=f"Rating.{name}", fix=f"pass {name} as {expected}")


@dataclass(frozen=True)
class Rating:
    """One rater's answer for one customer's pair of emails; validated (and normalized) on creation.

    ``choice`` is about screen sides: ``"A"`` = left email, ``"B"`` = right email; ``left_variant``
    and ``right_variant`` say which of ``"segmented"`` / ``"baseline"`` was shown on each side.
    The ``*_sha`` fields pin what was rated: the release commit and both adapters' commits.
    """

    submission_id: str
    rater: str
    customer_id: str
    segment: str
    left_variant: str
    right_variant: str
    choice: str
    score_segmented: int
    score_baseline: int
    release_repo: str
    release_revision: str
    release_sha: str
    adapter_sha: str
    baseline_adapter_sha: str
    comment: str = ""
    created_at: str = field(default_factory=utc_now_iso)

    def __post_init__(self) -> None:
        self._set("submission_id", _check_uuid(self.submission_id))
        for name in ("rater", "customer_id", "release_repo", "release_revision"):
            self._set(name, _check_name(name, getattr(self, name)))
        if self.segment not in RATED_SEGMENTS:
            raise _bad("segment", self.segment, f"one of {RATED_SEGMENTS} (genemail.taxonomy)")
        for name in ("left_variant", "right_variant"):
            if getattr(self, name) not in VARIANTS:
                raise _bad(name, getattr(self, name), f"one of {VARIANTS}")
        if self.left_variant == self.right_variant:
            raise _bad("right_variant", self.right_variant,
                       f"the variant not shown on the left ({self.left_variant!r} is)")
        if self.choice not in CHOICES:
            raise _bad("choice", self.choice, f"one of {CHOICES} ('A' = left email, 'B' = right email)")
        for name in ("score_segmented", "score_baseline"):
            value = getattr(self, name)
            # bool is an int subclass; a checkbox value must not pass as a score of 1.
            if isinstance(value, bool) or not isinstance(value, int) or not SCORE_MIN <= value <= SCORE_MAX:
                raise _bad(name, value, f"an integer from {SCORE_MIN} to {SCORE_MAX}")
        for name in ("release_sha", "adapter_sha", "baseline_adapter_sha"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _SHA_RE.match(value.lower()):
                raise _bad(name, value, "the full commit sha (40 hex digits) of the pinned revision")
            self._set(name, value.lower())
        if not isinstance(self.comment, str) or len(self.comment) > MAX_COMMENT_CHARS:
            shown = self.comment if not isinstance(self.comment, str) else f"<{len(self.comment)} chars>"
            raise _bad("comment", shown, f"text of at most {MAX_COMMENT_CHARS} characters")
        self._set("comment", self.comment.strip())
        self._set("created_at", _check_utc_iso(self.created_at))

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)  # frozen dataclass: normalize once, here only

    @property
    def chosen_variant(self) -> str | None:
        """``"segmented"`` / ``"baseline"`` for the side picked, ``None`` for tie or both_poor."""
        return {"A": self.left_variant, "B": self.right_variant}.get(self.choice)

    def to_row(self) -> dict[str, object]:
        """The rating as a plain dict, in column order."""
        return asdict(self)


RATING_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Rating))
# Columns of ``RatingsStore.all()``: the store's id first, then the rating's fields.
COLUMNS: tuple[str, ...] = ("rating_id", *RATING_FIELDS)


def _check_uuid(value: object) -> str:
    try:
        return str(uuid.UUID(str(value)))  # canonical lower-case, hyphenated form
    except (ValueError, TypeError, AttributeError):
        raise _bad("submission_id", value, "a UUID string (genemail.ratings.new_submission_id())") from None


def _check_name(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_NAME_CHARS:
        raise _bad(name, value, f"non-empty text of at most {MAX_NAME_CHARS} characters")
    return value.strip()


def _check_utc_iso(value: object) -> str:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise _bad("created_at", value, "an ISO 8601 UTC timestamp such as 2025-01-31T12:00:00+00:00") from None
    if parsed.utcoffset() is None or parsed.utcoffset().total_seconds() != 0:
        raise _bad("created_at", value, "a UTC timestamp with an explicit +00:00 (or Z) offset")
    return format_utc(parsed, "milliseconds")


# --- schema -------------------------------------------------------------------------------------
# Append-only: a released migration is never edited; a change is a new (version, statements) entry.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE ratings (
                rating_id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: export cursors rely on it
                submission_id TEXT NOT NULL UNIQUE,
                rater TEXT NOT NULL,
                customer_id TEXT NOT NULL,
                segment TEXT NOT NULL,
                left_variant TEXT NOT NULL CHECK (left_variant IN ('segmented', 'baseline')),
                right_variant TEXT NOT NULL CHECK (right_variant IN ('segmented', 'baseline')),
                choice TEXT NOT NULL CHECK (choice IN ('A', 'B', 'tie', 'both_poor')),
                score_segmented INTEGER NOT NULL CHECK (score_segmented BETWEEN 1 AND 5),
                score_baseline INTEGER NOT NULL CHECK (score_baseline BETWEEN 1 AND 5),
                release_repo TEXT NOT NULL,
                release_revision TEXT NOT NULL,
                release_sha TEXT NOT NULL,
                adapter_sha TEXT NOT NULL,
                baseline_adapter_sha TEXT NOT NULL,
                comment TEXT NOT NULL DEFAULT '',
                created_at TEXT NOT NULL,
                CHECK (left_variant <> right_variant)
            )""",
            "CREATE INDEX ratings_customer ON ratings (customer_id, segment)",
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


@dataclass
class RatingsStore(SubmissionStore):
    """Ratings in one SQLite file (:class:`genemail.sqlite.SubmissionStore`'s rules).

    Safe to share across threads (one connection per call).
    """

    MIGRATIONS: ClassVar[tuple[Migration, ...]] = MIGRATIONS
    KIND: ClassVar[str] = "ratings"
    OPEN_FIX: ClassVar[str] = ("point GENEMAIL_RATINGS_DB at a GenEmail ratings SQLite file (or a new path) "
                               "that is writable")
    TABLE: ClassVar[str] = "ratings"
    ID_COLUMN: ClassVar[str] = "rating_id"
    FIELDS: ClassVar[tuple[str, ...]] = RATING_FIELDS

    # --- public API ----------------------------------------------------------------------------
    def add(self, rating: Rating) -> int:
        """Store ``rating`` (committed before returning) and return its ``rating_id``.

        Idempotent on ``submission_id``: a retry of the same rating returns the first row's id.
        Reusing a ``submission_id`` for *different* answers raises :class:`DataError`, because
        silently keeping either version would lose what the rater said.
        """
        if not isinstance(rating, Rating):
            raise ConfigError(f"rating={type(rating).__name__} is invalid", where="RatingsStore.add",
                              fix="pass a genemail.ratings.Rating")
        # created_at is set by the client per attempt, so a retry may carry a later time: ignore it.
        return self._add_once(
            rating.to_row(), [c for c in RATING_FIELDS if c != "created_at"],
            fix="make a new submission_id (new_submission_id()) for each new pair shown; reuse one only to retry",
        )

    def max_rating_id(self) -> int:
        """The highest ``rating_id`` stored, 0 when empty."""
        return self._max_id()

    def all(self) -> "pd.DataFrame":
        """Every rating as a DataFrame with :data:`COLUMNS`, ordered by ``rating_id``."""
        return super().all().astype({"rating_id": "int64", "score_segmented": "int64", "score_baseline": "int64"})

    def iter_since(self, rating_id: int = 0, *, page_size: int = PAGE_ROWS) -> Iterator[dict[str, object]]:
        """Yield ratings with ``rating_id > rating_id`` in id order, as dicts (for export).

        Reads in pages, each in its own short read, so a slow consumer never pins a WAL snapshot.
        """
        return self._rows_since(rating_id, page_size)
