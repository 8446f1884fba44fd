"""RatingsStore and Rating: validation, idempotent durable writes, migrations, concurrency."""

from __future__ import annotations

import random
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from genemail.errors import ArtifactError, ConfigError, DataError
from genemail.ratings import COLUMNS, Rating, RatingsStore, new_submission_id, style_match_rates, win_rates
from genemail.taxonomy import L2_SEGMENTS

SHA = "a" * 40


def make_rating(**overrides: object) -> Rating:
    values: dict[str, object] = dict(
        submission_id=new_submission_id(), rater="alice", customer_id="5524", segment=L2_SEGMENTS[0],
        left_variant="segmented", right_variant="baseline", choice="A", score_segmented=5, score_baseline=2,
        release_repo="demo/genemail-release", release_revision="v3", release_sha=SHA,
        adapter_sha="b" * 40, baseline_adapter_sha="c" * 40, comment="warm tone",
    )
    values.update(overrides)
    return Rating(**values)  # type: ignore[arg-type]


# --- Rating validation ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("submission_id", "not-a-uuid"),
        ("rater", "   "),
        ("customer_id", ""),
        ("segment", "VIP"),
        ("left_variant", "gpt"),
        ("right_variant", "segmented"),  # same as left_variant
        ("choice", "left"),
        ("score_segmented", 0),
        ("score_baseline", 6),
        ("score_baseline", True),
        ("score_segmented", 4.0),
        ("release_sha", "v3"),
        ("adapter_sha", "g" * 40),
        ("comment", "x" * 2001),
        ("created_at", "yesterday"),
        ("created_at", "2025-01-31T12:00:00+08:00"),
        ("created_at", "2025-01-31T12:00:00"),  # naive: no offset
    ],
)
def test_invalid_field_raises_data_error_naming_it(field: str, value: object) -> None:
    with pytest.raises(DataError) as info:
        make_rating(**{field: value})
    assert f"Rating.{field}" in str(info.value)
    assert "Fix:" in str(info.value)


def test_rating_normalizes_ids_text_and_time() -> None:
    sid = new_submission_id()
    rating = make_rating(submission_id=sid.upper(), rater="  bob ", release_sha="A" * 40,
                         created_at="2025-01-31T12:00:00Z", comment=" ok \n")
    assert rating.submission_id == sid
    assert rating.rater == "bob"
    assert rating.release_sha == "a" * 40
    assert rating.created_at == "2025-01-31T12:00:00.000+00:00"
    assert rating.comment == "ok"


@pytest.mark.parametrize(
    ("left", "choice", "expected"),
    [("segmented", "A", "segmented"), ("segmented", "B", "baseline"), ("baseline", "A", "baseline"),
     ("baseline", "B", "segmented"), ("baseline", "tie", None), ("segmented", "both_poor", None)],
)
def test_chosen_variant_follows_the_recorded_sides(left: str, choice: str, expected: str | None) -> None:
    right = "baseline" if left == "segmented" else "segmented"
    assert make_rating(left_variant=left, right_variant=right, choice=choice).chosen_variant == expected


# --- store ----------------------------------------------------------------------------------------
def test_add_returns_ids_and_all_round_trips(tmp_path: Path) -> None:
    store = RatingsStore(tmp_path / "r.sqlite")
    first, second = make_rating(), make_rating(rater="bob", choice="tie", comment="")
    assert store.add(first) == 1
    assert store.add(second) == 2
    frame = store.all()
    assert list(frame.columns) == list(COLUMNS)
    assert frame["rating_id"].tolist() == [1, 2]
    assert frame.iloc[0].drop("rating_id").to_dict() == first.to_row()
    assert frame.iloc[1]["choice"] == "tie"
    assert store.count() == 2 and store.max_rating_id() == 2


def test_retry_of_same_submission_is_not_duplicated(tmp_path: Path) -> None:
    store = RatingsStore(tmp_path / "r.sqlite")
    rating = make_rating()
    rating_id = store.add(rating)
    # A retry carries a later client timestamp; it is still the same submission.
    assert store.add(replace(rating, created_at="2030-01-01T00:00:00+00:00")) == rating_id
    assert store.count() == 1


def test_reused_submission_id_with_other_answers_is_refused(tmp_path: Path) -> None:
    store = RatingsStore(tmp_path / "r.sqlite")
    rating = make_rating()
    store.add(rating)
    with pytest.raises(DataError, match="score_segmented"):
        store.add(replace(rating, score_segmented=1))
    assert store.all()["score_segmented"].tolist() == [5]


def test_empty_store_has_typed_empty_frame(tmp_path: Path) -> None:
    store = RatingsStore(tmp_path / "r.sqlite")
    frame = store.all()
    assert frame.empty and list(frame.columns) == list(COLUMNS)
    assert store.count() == 0 and store.max_rating_id() == 0 and list(store.iter_since(0)) == []


def test_iter_since_pages_in_id_order(tmp_path: Path) -> None:
    store = RatingsStore(tmp_path / "r.sqlite")
    ids = [store.add(make_rating(customer_id=str(i))) for i in range(7)]
    rows = list(store.iter_since(ids[2], page_size=2))
    assert [r["rating_id"] for r in rows] == ids[3:]
    assert [r["customer_id"] for r in rows] == ["3", "4", "5", "6"]


def test_wal_mode_schema_version_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    store = RatingsStore(path)
    store.add(make_rating())
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == 1
    reopened = RatingsStore(path)  # a committed rating is visible to a new store; no re-migration
    assert reopened.count() == 1 and reopened.schema_version() == 1


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    RatingsStore(path)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (99, 'later')")
    with pytest.raises(ArtifactError, match="schema version 99"):
        RatingsStore(path)


def test_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    path.write_text("ID,Income\n1,2\n" * 100)
    with pytest.raises(ArtifactError, match="cannot open the ratings database"):
        RatingsStore(path)


def test_bad_store_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="busy_timeout_s"):
        RatingsStore(tmp_path / "r.sqlite", busy_timeout_s=0)
    with pytest.raises(ConfigError, match="folder"):
        RatingsStore(tmp_path)
    with pytest.raises(ConfigError, match="rating="):
        RatingsStore(tmp_path / "r.sqlite").add({"choice": "A"})  # type: ignore[arg-type]


@pytest.mark.integration  # about 2 s: 1,200 fsync'd transactions
def test_concurrent_submits_with_retries_store_each_rating_once(tmp_path: Path) -> None:
    """16 threads, 1,000 distinct ratings, 200 of them re-submitted: exactly 1,000 rows."""
    rng = random.Random(7)
    ratings = []
    for i in range(1000):
        left = rng.choice(["segmented", "baseline"])
        ratings.append(make_rating(
            customer_id=str(i % 97), segment=rng.choice(L2_SEGMENTS), rater=f"r{i % 5}", left_variant=left,
            right_variant="baseline" if left == "segmented" else "segmented",
            choice=rng.choice(["A", "B", "tie", "both_poor"]),
            score_segmented=rng.randint(1, 5), score_baseline=rng.randint(1, 5)))
    retries = rng.sample(ratings, 200)
    jobs = ratings + retries
    rng.shuffle(jobs)
    store = RatingsStore(tmp_path / "r.sqlite")
    returned: dict[str, set[int]] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(chunk: list[Rating]) -> None:
        try:
            for rating in chunk:
                rating_id = store.add(rating)
                with lock:
                    returned.setdefault(rating.submission_id, set()).add(rating_id)
        except BaseException as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(jobs[k::16],)) for k in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert store.count() == 1000
    frame = store.all()
    assert frame["submission_id"].is_unique and frame["rating_id"].is_unique
    # Every retry got the id of the first write, never a second one.
    assert len(returned) == 1000 and all(len(ids) == 1 for ids in returned.values())
    # Statistics over the store agree with a direct count over what was submitted.
    pooled = win_rates(frame).set_index("segment").loc["ALL"]
    assert pooled["wins"] == sum(r.chosen_variant == "segmented" for r in ratings)
    assert pooled["losses"] == sum(r.chosen_variant == "baseline" for r in ratings)
    assert pooled["ties"] == sum(r.choice == "tie" for r in ratings)
    match = style_match_rates(frame).set_index(["segment", "variant"])
    assert match.loc[("ALL", "segmented"), "matches"] == sum(r.score_segmented >= 4 for r in ratings)
    assert match.loc[("ALL", "baseline"), "matches"] == sum(r.score_baseline >= 4 for r in ratings)
