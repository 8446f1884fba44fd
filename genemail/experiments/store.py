"""The results database: send logs and outcome events in one SQLite file (WAL), written idempotently.

The same durability rules as the ratings store (``genemail.ratings.store``): every write is one
``BEGIN IMMEDIATE`` transaction, ``synchronous=FULL``, one connection per call, numbered
append-only migrations. Idempotency comes from keys, not from bookkeeping:

* ``sends``: primary key ``(experiment, customer_id)``; a send log recorded twice adds nothing, and a
  customer recorded with another arm is refused (a customer has one arm for life).
* ``events``: unique ``(experiment, event_key)``; the key is the platform's event id scoped by the
  platform and the event type, else a hash of the event's content (``genemail.experiments.events``),
  so re-ingesting a file adds nothing.
* ``ingests``: one row per ingest run; ``outcome`` is ``finished``, ``refused`` (nothing stored) or null
  (running, or killed: what it acknowledged is stored, the rest is not).

Migration 3 (keys scoped by platform and type; ids in their normal form) rebuilds the events table from
the old one, re-deriving each key from the stored row; rows whose new keys coincide were one event
stored twice by the old keys (a revenue read as NaN changed the hash), and only the first is kept.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from genemail.clock import utc_now
from genemail.errors import DataError
from genemail.sqlite import Migration, SqliteStore
from genemail.experiments.assignment import ARMS
from genemail.experiments.events import EVENT_TYPES, content_key, event_key
from genemail.experiments.ids import normalize_id
from genemail.experiments.sendlog import STORED_FIELDS

if TYPE_CHECKING:
    import pandas as pd

_ARMS_SQL = ", ".join(f"'{a}'" for a in ARMS)
# Migration 1's event types, as that migration created them (a migration never changes once shipped).
_TYPES_V1_SQL = ", ".join(f"'{t}'" for t in ("delivered", "open", "click", "conversion", "unsubscribe", "bounce"))
_TYPES_SQL = ", ".join(f"'{t}'" for t in EVENT_TYPES)
_EVENTS_TABLE = """CREATE TABLE {name} (
                event_rowid INTEGER PRIMARY KEY AUTOINCREMENT,
                experiment TEXT NOT NULL,
                event_key TEXT NOT NULL,
                event_id TEXT,
                customer_id TEXT NOT NULL,
                event_type TEXT NOT NULL CHECK (event_type IN ({types})),
                time TEXT NOT NULL,
                revenue REAL CHECK (revenue IS NULL OR revenue >= 0),
                source TEXT NOT NULL,
                line INTEGER NOT NULL,
                ingested_at TEXT NOT NULL,
                UNIQUE (experiment, event_key)
            )"""
EVENT_COLUMNS: tuple[str, ...] = ("experiment", "event_key", "event_id", "customer_id", "event_type", "time",
                                  "revenue", "source", "line", "ingested_at")
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            f"""CREATE TABLE sends (
                experiment TEXT NOT NULL,
                customer_id TEXT NOT NULL,
                segment TEXT NOT NULL,
                arm TEXT NOT NULL CHECK (arm IN ({_ARMS_SQL})),
                strategy TEXT, adapter TEXT, adapter_repo TEXT, adapter_sha TEXT,
                release_repo TEXT, release_revision TEXT, release_sha TEXT,
                sent_at TEXT NOT NULL,
                email TEXT,
                recorded_at TEXT NOT NULL,
                PRIMARY KEY (experiment, customer_id)
            )""",
            _EVENTS_TABLE.format(name="events", types=_TYPES_V1_SQL),
            "CREATE INDEX events_by_customer ON events (experiment, event_type, customer_id, time)",
            """CREATE TABLE ingests (
                ingest_id INTEGER PRIMARY KEY AUTOINCREMENT,
                experiment TEXT NOT NULL,
                send_log TEXT NOT NULL,
                events_file TEXT NOT NULL,
                started_at TEXT NOT NULL,
                finished_at TEXT,
                result TEXT
            )""",
        ),
    ),
    (
        # Complaint (spam report) events, a guardrail metric; and each customer's pre-period
        # covariates (JSON) for variance reduction. SQLite cannot alter a CHECK: the events table is
        # copied into one with the new list, row ids kept.
        2,
        (
            _EVENTS_TABLE.format(name="events_v2", types=_TYPES_SQL),
            "INSERT INTO events_v2 SELECT * FROM events",
            "DROP TABLE events",
            "ALTER TABLE events_v2 RENAME TO events",
            "CREATE INDEX events_by_customer ON events (experiment, event_type, customer_id, time)",
            "ALTER TABLE sends ADD COLUMN covariates TEXT",
        ),
    ),
    (
        # Keys scoped by platform and event type, ids in their normal form (genemail.experiments.ids),
        # and each ingest's outcome. Keys are re-derived in Python (functions registered on every
        # connection); the profile of an old row's id is its file's (the last finished ingest of a file
        # of that name). INSERT OR IGNORE drops rows whose new keys coincide: one event stored twice.
        3,
        (
            _EVENTS_TABLE.format(name="events_v3", types=_TYPES_SQL),
            """INSERT OR IGNORE INTO events_v3 (event_rowid, experiment, event_key, event_id, customer_id, event_type,
                                                 time, revenue, source, line, ingested_at)
               SELECT e.event_rowid, e.experiment,
                      genemail_rekey(e.event_key, e.event_id, genemail_normalize_id(e.customer_id), e.event_type,
                                     e.time, e.revenue,
                                     (SELECT json_extract(i.result, '$.mapping.profile') FROM ingests i
                                      WHERE i.experiment = e.experiment AND i.result IS NOT NULL
                                        AND (i.events_file = e.source OR i.events_file LIKE '%/' || e.source
                                             OR i.events_file LIKE '%\\' || e.source)
                                      ORDER BY i.ingest_id DESC LIMIT 1)),
                      e.event_id, genemail_normalize_id(e.customer_id), e.event_type, e.time, e.revenue, e.source,
                      e.line, e.ingested_at
               FROM events e ORDER BY e.event_rowid""",
            "DROP TABLE events",
            "ALTER TABLE events_v3 RENAME TO events",
            "CREATE INDEX events_by_customer ON events (experiment, event_type, customer_id, time)",
            "UPDATE OR IGNORE sends SET customer_id = genemail_normalize_id(customer_id)",
            "ALTER TABLE ingests ADD COLUMN outcome TEXT",
            "UPDATE ingests SET outcome = 'finished' WHERE finished_at IS NOT NULL",
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]
FINISHED, REFUSED = "finished", "refused"


def _rekey(old_key: str, event_id: str | None, customer_id: str, event_type: str, time: str,
           revenue: float | None, profile: str | None) -> str:
    """An event key of schemas 1-2 in the form of schema 3 (used by migration 3 only)."""
    if str(old_key).startswith("id:") and event_id is not None:
        return event_key(profile or "generic", event_id, customer_id, event_type, time, revenue)
    return content_key(customer_id, event_type, time, revenue)


@dataclass
class ResultsStore(SqliteStore):
    """Experiments' send logs and events in one SQLite file; safe to share across threads."""

    MIGRATIONS: ClassVar[tuple[Migration, ...]] = MIGRATIONS
    KIND: ClassVar[str] = "results"
    OPEN_FIX: ClassVar[str] = "pass a GenEmail results SQLite file (or a new path) with --db (GENEMAIL_RESULTS_DB)"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # Migration 3 derives keys and ids in Python: the functions it calls exist on every connection.
        with super()._connect() as conn:
            conn.create_function("genemail_normalize_id", 1, normalize_id, deterministic=True)
            conn.create_function("genemail_rekey", 7, _rekey, deterministic=True)
            yield conn

    # --- writing -------------------------------------------------------------------------------
    def record_sends(self, sends: "pd.DataFrame") -> tuple[int, int]:
        """Record send log rows (columns :data:`STORED_FIELDS`); return (added, already recorded).

        Refuses the whole log, writing nothing, when a customer is already recorded in the
        experiment with another arm: re-assigning a customer would mix two arms' outcomes.
        """
        rows = sends[list(STORED_FIELDS)].astype(object).where(sends[list(STORED_FIELDS)].notna(), None)
        now = utc_now("microseconds")
        with self._write() as conn:
            for experiment in sorted(set(rows["experiment"])):
                known = dict(conn.execute("SELECT customer_id, arm FROM sends WHERE experiment = ?", (experiment,)))
                part = rows[rows["experiment"] == experiment]
                clash = part[part["customer_id"].map(known).notna() & (part["customer_id"].map(known) != part["arm"])]
                if len(clash):
                    first = clash.iloc[0]
                    raise DataError(
                        f"customer {first['customer_id']!r} is recorded in experiment {experiment!r} with arm "
                        f"{known[first['customer_id']]!r}, the send log says {first['arm']!r} "
                        f"({len(clash)} customer(s) differ)", where=str(self.path),
                        fix="a customer keeps its arm: re-run the campaign with the same experiment name and "
                            "seed, or give a new experiment a new name")
            before = conn.total_changes
            conn.executemany(
                f"INSERT INTO sends ({', '.join(STORED_FIELDS)}, recorded_at) VALUES "
                f"({', '.join('?' for _ in STORED_FIELDS)}, ?) ON CONFLICT (experiment, customer_id) DO NOTHING",
                [(*values, now) for values in rows.itertuples(index=False, name=None)],
            )
            added = conn.total_changes - before  # rows skipped by ON CONFLICT are not changes
        return added, len(rows) - added

    def add_events(self, experiment: str, events: "pd.DataFrame | Mapping[str, Sequence[Any]]", source: str) -> int:
        """Store normalized events (one transaction, committed on return); return how many were new.

        ``events`` has the columns event_key, event_id, customer_id, event_type, time, revenue, line
        (a DataFrame or a mapping of equal-length sequences).
        """
        if len(events["event_key"]) == 0:
            return 0
        now = utc_now("microseconds")
        values = [
            (experiment, key, event_id, customer_id, event_type, time,
             None if revenue is None or revenue != revenue else float(revenue), source, int(line), now)
            for key, event_id, customer_id, event_type, time, revenue, line in zip(
                events["event_key"], events["event_id"], events["customer_id"], events["event_type"],
                events["time"], events["revenue"], events["line"])
        ]
        with self._write() as conn:
            before = conn.total_changes
            conn.executemany(
                f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' for _ in EVENT_COLUMNS)}) "
                "ON CONFLICT (experiment, event_key) DO NOTHING", values)
            return conn.total_changes - before

    def start_ingest(self, experiment: str, send_log: Path, events_file: Path) -> int:
        """Note that an ingest began (an unfinished one in the table is a crashed run)."""
        with self._write() as conn:
            cur = conn.execute("INSERT INTO ingests (experiment, send_log, events_file, started_at) VALUES (?, ?, ?, ?)",
                               (experiment, str(send_log), str(events_file), utc_now("microseconds")))
            return int(cur.lastrowid)

    def finish_ingest(self, ingest_id: int, result: dict[str, Any]) -> None:
        """Record the result of a completed ingest."""
        with self._write() as conn:
            conn.execute("UPDATE ingests SET finished_at = ?, result = ?, outcome = ? WHERE ingest_id = ?",
                         (utc_now("microseconds"), json.dumps(result, ensure_ascii=False), FINISHED, ingest_id))

    def refuse_ingest(self, experiment: str, send_log: Path, events_file: Path, result: dict[str, Any]) -> int:
        """Record an ingest that stored nothing because its file was refused (with the counts and the reason)."""
        now = utc_now("microseconds")
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO ingests (experiment, send_log, events_file, started_at, finished_at, result, outcome) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (experiment, str(send_log), str(events_file), now, now, json.dumps(result, ensure_ascii=False),
                 REFUSED))
            return int(cur.lastrowid)

    # --- reading -------------------------------------------------------------------------------
    @staticmethod
    def _count(conn: sqlite3.Connection, table: str) -> int:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def experiments(self) -> list[str]:
        """Names of the experiments with a recorded send log, sorted."""
        with self._connect() as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT experiment FROM sends ORDER BY experiment")]

    def count_events(self, experiment: str | None = None) -> int:
        """Stored events (of one experiment, or all)."""
        with self._connect() as conn:
            if experiment is None:
                return self._count(conn, "events")
            return int(conn.execute("SELECT COUNT(*) FROM events WHERE experiment = ?", (experiment,)).fetchone()[0])

    def events_by_source(self, experiment: str) -> dict[str, int]:
        """Stored events of an experiment per source file name (the file that first brought each)."""
        with self._connect() as conn:
            return dict(conn.execute("SELECT source, COUNT(*) FROM events WHERE experiment = ? GROUP BY source",
                                     (experiment,)).fetchall())

    def arm_counts(self, experiment: str, metric: str) -> "pd.DataFrame":
        """Per segment and arm: recipients ``n``, customers with a ``metric`` event at or after their
        send (``events``), and conversion revenue after the send (``revenue``)."""
        sql = """
            WITH hit AS (
                SELECT e.customer_id FROM events e JOIN sends s
                  ON s.experiment = e.experiment AND s.customer_id = e.customer_id
                WHERE e.experiment = :x AND e.event_type = :metric AND e.time >= s.sent_at
                GROUP BY e.customer_id),
            money AS (
                SELECT e.customer_id, SUM(e.revenue) AS revenue FROM events e JOIN sends s
                  ON s.experiment = e.experiment AND s.customer_id = e.customer_id
                WHERE e.experiment = :x AND e.event_type = 'conversion' AND e.time >= s.sent_at
                GROUP BY e.customer_id)
            SELECT s.segment, s.arm, COUNT(*) AS n, COUNT(hit.customer_id) AS events,
                   COALESCE(SUM(money.revenue), 0.0) AS revenue
            FROM sends s LEFT JOIN hit ON hit.customer_id = s.customer_id
                         LEFT JOIN money ON money.customer_id = s.customer_id
            WHERE s.experiment = :x GROUP BY s.segment, s.arm ORDER BY s.segment, s.arm"""
        return self._frame(sql, {"x": experiment, "metric": metric}, ["segment", "arm", "n", "events", "revenue"])

    def customer_firsts(self, experiment: str, event_types: tuple[str, ...], as_of: str | None = None) -> "pd.DataFrame":
        """Per recipient and event type: the first event at or after the send and, for conversions,
        the revenue; only events (and sends) at or before ``as_of`` when given (the stored time form).

        Columns: customer_id, event_type, time, revenue.
        """
        marks = ", ".join(f":t{i}" for i in range(len(event_types)))
        sql = f"""
            SELECT s.customer_id, e.event_type, MIN(e.time) AS time, SUM(e.revenue) AS revenue
            FROM sends s JOIN events e ON e.experiment = s.experiment AND e.customer_id = s.customer_id
            WHERE s.experiment = :x AND e.event_type IN ({marks}) AND e.time >= s.sent_at
              AND (:as_of IS NULL OR (e.time <= :as_of AND s.sent_at <= :as_of))
            GROUP BY s.customer_id, e.event_type"""
        params = {"x": experiment, "as_of": as_of, **{f"t{i}": t for i, t in enumerate(event_types)}}
        return self._frame(sql, params, ["customer_id", "event_type", "time", "revenue"])

    def recipients(self, experiment: str, as_of: str | None = None) -> "pd.DataFrame":
        """The customers sent (or held out) at or before ``as_of``: customer_id, segment, arm, sent_at, covariates."""
        sql = """SELECT customer_id, segment, arm, sent_at, covariates FROM sends
                 WHERE experiment = :x AND (:as_of IS NULL OR sent_at <= :as_of) ORDER BY customer_id"""
        return self._frame(sql, {"x": experiment, "as_of": as_of},
                           ["customer_id", "segment", "arm", "sent_at", "covariates"])

    def first_events(self, experiment: str, metric: str) -> "pd.DataFrame":
        """Each recipient's first ``metric`` event at or after the send: customer_id, segment, arm, time."""
        sql = """
            SELECT s.customer_id, s.segment, s.arm, MIN(e.time) AS time
            FROM sends s JOIN events e ON e.experiment = s.experiment AND e.customer_id = s.customer_id
            WHERE s.experiment = :x AND e.event_type = :metric AND e.time >= s.sent_at
            GROUP BY s.customer_id ORDER BY time"""
        return self._frame(sql, {"x": experiment, "metric": metric}, ["customer_id", "segment", "arm", "time"])

    def sends(self, experiment: str) -> "pd.DataFrame":
        """The recorded send log of an experiment (columns :data:`STORED_FIELDS`)."""
        sql = f"SELECT {', '.join(STORED_FIELDS)} FROM sends WHERE experiment = :x ORDER BY customer_id"
        return self._frame(sql, {"x": experiment}, list(STORED_FIELDS))

    def events(self, experiment: str) -> "pd.DataFrame":
        """The stored events of an experiment, in storage order (columns :data:`EVENT_COLUMNS`)."""
        sql = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE experiment = :x ORDER BY event_rowid"
        return self._frame(sql, {"x": experiment}, list(EVENT_COLUMNS))

    def releases(self, experiment: str) -> list[dict[str, Any]]:
        """The release(s) that sent an experiment: repo, revision, sha and how many rows each."""
        sql = """SELECT release_repo, release_revision, release_sha, COUNT(*) AS rows FROM sends
                 WHERE experiment = :x GROUP BY 1, 2, 3 ORDER BY rows DESC"""
        with self._connect() as conn:
            return [{"repo_id": r[0], "revision": r[1], "sha": r[2], "rows": r[3]}
                    for r in conn.execute(sql, {"x": experiment})]

    def ingests(self, experiment: str | None = None) -> list[dict[str, Any]]:
        """Every ingest run (of one experiment, or all), oldest first (``finished_at`` is null for a run
        that did not finish; ``outcome`` is ``finished``, ``refused`` or null)."""
        with self._connect() as conn:
            if experiment is None:
                rows = conn.execute("SELECT * FROM ingests ORDER BY ingest_id").fetchall()
            else:
                rows = conn.execute("SELECT * FROM ingests WHERE experiment = ? ORDER BY ingest_id",
                                    (experiment,)).fetchall()
        return [{**dict(r), "result": json.loads(r["result"]) if r["result"] else None} for r in rows]

    def _frame(self, sql: str, params: dict[str, Any], columns: list[str]) -> "pd.DataFrame":
        import pandas as pd

        with self._connect() as conn:
            rows = conn.execute(sql, params).fetchall()
        return pd.DataFrame([tuple(r) for r in rows], columns=columns)
