"""genemail.sqlite: the SQLite pattern of every store, and SubmissionStore, the base of the ratings and labels stores.

A small notes table stands in for ratings and labels, so these tests pin the base's own behaviour
(once-only insert, refusal of a changed answer, count, paged reads) apart from either store's rules.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from genemail.errors import ArtifactError, ConfigError, DataError
from genemail.labels.store import Label, LabelsStore
from genemail.ratings.store import Rating, RatingsStore
from genemail.sqlite import Migration, SqliteStore, SubmissionStore, new_submission_id

FIELDS = ("submission_id", "author", "text", "created_at")


@dataclass
class NotesStore(SubmissionStore):
    MIGRATIONS: ClassVar[tuple[Migration, ...]] = ((1, (
        """CREATE TABLE notes (note_id INTEGER PRIMARY KEY AUTOINCREMENT, submission_id TEXT NOT NULL UNIQUE,
           author TEXT NOT NULL, text TEXT NOT NULL, created_at TEXT NOT NULL)""",
    )),)
    KIND: ClassVar[str] = "notes"
    OPEN_FIX: ClassVar[str] = "pass a notes file"
    TABLE: ClassVar[str] = "notes"
    ID_COLUMN: ClassVar[str] = "note_id"
    FIELDS: ClassVar[tuple[str, ...]] = FIELDS

    def add(self, row: dict[str, object]) -> int:
        return self._add_once(row, ("author", "text"), fix="make a new submission_id")


def note(text: str = "hello", **overrides: object) -> dict[str, object]:
    return {"submission_id": new_submission_id(), "author": "ann", "text": text,
            "created_at": "2025-03-01T10:00:00.000+00:00", **overrides}


@pytest.fixture()
def store(tmp_path: Path) -> NotesStore:
    return NotesStore(tmp_path / "sub" / "notes.sqlite")


def test_new_submission_ids_are_distinct_uuids() -> None:
    ids = {new_submission_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(str(uuid.UUID(i)) == i for i in ids)


def test_an_empty_store_reads_as_empty(store: NotesStore) -> None:
    assert store.count() == 0 and store._max_id() == 0
    assert list(store._rows_since(0, 10)) == []
    frame = store.all()
    assert len(frame) == 0 and list(frame.columns) == ["note_id", *FIELDS]


def test_add_numbers_rows_and_a_retry_gets_the_first_id(store: NotesStore) -> None:
    first, second = note("one"), note("two")
    assert store.add(first) == 1 and store.add(second) == 2
    retried = {**first, "created_at": "2025-03-01T10:00:09.000+00:00"}  # created_at is not compared
    assert store.add(retried) == 1
    assert store.count() == 2 and store._max_id() == 2
    assert store.all()["created_at"].tolist() == [first["created_at"], second["created_at"]]  # the first kept


def test_a_changed_answer_under_a_used_submission_id_is_refused(store: NotesStore) -> None:
    first = note("one")
    store.add(first), store.add(note("two"))
    with pytest.raises(DataError) as caught:
        store.add({**first, "text": "changed", "author": "bob"})
    assert caught.value.what == f"submission_id {first['submission_id']} was already stored with different author, text"
    assert caught.value.where == "note_id 1" and caught.value.fix == "make a new submission_id"
    assert store.count() == 2


def test_rows_come_back_in_id_order_in_pages(store: NotesStore) -> None:
    ids = [store.add(note(f"n{i}")) for i in range(7)]
    assert ids == list(range(1, 8))
    assert [row["note_id"] for row in store._rows_since(0, 3)] == ids  # pages of 3, 3, 1
    assert [row["note_id"] for row in store._rows_since(0, 7)] == ids  # a full last page, then an empty one
    assert [row["text"] for row in store._rows_since(5, 2)] == ["n5", "n6"]
    assert list(next(store._rows_since(0, 3))) == ["note_id", *FIELDS]
    assert store.all()["note_id"].tolist() == ids


def test_the_file_is_wal_and_records_its_migrations(store: NotesStore) -> None:
    assert store.schema_version() == store.schema_version_expected == 1
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_newer_file_and_a_bad_config_are_refused(tmp_path: Path, store: NotesStore) -> None:
    with sqlite3.connect(store.path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (9, 'x')")
    with pytest.raises(ArtifactError, match="notes database has schema version 9, newer than this GenEmail's 1"):
        NotesStore(store.path)
    with pytest.raises(ConfigError, match="busy_timeout_s"):
        NotesStore(tmp_path / "x.sqlite", busy_timeout_s=0)
    with pytest.raises(ConfigError, match="is a folder"):
        NotesStore(tmp_path)


def test_the_ratings_and_labels_stores_are_submission_stores() -> None:
    for cls, table, id_column in ((RatingsStore, "ratings", "rating_id"), (LabelsStore, "labels", "label_id")):
        assert issubclass(cls, SubmissionStore) and issubclass(cls, SqliteStore)
        assert (cls.TABLE, cls.ID_COLUMN, cls.FIELDS[0]) == (table, id_column, "submission_id")
        # Every column add writes is one the table's migrations create.
        created = " ".join(sql for _, statements in cls.MIGRATIONS for sql in statements)
        assert all(f"{name} " in created for name in cls.FIELDS)


def test_the_ratings_and_labels_refusals_read_as_before(tmp_path: Path) -> None:
    # The exact texts the two stores wrote before they shared SubmissionStore.
    rating = Rating(
        submission_id=new_submission_id(), rater="ann", customer_id="C1", segment="Dormant",
        left_variant="segmented", right_variant="baseline", choice="A", score_segmented=4, score_baseline=2,
        release_repo="o/r", release_revision="v1", release_sha="a" * 40, adapter_sha="b" * 40,
        baseline_adapter_sha="c" * 40,
    )
    ratings = RatingsStore(tmp_path / "r.sqlite")
    assert ratings.add(rating) == 1 and ratings.max_rating_id() == 1
    with pytest.raises(DataError) as caught:
        ratings.add(Rating(**{**rating.to_row(), "choice": "B", "comment": "changed my mind"}))
    assert str(caught.value) == (
        f"rating_id 1: submission_id {rating.submission_id} was already stored with different choice, comment. "
        "Fix: make a new submission_id (new_submission_id()) for each new pair shown; reuse one only to retry.")

    label = Label(submission_id=new_submission_id(), rater="ann", customer_id="C1", l1="High", l2="Dormant")
    labels = LabelsStore(tmp_path / "l.sqlite")
    assert labels.add(label) == 1 and labels.max_label_id() == 1
    with pytest.raises(DataError) as caught:
        labels.add(Label(**{**label.__dict__, "l1": "Mid", "model_l1": "Low"}))  # model_l1 is not compared
    assert str(caught.value) == (
        f"label_id 1: submission_id {label.submission_id} was already stored with different l1. "
        "Fix: press 'Next customer' for a new label; a submission_id is reused only to retry.")
