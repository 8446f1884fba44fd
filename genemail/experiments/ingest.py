"""Ingest outcome events: send log + events file -> the results database, exactly, or not at all.

Order of work:

1. The send log is validated and recorded (one transaction).
2. **Validation pass.** The whole events file is read: its columns (all of them, a JSON key seen
   only on the last line included), every row normalized and checked, ids matched to the send log.
   Normalized events go to a temporary Parquet file; nothing is written to the database. A file
   that cannot be decoded or parsed is refused here. So is a file with more than
   :attr:`IngestThresholds.max_bad_share` bad rows or :attr:`IngestThresholds.max_unmatched_share`
   rows of customers not in the send log (default 5% each, of the rows that are outcomes): the
   refusal names the first rows and the likely cause, is recorded in the ``ingests`` table, and
   stores nothing from the file.
3. **Store pass.** The validated events are committed in chunks, each in its own transaction;
   ``on_progress`` is called after each commit, so whatever it was told is on disk. A crash loses at
   most the chunk in flight and leaves the run unfinished (the report then gives no decision);
   re-running the same ingest adds only what is missing (every event has a unique key).

Nothing is dropped silently: bad rows are counted and listed by position, known non-outcome events
are counted as skipped, conversions whose amount cannot be read are kept and counted, events of
customers absent from the send log are stored and reported (the report counts only recipients), and
events earlier than their customer's ``sent_at`` are reported.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from genemail.errors import ConfigError, DataError
from genemail.experiments.assignment import HOLDOUT
from genemail.experiments.diagnose import likely_cause
from genemail.experiments.events import (
    CLICK, EVENT_FIELDS, MAX_LISTED, OPEN, NormalizedChunk, event_key, normalize_chunk, resolve_mapping,
)
from genemail.experiments.ids import IdMatcher, normalize_id
from genemail.experiments.jsonshapes import ACCEPTED_SHAPES
from genemail.experiments.sendlog import read_send_log
from genemail.experiments.store import ResultsStore
from genemail.experiments.tables import DEFAULT_CHUNK_ROWS, header, iter_chunks, table_format

MAX_IDS_LISTED = 20
MAX_SAMPLES = 50  # raw records kept from the start of a file to explain a refusal
DEFAULT_MAX_SHARE = 0.05
_BRAZE_FOLDER = re.compile(r"^event_type=(.+)$")


@dataclass(frozen=True)
class IngestThresholds:
    """The most bad and unmatched rows a file may hold and still be stored (shares of its outcome rows).

    Args:
        max_bad_share: rows that cannot be used (unknown type, bad time, missing id, unreadable line).
        max_unmatched_share: events of customers who are not in the send log.
    """

    max_bad_share: float = DEFAULT_MAX_SHARE
    max_unmatched_share: float = DEFAULT_MAX_SHARE

    def __post_init__(self) -> None:
        for name in ("max_bad_share", "max_unmatched_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ConfigError(f"{name}={value!r} is invalid", where="IngestThresholds",
                                  fix=f"pass {name} as a share in [0, 1], e.g. 0.05 for 5%")


@dataclass(frozen=True)
class IngestProgress:
    """What is committed so far: rows read, events added, the last position stored (a line, row or record)."""

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
    revenue_missing: int = 0
    revenue_missing_rows: list[tuple[int, str]] = field(default_factory=list)
    id_matching: str = ""
    ids_are_row_numbers: bool = False
    thresholds: dict[str, float] = field(default_factory=dict)
    outcome: str = "finished"
    refusal: str | None = None

    @property
    def outcome_rows(self) -> int:
        """Rows that are outcomes (read, less the skipped non-outcome events): the thresholds' base."""
        return self.read - sum(self.skipped.values())

    @property
    def bad_share(self) -> float:
        """Bad rows over outcome rows (0 for a file without outcome rows)."""
        return self.bad / self.outcome_rows if self.outcome_rows else 0.0

    @property
    def unmatched_share(self) -> float:
        """Events of customers not in the send log over outcome rows."""
        return self.unknown_customer_events / self.outcome_rows if self.outcome_rows else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        d = asdict(self)
        d["bad_rows"] = [{self.unit: position, "reason": reason} for position, reason in self.bad_rows]
        d["revenue_missing_rows"] = [{self.unit: p, "reason": r} for p, r in self.revenue_missing_rows]
        d.update(outcome_rows=self.outcome_rows, unmatched=self.unknown_customer_events,
                 bad_share=self.bad_share, unmatched_share=self.unmatched_share)
        return d

    def summary(self) -> str:
        """A few lines for the CLI and the app."""
        lines = [
            f"experiment {self.experiment}: send log {self.send_log}, {self.sends_added + self.sends_known} rows "
            f"({self.sends_added} new, {self.sends_known} already recorded)",
            f"events {self.events_file}: columns mapped as {self.mapping['description']}",
            f"read {self.read} rows: {self.added} added, {self.duplicates} duplicates (already stored), "
            f"{self.bad} bad, {sum(self.skipped.values())} skipped",
            self.id_matching,
        ]
        if self.ids_are_row_numbers:
            lines.append("the event-id column numbers the rows (1, 2, 3, ...): rows are keyed by their content, "
                         "not by it")
        if self.skipped:
            lines.append("skipped (not outcomes): " + ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items())))
        if self.bad:
            lines.append("bad rows by reason: " + "; ".join(f"{k}: {v}" for k, v in self.bad_by_reason.items()))
            listed = ", ".join(f"{self.unit} {p}: {r}" for p, r in self.bad_rows[:10])
            lines.append(f"first bad rows: {listed}" + (" ..." if self.bad > 10 else ""))
        if self.revenue_missing:
            listed = ", ".join(f"{self.unit} {p}: {r}" for p, r in self.revenue_missing_rows[:5])
            lines.append(f"{self.revenue_missing} conversions kept with their amount missing: {listed}"
                         + (" ..." if self.revenue_missing > 5 else ""))
        if self.unknown_customer_events:
            ids = ", ".join(map(repr, self.unknown_customer_ids[:5]))
            lines.append(f"{self.unknown_customer_events} events of {self.unknown_customers} customers not in the "
                         f"send log (e.g. {ids}): stored, not counted in the report")
        if self.before_send:
            lines.append(f"{self.before_send} events are earlier than their customer's sent_at: not counted "
                         "(check the export's time zone; times without an offset are read as UTC)")
        if self.holdout_engagement:
            lines.append(f"{self.holdout_engagement} open/click events of holdout customers, who were sent "
                         "nothing: check that the platform sent only the segmented and control rows")
        return "\n".join(line for line in lines if line)


def default_type_from_path(path: Path) -> str | None:
    """The event type of Braze Currents' folder layout (``.../event_type=users.messages.email.Open/...``)."""
    for part in reversed(Path(path).parts[:-1]):
        found = _BRAZE_FOLDER.match(part)
        if found:
            return found.group(1)
    return None


def ingest_events(db_path: Path, send_log_path: Path, events_path: Path, *, default_event_type: str | None = None,
                  chunk_rows: int = DEFAULT_CHUNK_ROWS, thresholds: IngestThresholds | None = None,
                  on_progress: Callable[[IngestProgress], None] | None = None) -> IngestResult:
    """Record the send log and the events file in ``db_path``; return the counts.

    ``default_event_type`` is the type of every row of a file without an event-type column (a
    platform's per-type export, e.g. a file of clicks); a Braze Currents folder name
    ``event_type=...`` gives it too. Raises :class:`DataError` for a file that cannot be used: a bad
    send log, an events file without the needed columns, one that cannot be decoded or parsed, or one
    above the thresholds (nothing from the events file is stored then).
    """
    thresholds = thresholds or IngestThresholds()
    send_log_path, events_path = Path(send_log_path), Path(events_path)
    sends = read_send_log(send_log_path)
    experiments = sorted(set(sends["experiment"]))
    if len(experiments) != 1:
        raise DataError(f"send log holds {len(experiments)} experiments ({', '.join(experiments[:5])})",
                        where=str(send_log_path), fix="ingest one campaign's send log (one experiment) at a time")
    fmt = table_format(events_path)
    folder_type = None if default_event_type else default_type_from_path(events_path)
    mapping = resolve_mapping(header(events_path, fmt), str(events_path), default_event_type or folder_type,
                              default_source="--event-type" if default_event_type else "folder name",
                              shapes_hint=ACCEPTED_SHAPES if fmt.kind in ("json", "jsonl") else None)
    store = ResultsStore(Path(db_path))
    matcher = IdMatcher.from_ids(sends["customer_id"])
    result = IngestResult(experiment=experiments[0], send_log=str(send_log_path), events_file=str(events_path),
                          mapping={**mapping.to_dict(), "description": mapping.describe()}, unit=fmt.unit,
                          id_matching=matcher.describe(), thresholds=asdict(thresholds))
    result.sends_added, result.sends_known = store.record_sends(sends)
    recipients = dict(zip(sends["customer_id"], zip(sends["sent_at"], sends["arm"])))
    with tempfile.TemporaryDirectory(prefix="genemail-ingest-") as tmp:
        spill = _Spill(Path(tmp) / "events.parquet")
        validation = _validate(events_path, fmt, mapping, matcher, recipients, result, spill, chunk_rows)
        spill.close()
        refusal = _refusal(result, thresholds)
        if refusal is not None:
            cause = likely_cause(result, validation.samples, validation.bad_values, mapping, matcher,
                                 validation.unmatched_examples)
            result.outcome, result.refusal = "refused", f"{refusal}; likely cause: {cause}"
            store.refuse_ingest(result.experiment, send_log_path, events_path, result.to_dict())
            raise DataError(f"refused: {refusal}; nothing from this file was stored", where=str(events_path),
                            fix=f"likely cause: {cause}. {_first_rows(result)}Fix the export or the mapping and "
                                "ingest again (the thresholds are --max-bad and --max-unmatched)")
        ingest_id = store.start_ingest(result.experiment, send_log_path, events_path)
        scope = None if result.ids_are_row_numbers else mapping.profile
        for batch in spill.batches(chunk_rows):
            batch["event_key"] = [event_key(scope, *row) for row in zip(
                batch["event_id"], batch["customer_id"], batch["event_type"], batch["time"], batch["revenue"])]
            added = store.add_events(result.experiment, batch, source=events_path.name)
            result.added += added
            result.duplicates += len(batch["event_key"]) - added
            if on_progress is not None:
                on_progress(IngestProgress(read=result.read, added=result.added, position=max(batch["line"]),
                                           unit=fmt.unit))
        store.finish_ingest(ingest_id, result.to_dict())
    return result


@dataclass
class _Validation:
    """What the validation pass keeps to explain a refusal."""

    samples: list[dict[str, Any]] = field(default_factory=list)
    bad_values: dict[str, list[Any]] = field(default_factory=dict)
    unmatched_examples: list[str] = field(default_factory=list)


def _validate(path: Path, fmt: Any, mapping: Any, matcher: IdMatcher, recipients: dict[str, tuple[str, str]],
              result: IngestResult, spill: "_Spill", chunk_rows: int) -> _Validation:
    """Read the whole file once: count everything, match ids, spill the valid events; store nothing."""
    found = _Validation()
    reasons: Counter = Counter()
    skipped: Counter = Counter()
    unknown: dict[str, None] = {}
    sequence = _RowNumbers()
    for chunk in iter_chunks(path, fmt, chunk_rows=chunk_rows):
        if len(found.samples) < MAX_SAMPLES:
            found.samples.extend(chunk.records[:MAX_SAMPLES - len(found.samples)])
        normalized = normalize_chunk(chunk, mapping)
        result.read += len(chunk)
        _count_bad(result, normalized.bad, reasons)
        for reason, values in normalized.bad_values.items():
            found.bad_values.setdefault(reason, []).extend(values[:20])
        skipped.update(normalized.skipped)
        result.revenue_missing += len(normalized.revenue_missing)
        room = MAX_LISTED - len(result.revenue_missing_rows)
        result.revenue_missing_rows.extend(normalized.revenue_missing[:max(room, 0)])
        _match(result, normalized, matcher, recipients, unknown, found)
        id_column = mapping.columns.get("event_id")  # every record's id, skipped ones included
        sequence.update([normalize_id(r.get(id_column)) for r in chunk.records] if id_column else [None])
        spill.write(normalized.columns)
    result.bad_by_reason = dict(reasons.most_common())
    result.skipped = dict(skipped)
    result.unknown_customers = len(unknown)
    result.unknown_customer_ids = list(unknown)[:MAX_IDS_LISTED]
    result.ids_are_row_numbers = sequence.all_consecutive
    return found


def _match(result: IngestResult, events: NormalizedChunk, matcher: IdMatcher,
           recipients: dict[str, tuple[str, str]], unknown: dict[str, None], found: _Validation) -> None:
    """Rewrite ids to the send log's spelling; count unknown customers, events before the send, holdout
    opens/clicks."""
    ids = events.columns["customer_id"]
    for i, (customer_id, event_type, time) in enumerate(zip(ids, events.columns["event_type"],
                                                            events.columns["time"])):
        known = matcher.match(customer_id)
        if known is None:
            result.unknown_customer_events += 1
            unknown.setdefault(customer_id, None)
            if len(found.unmatched_examples) < 20:
                found.unmatched_examples.append(customer_id)
            continue
        ids[i] = known
        sent_at, arm = recipients[known]
        if time < sent_at:
            result.before_send += 1
        elif arm == HOLDOUT and event_type in (OPEN, CLICK):
            result.holdout_engagement += 1


class _RowNumbers:
    """Whether every event id of a file is the integer after the previous one (the file numbers its rows)."""

    def __init__(self) -> None:
        self.all_consecutive = True
        self.previous: int | None = None

    def update(self, event_ids: list[str | None]) -> None:
        for event_id in event_ids:
            if not self.all_consecutive:
                return
            if event_id is None or not event_id.isdigit():
                self.all_consecutive = False
                return
            number = int(event_id)
            if self.previous is not None and number != self.previous + 1:
                self.all_consecutive = False
                return
            self.previous = number


def _refusal(result: IngestResult, thresholds: IngestThresholds) -> str | None:
    """Why the file must not be stored, or ``None``."""
    problems = []
    n = result.outcome_rows
    if result.bad_share > thresholds.max_bad_share:
        problems.append(f"{result.bad} of {n} outcome rows ({result.bad_share:.1%}) are bad, above the "
                        f"{thresholds.max_bad_share:.0%} threshold")
    if result.unmatched_share > thresholds.max_unmatched_share:
        problems.append(f"{result.unknown_customer_events} of {n} outcome rows ({result.unmatched_share:.1%}) are "
                        f"of customers not in the send log, above the {thresholds.max_unmatched_share:.0%} threshold")
    return "; ".join(problems) or None


def _first_rows(result: IngestResult) -> str:
    parts = [f"{result.unit} {p}: {r.split(' (')[0]}" for p, r in result.bad_rows[:3]]
    if result.unknown_customer_ids:
        parts.append("customers not in the send log: " + ", ".join(map(repr, result.unknown_customer_ids[:3])))
    return ("First: " + "; ".join(parts) + ". ") if parts else ""


def _count_bad(result: IngestResult, bad: list[tuple[int, str]], reasons: Counter) -> None:
    result.bad += len(bad)
    room = MAX_LISTED - len(result.bad_rows)
    result.bad_rows.extend(sorted(bad)[:max(room, 0)])
    reasons.update(reason.split(" (")[0].split(" '")[0] for _, reason in bad)


class _Spill:
    """Validated events on disk between the two passes (a temporary Parquet file, one row group per chunk)."""

    COLUMNS = (*EVENT_FIELDS, "line")

    def __init__(self, path: Path) -> None:
        import pyarrow as pa

        self.path = path
        self.schema = pa.schema([("customer_id", pa.string()), ("event_type", pa.string()), ("time", pa.string()),
                                 ("event_id", pa.string()), ("revenue", pa.float64()), ("line", pa.int64())])
        self.writer: Any = None

    def write(self, columns: dict[str, list[Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not columns["customer_id"]:
            return
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, self.schema)
        self.writer.write_table(pa.table({name: columns[name] for name in self.COLUMNS}, schema=self.schema))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def batches(self, rows: int) -> Iterator[dict[str, list[Any]]]:
        import pyarrow.parquet as pq

        if self.writer is None:
            return
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=rows):
            yield batch.to_pydict()

