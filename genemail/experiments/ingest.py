"""Ingest outcome events: send log + events file -> the results database, durably and idempotently.

Order of work: the send log is validated and recorded first (one transaction), then the events file
is read in chunks, and each chunk's valid events are committed in their own transaction before the
next chunk is read. ``on_progress`` is called after each commit: whatever it was told is on disk,
so a crash loses at most the chunk in flight, and re-running the same ingest adds only what is
missing (every event has a unique key). Nothing is dropped silently: bad rows are counted and
listed by line, known non-outcome events (``processed``, ``sent``, ...) are counted as skipped,
events of customers absent from the send log are stored and reported (the report counts only
recipients), and events earlier than their customer's ``sent_at`` are reported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from genemail.errors import DataError
from genemail.experiments.assignment import HOLDOUT
from genemail.experiments.events import CLICK, MAX_LISTED, OPEN, normalize_chunk, resolve_mapping
from genemail.experiments.sendlog import read_send_log
from genemail.experiments.store import ResultsStore
from genemail.experiments.tables import DEFAULT_CHUNK_ROWS, header, iter_chunks, table_format

MAX_IDS_LISTED = 20


@dataclass(frozen=True)
class IngestProgress:
    """What is committed so far: rows read, events added, the last position read (a line, or a Parquet row)."""

    read: int
    added: int
    position: int
    unit: str = "line"


@dataclass
class IngestResult:
    """Counts of one ingest (``bad_rows`` lists the first :data:`MAX_LISTED` bad rows by position)."""

    experiment: str
    send_log: str
    events_file: str
    mapping: dict[str, Any]
    unit: str = "line"
    sends_added: int = 0
    sends_known: int = 0
    read: int = 0
    added: int = 0
    duplicates: int = 0
    bad: int = 0
    bad_rows: list[tuple[int, str]] = field(default_factory=list)
    bad_by_reason: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    unknown_customer_events: int = 0
    unknown_customers: int = 0
    unknown_customer_ids: list[str] = field(default_factory=list)
    before_send: int = 0
    holdout_engagement: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        d = asdict(self)
        d["bad_rows"] = [{self.unit: position, "reason": reason} for position, reason in self.bad_rows]
        return d

    def summary(self) -> str:
        """A few lines for the CLI and the app."""
        lines = [
            f"experiment {self.experiment}: send log {self.send_log}, {self.sends_added + self.sends_known} rows "
            f"({self.sends_added} new, {self.sends_known} already recorded)",
            f"events {self.events_file}: columns mapped as {self.mapping['description']}",
            f"read {self.read} rows: {self.added} added, {self.duplicates} duplicates (already stored), "
            f"{self.bad} bad, {sum(self.skipped.values())} skipped",
        ]
        if self.skipped:
            lines.append("skipped (not outcomes): " + ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items())))
        if self.bad:
            lines.append("bad rows by reason: " + "; ".join(f"{k}: {v}" for k, v in self.bad_by_reason.items()))
            listed = ", ".join(f"{self.unit} {p}: {r}" for p, r in self.bad_rows[:10])
            lines.append(f"first bad rows: {listed}" + (" ..." if self.bad > 10 else ""))
        if self.unknown_customer_events:
            ids = ", ".join(self.unknown_customer_ids[:5])
            lines.append(f"{self.unknown_customer_events} events of {self.unknown_customers} customers not in the "
                         f"send log (e.g. {ids}): stored, not counted in the report")
        if self.before_send:
            lines.append(f"{self.before_send} events are earlier than their customer's sent_at: not counted "
                         "(check the export's time zone; times without an offset are read as UTC)")
        if self.holdout_engagement:
            lines.append(f"{self.holdout_engagement} open/click events of holdout customers, who were sent "
                         "nothing: check that the platform sent only the segmented and control rows")
        return "\n".join(lines)


def ingest_events(db_path: Path, send_log_path: Path, events_path: Path, *, default_event_type: str | None = None,
                  chunk_rows: int = DEFAULT_CHUNK_ROWS,
                  on_progress: Callable[[IngestProgress], None] | None = None) -> IngestResult:
    """Record the send log and the events file in ``db_path``; return the counts.

    ``default_event_type`` is the type of every row of a file without an event-type column (a
    platform's per-type export, e.g. a file of clicks). Raises :class:`DataError` for a file that
    cannot be used at all (a bad send log, an events file without the needed columns).
    """
    send_log_path, events_path = Path(send_log_path), Path(events_path)
    sends = read_send_log(send_log_path)
    experiments = sorted(set(sends["experiment"]))
    if len(experiments) != 1:
        raise DataError(f"send log holds {len(experiments)} experiments ({', '.join(experiments[:5])})",
                        where=str(send_log_path), fix="ingest one campaign's send log (one experiment) at a time")
    fmt = table_format(events_path)
    mapping = resolve_mapping(header(events_path, fmt), str(events_path), default_event_type)
    store = ResultsStore(Path(db_path))
    result = IngestResult(experiment=experiments[0], send_log=str(send_log_path), events_file=str(events_path),
                          mapping={**mapping.to_dict(), "description": mapping.describe()}, unit=fmt.unit)
    result.sends_added, result.sends_known = store.record_sends(sends)
    ingest_id = store.start_ingest(result.experiment, send_log_path, events_path)
    recipients = dict(zip(sends["customer_id"], zip(sends["sent_at"], sends["arm"])))
    reasons: Counter = Counter()
    skipped: Counter = Counter()
    unknown: dict[str, None] = {}
    for chunk in iter_chunks(events_path, fmt, chunk_rows=chunk_rows):
        normalized = normalize_chunk(chunk, mapping)
        events = normalized.events
        result.read += len(chunk)
        _count_bad(result, normalized.bad, reasons)
        skipped.update(normalized.skipped)
        _count_attribution(result, events, recipients, unknown)
        added = store.add_events(result.experiment, events, source=events_path.name)
        result.added += added
        result.duplicates += len(events) - added
        if on_progress is not None:
            on_progress(IngestProgress(read=result.read, added=result.added, position=_last(chunk), unit=fmt.unit))
    result.bad_by_reason = dict(reasons.most_common())
    result.skipped = dict(skipped)
    result.unknown_customers = len(unknown)
    result.unknown_customer_ids = list(unknown)[:MAX_IDS_LISTED]
    store.finish_ingest(ingest_id, result.to_dict())
    return result


def _count_bad(result: IngestResult, bad: list[tuple[int, str]], reasons: Counter) -> None:
    result.bad += len(bad)
    room = MAX_LISTED - len(result.bad_rows)
    result.bad_rows.extend(sorted(bad)[:max(room, 0)])
    reasons.update(reason.split(" (")[0] for _, reason in bad)


def _count_attribution(result: IngestResult, events: Any, recipients: dict[str, tuple[str, str]],
                       unknown: dict[str, None]) -> None:
    """Count events of unknown customers, events before the send, and holdout opens/clicks."""
    for customer_id, event_type, time in zip(events["customer_id"], events["event_type"], events["time"]):
        sent = recipients.get(customer_id)
        if sent is None:
            result.unknown_customer_events += 1
            unknown.setdefault(customer_id, None)
            continue
        if time < sent[0]:
            result.before_send += 1
        elif sent[1] == HOLDOUT and event_type in (OPEN, CLICK):
            result.holdout_engagement += 1


def _last(chunk: Any) -> int:
    return max([*chunk.positions, *(p for p, _ in chunk.errors)], default=0)
