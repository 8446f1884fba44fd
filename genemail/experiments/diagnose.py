"""Why an events file was refused: the likely cause, in words a marketing-operations user can act on.

The ingest refuses a file with too many bad or unmatched rows (``genemail.experiments.ingest``).
The count alone does not say what to fix, so :func:`likely_cause` looks at what was read:

* unmatched ids that are email addresses: the platform's recipient column was exported instead of
  its customer-id field;
* unmatched ids that match the send log's once case, punctuation, leading zeros or a spreadsheet's
  scientific notation are set aside: ids in another format;
* unknown event types while another column holds event names: the wrong column was mapped (a
  ``Type`` column beside ``Action``);
* bad times that are a time of day beside a date column (date and time in two columns), or numbers
  in scientific notation (a spreadsheet rounded epoch times).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from genemail.data.text import show
from genemail.experiments.events import PROFILE_BY_NAME, SKIP, ColumnMapping, column_key, normalize_type
from genemail.experiments.ids import IdMatcher, looks_like_email

if TYPE_CHECKING:
    from genemail.experiments.ingest import IngestResult

_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$")
_TIME_OF_DAY = re.compile(r"^\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*[AaPp][Mm])?$")
_DATE_NAMES = ("date", "day", "eventdate", "sentdate")


def _loose(text: str) -> str:
    """An id with case, punctuation and leading zeros set aside."""
    return re.sub(r"[^0-9a-z]", "", text.casefold()).lstrip("0")


def likely_cause(result: "IngestResult", samples: list[dict[str, Any]], bad_values: dict[str, list[Any]],
                 mapping: ColumnMapping, matcher: IdMatcher, unmatched: list[str]) -> str:
    """One sentence: the most likely reason for the refusal, and what to do."""
    causes = []
    if result.unknown_customer_events and result.unmatched_share >= result.bad_share:
        causes.append(_unmatched_cause(unmatched, mapping, matcher))
    if result.bad:
        causes.append(_bad_cause(result, samples, bad_values, mapping))
    if result.unknown_customer_events and result.unmatched_share < result.bad_share:
        causes.append(_unmatched_cause(unmatched, mapping, matcher))
    return "; ".join(c for c in causes if c) or "rows that cannot be used (see the first rows)"


def _unmatched_cause(ids: list[str], mapping: ColumnMapping, matcher: IdMatcher) -> str:
    column = mapping.columns["customer_id"]
    id_field = PROFILE_BY_NAME[mapping.profile].id_field
    emails = [i for i in ids if looks_like_email(i)]
    if ids and len(emails) * 2 >= len(ids):
        return (f"emails instead of ids: column {column!r} holds email addresses (e.g. {show(emails[0])}), and "
                f"outcomes are joined to the send log on customer_id: {id_field}")
    scientific = [i for i in ids if _SCIENTIFIC.match(i)]
    if ids and len(scientific) * 2 >= len(ids):
        return (f"ids in scientific notation (e.g. {show(scientific[0])}): a spreadsheet rounded them; export the "
                "ids again as text (in the spreadsheet, format the column as Text before saving)")
    loose = {_loose(i): i for i in matcher.exact}
    pairs = [(i, loose[_loose(i)]) for i in ids if _loose(i) in loose]
    if pairs:
        mine, theirs = pairs[0]
        if mine.casefold() == theirs.casefold():
            how = ("they differ only by case, and case is significant for this send log (its ids mix upper- and "
                   "lower-case letters)")
        else:
            how = "they differ in case, punctuation or leading zeros"
        return (f"ids in another format: {show(mine)} in the file is {show(theirs)} in the send log ({how}); export "
                "the ids exactly as the send log writes them")
    example = f"; the send log has e.g. {show(matcher.example)}" if matcher.example else ""
    return (f"customers not in this send log (e.g. {show(ids[0]) if ids else '?'}{example}): check that the file "
            f"and the send log are from the same campaign, and that column {column!r} is the customer id")


def _bad_cause(result: "IngestResult", samples: list[dict[str, Any]], bad_values: dict[str, list[Any]],
               mapping: ColumnMapping) -> str:
    reason = next(iter(result.bad_by_reason), "")
    if reason.startswith("unknown event type"):
        column = mapping.columns.get("event_type")
        other = _column_of_event_names(samples, exclude=column)
        shown = ", ".join(sorted({show(v) for v in bad_values.get("unknown event type", [])[:20]})[:4])
        if other:
            return (f"wrong column mapping: column {column!r} was taken as the event type but holds {shown}, while "
                    f"column {other!r} holds event names: rename {other!r} to event_type (or drop {column!r})")
        return (f"event names not known: column {column!r} holds {shown}; rename them to delivered, open, click, "
                "conversion, unsubscribe, bounce or complaint, or see docs/EXPERIMENTS.md for each platform's names")
    if reason.startswith("bad time"):
        values = [str(v).strip() for v in bad_values.get("bad time", []) if v is not None]
        column = mapping.columns["time"]
        if values and sum(bool(_SCIENTIFIC.match(v)) for v in values) * 2 >= len(values):
            return (f"times in scientific notation (e.g. {show(values[0])}) in column {column!r}: a spreadsheet "
                    "rounded the epoch times; export them again as text or ISO 8601")
        if values and sum(bool(_TIME_OF_DAY.match(v)) for v in values) * 2 >= len(values):
            date = next((c for c in (samples[0] if samples else {}) if column_key(c) in _DATE_NAMES and c != column), None)
            two = f" and the date in column {date!r}" if date else ""
            return (f"date and time in two columns: column {column!r} holds only a time of day (e.g. "
                    f"{show(values[0])}){two}; join them into one column (2025-03-01T10:30:00)")
        return (f"times in a format that is not read, in column {column!r} (e.g. {show(values[0]) if values else '?'}"
                "); use ISO 8601 (2025-03-01T10:30:00Z) or Unix epoch seconds")
    if reason.startswith("missing customer id"):
        return (f"column {mapping.columns['customer_id']!r} is empty on most rows: "
                f"{PROFILE_BY_NAME[mapping.profile].id_field}")
    if reason.startswith("has ") or reason.startswith("is not valid JSON"):
        return "lines that are not records (wrong number of fields, or invalid JSON): the file is damaged or cut"
    return f"rows that cannot be used ({reason})"


def _column_of_event_names(samples: list[dict[str, Any]], exclude: str | None) -> str | None:
    """A column (other than ``exclude``) whose sample values are mostly event names we know."""
    hits: Counter = Counter()
    for record in samples:
        for column, value in record.items():
            if column == exclude or not isinstance(value, str):
                continue
            kind = normalize_type(value)
            if kind is not None and kind != SKIP:
                hits[column] += 1
    if not hits:
        return None
    column, count = hits.most_common(1)[0]
    return column if count * 2 >= len(samples) else None

