"""The one SQLite pattern of every GenEmail store (ratings, hand labels, experiment results).

* **Durable.** Every write is one ``BEGIN IMMEDIATE`` transaction committed before the call returns,
  with ``synchronous=FULL`` in WAL mode, so an acknowledged row survives a crash or power loss.
* **Concurrent.** WAL lets readers run beside the single writer; a busy timeout makes writers queue
  instead of failing. One connection per call, so any thread may share a store.
* **Migrations.** Numbered, append-only; ``schema_migrations`` records which ran, and a file written by
  a newer GenEmail is refused rather than misread.

A store is a dataclass subclassing :class:`SqliteStore` that sets :attr:`SqliteStore.MIGRATIONS`,
:attr:`SqliteStore.KIND` (for messages) and :attr:`SqliteStore.OPEN_FIX`. A store of people's answers
(ratings, hand labels) subclasses :class:`SubmissionStore`, which adds the once-only insert, the count
and the paged reads of one table of submissions.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from genemail.clock import utc_now
from genemail.errors import ArtifactError, ConfigError, DataError

if TYPE_CHECKING:  # pandas is only needed by ``SubmissionStore.all()``
    import pandas as pd

Migration = tuple[int, tuple[str, ...]]
PAGE_ROWS = 500  # rows per read in a paged export: bounded memory, short read transactions


def utc_now_iso() -> str:
    """The current UTC time as the stores' rows keep it (``2025-01-31T12:00:00.123+00:00``)."""
    return utc_now("milliseconds")


@dataclass
class SqliteStore:
    """One SQLite file with this project's durability rules; subclasses add their tables and queries.

    ``busy_timeout_s`` is how long a writer waits for another writer's lock before failing.
    """

    MIGRATIONS: ClassVar[tuple[Migration, ...]] = ()
    KIND: ClassVar[str] = "GenEmail"
    OPEN_FIX: ClassVar[str] = "check that the file is a GenEmail SQLite file and is writable"

    path: Path
    busy_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        name = type(self).__name__
        self.path = Path(self.path)
        if isinstance(self.busy_timeout_s, bool) or not isinstance(self.busy_timeout_s, (int, float)) \
                or self.busy_timeout_s <= 0:
            raise ConfigError(f"busy_timeout_s={self.busy_timeout_s!r} is invalid", where=name,
                              fix="pass busy_timeout_s as a positive number of seconds")
        if self.path.is_dir():
            raise ConfigError(f"path={str(self.path)!r} is a folder", where=name,
                              fix="pass the path of a .sqlite file (it is created if missing)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    @property
    def schema_version_expected(self) -> int:
        """The newest migration this GenEmail knows."""
        return self.MIGRATIONS[-1][0] if self.MIGRATIONS else 0

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # isolation_level=None: no implicit transactions; writes open BEGIN IMMEDIATE themselves,
        # which takes the write lock up front (no deadlock-prone read-then-upgrade).
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            conn.execute("PRAGMA synchronous = FULL")  # WAL + FULL: a committed row survives power loss
            conn.row_factory = sqlite3.Row
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        newest = self.schema_version_expected
        try:
            with self._connect() as conn:
                conn.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the file
            with self._write() as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                             "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
                done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
                if done and max(done) > newest:
                    raise ArtifactError(
                        f"{self.KIND} database has schema version {max(done)}, newer than this GenEmail's {newest}",
                        where=str(self.path), fix=f"upgrade GenEmail, or {self.OPEN_FIX}")
                for version, statements in self.MIGRATIONS:
                    if version not in done:
                        for sql in statements:
                            conn.execute(sql)
                        conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, utc_now_iso()))
        except sqlite3.DatabaseError as exc:
            raise ArtifactError(f"cannot open the {self.KIND} database ({exc})", where=str(self.path),
                                fix=self.OPEN_FIX) from exc

    def schema_version(self) -> int:
        """The highest migration applied to this file."""
        with self._connect() as conn:
            return int(conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0])


def new_submission_id() -> str:
    """A fresh ``submission_id``: make one when an item is *shown* to a person, reuse it on every retry."""
    return str(uuid.uuid4())


@dataclass
class SubmissionStore(SqliteStore):
    """One table of people's answers, each stored once; subclasses set the table and its columns.

    The table (:attr:`TABLE`) has an ``INTEGER PRIMARY KEY AUTOINCREMENT`` id (:attr:`ID_COLUMN`; never
    reused, so export cursors may rely on it), a ``UNIQUE`` ``submission_id`` that the client makes when
    it shows the item, and :attr:`FIELDS`, the columns an answer writes, ``submission_id`` among them.
    A retried submit gets the first row's id back, so a double click or a network retry counts once.
    """

    TABLE: ClassVar[str] = ""
    ID_COLUMN: ClassVar[str] = ""
    FIELDS: ClassVar[tuple[str, ...]] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns reads return: the id first, then :attr:`FIELDS`."""
        return (self.ID_COLUMN, *self.FIELDS)

    def _add_once(self, row: Mapping[str, object], compared: Iterable[str], fix: str) -> int:
        """Store ``row`` (committed before returning) unless its ``submission_id`` is stored; return its id.

        A stored row with the same ``submission_id`` is the same answer retried when the ``compared``
        columns agree (its id is returned); otherwise :class:`DataError` with ``fix``, because silently
        keeping either version would lose what the person said.
        """
        with self._write() as conn:
            inserted = conn.execute(
                f"INSERT INTO {self.TABLE} ({', '.join(self.FIELDS)}) VALUES ({', '.join('?' for _ in self.FIELDS)}) "
                f"ON CONFLICT (submission_id) DO NOTHING RETURNING {self.ID_COLUMN}",
                [row[c] for c in self.FIELDS],
            ).fetchall()  # drain RETURNING fully before COMMIT
            if inserted:
                return int(inserted[0][0])
            existing = conn.execute(f"SELECT * FROM {self.TABLE} WHERE submission_id = ?",
                                    (row["submission_id"],)).fetchone()
        differing = [c for c in compared if row[c] != existing[c]]
        if differing:
            raise DataError(
                f"submission_id {row['submission_id']} was already stored with different {', '.join(differing)}",
                where=f"{self.ID_COLUMN} {existing[self.ID_COLUMN]}", fix=fix,
            )
        return int(existing[self.ID_COLUMN])

    def count(self) -> int:
        """Number of stored answers."""
        with self._connect() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM {self.TABLE}").fetchone()[0])

    def _max_id(self) -> int:
        with self._connect() as conn:
            return int(conn.execute(f"SELECT COALESCE(MAX({self.ID_COLUMN}), 0) FROM {self.TABLE}").fetchone()[0])

    def all(self) -> "pd.DataFrame":
        """Every answer as a DataFrame with :attr:`columns`, in id order."""
        import pandas as pd

        with self._connect() as conn:
            rows = conn.execute(f"SELECT {', '.join(self.columns)} FROM {self.TABLE} "
                                f"ORDER BY {self.ID_COLUMN}").fetchall()
        return pd.DataFrame([tuple(r) for r in rows], columns=list(self.columns))

    def _rows_since(self, after: int, page_size: int) -> Iterator[dict[str, object]]:
        # Pages, each read in its own short read, so a slow consumer never pins a WAL snapshot.
        cursor = int(after)
        while True:
            with self._connect() as conn:
                page = conn.execute(
                    f"SELECT {', '.join(self.columns)} FROM {self.TABLE} WHERE {self.ID_COLUMN} > ? "
                    f"ORDER BY {self.ID_COLUMN} LIMIT ?", (cursor, page_size),
                ).fetchall()
            yield from (dict(row) for row in page)
            if len(page) < page_size:
                return
            cursor = int(page[-1][self.ID_COLUMN])
