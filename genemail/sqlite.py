"""The one SQLite pattern of every GenEmail store (ratings, hand labels, experiment results).

* **Durable.** Every write is one ``BEGIN IMMEDIATE`` transaction committed before the call returns,
  with ``synchronous=FULL`` in WAL mode, so an acknowledged row survives a crash or power loss.
* **Concurrent.** WAL lets readers run beside the single writer; a busy timeout makes writers queue
  instead of failing. One connection per call, so any thread may share a store.
* **Migrations.** Numbered, append-only; ``schema_migrations`` records which ran, and a file written by
  a newer GenEmail is refused rather than misread.

A store is a dataclass subclassing :class:`SqliteStore` that sets :attr:`SqliteStore.MIGRATIONS`,
:attr:`SqliteStore.KIND` (for messages) and :attr:`SqliteStore.OPEN_FIX`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from genemail.clock import utc_now
from genemail.errors import ArtifactError, ConfigError

Migration = tuple[int, tuple[str, ...]]


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
