"""Outcome events from an email platform: column mappings, event-type names, row validation.

An event is ``customer_id``, ``event_type`` (one of :data:`EVENT_TYPES`), ``time``, and optionally
``event_id`` and ``revenue``. Platforms name these columns differently, so a file's header is matched
against :data:`PROFILES` (names compared without case, spaces or underscores), and the profile that
matched is reported. A platform's own event names are mapped by :func:`normalize_type`; names that
are known but are not outcomes (``processed``, ``deferred``, ``sent``, ...) are counted as skipped;
anything else is a bad row.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from genemail.errors import DataError
from genemail.experiments.times import parse_times

if TYPE_CHECKING:
    import pandas as pd

    from genemail.experiments.tables import Chunk

DELIVERED, OPEN, CLICK, CONVERSION, UNSUBSCRIBE, BOUNCE = (
    "delivered", "open", "click", "conversion", "unsubscribe", "bounce")
COMPLAINT = "complaint"  # a spam report: a guardrail metric of the report
EVENT_TYPES: tuple[str, ...] = (DELIVERED, OPEN, CLICK, CONVERSION, UNSUBSCRIBE, BOUNCE, COMPLAINT)
EVENT_FIELDS: tuple[str, ...] = ("customer_id", "event_type", "time", "event_id", "revenue")
# What platforms call our event types (after lower-casing, spaces/hyphens -> "_", and keeping the
# last part of dotted names such as Braze's ``users.messages.email.Open``).
_SYNONYMS: dict[str, str] = {
    **{name: DELIVERED for name in ("delivered", "delivery", "received", "received_email", "delivered_email")},
    **{name: OPEN for name in ("open", "opens", "opened", "opened_email", "email_open", "unique_open")},
    **{name: CLICK for name in ("click", "clicks", "clicked", "clicked_email", "email_click", "unique_click")},
    **{name: CONVERSION for name in ("conversion", "conversions", "converted", "purchase", "order",
                                     "placed_order", "ordered_product")},
    **{name: UNSUBSCRIBE for name in ("unsubscribe", "unsubscribed", "unsub", "group_unsubscribe",
                                      "unsubscribed_from_list")},
    **{name: BOUNCE for name in ("bounce", "bounces", "bounced", "bounced_email", "hard_bounce", "softbounce",
                                 "soft_bounce")},
    **{name: COMPLAINT for name in ("complaint", "complaints", "complained", "spamreport", "spam_report",
                                    "markasspam", "marked_as_spam", "spam")},
}
# Known platform events that are not outcomes of the email: counted, never stored, never "bad".
SKIPPED_TYPES: frozenset[str] = frozenset({
    "processed", "deferred", "dropped", "accepted", "sent", "send", "queued", "stored", "failed",
    "group_resubscribe", "resubscribe",
})
MAX_LISTED = 100  # bad rows listed by line (all are counted)


def _key(name: str) -> str:
    """How column names are compared: lower case, no spaces or underscores, no byte-order mark."""
    return re.sub(r"[\s_]", "", str(name).lstrip("\ufeff").lower())


@dataclass(frozen=True)
class ColumnProfile:
    """One platform's export: the columns that identify it and its name for each event field."""

    name: str
    description: str
    detect: tuple[str, ...]
    columns: dict[str, tuple[str, ...]]


GENERIC = ColumnProfile(
    "generic", "generic names (customer_id, event_type, time, event_id, revenue) and common variants", (),
    {"customer_id": ("customer_id", "customer", "user_id", "external_id", "external_user_id", "contact_id"),
     "event_type": ("event_type", "event", "type", "action", "metric_name"),
     "time": ("time", "timestamp", "event_time", "occurred_at", "datetime", "created_at", "date"),
     "event_id": ("event_id", "id"),
     "revenue": ("revenue", "value", "$value", "amount", "order_value")},
)
PROFILES: tuple[ColumnProfile, ...] = (
    ColumnProfile("sendgrid", "SendGrid Event Webhook, with customer_id sent as a custom argument",
                  ("sg_event_id",),
                  {"customer_id": ("customer_id",), "event_type": ("event",), "time": ("timestamp",),
                   "event_id": ("sg_event_id",), "revenue": ()}),
    ColumnProfile("mailgun", "Mailgun Events API, with customer_id sent as a user variable (v:customer_id)",
                  ("user-variables.customer_id",),
                  {"customer_id": ("user-variables.customer_id",), "event_type": ("event",), "time": ("timestamp",),
                   "event_id": ("id",), "revenue": ()}),
    ColumnProfile("sfmc", "Salesforce Marketing Cloud tracking extract or data view (SubscriberKey = customer id)",
                  ("subscriberkey",),
                  {"customer_id": ("subscriberkey",), "event_type": ("eventtype",), "time": ("eventdate",),
                   "event_id": (), "revenue": ()}),
    GENERIC,
)


@dataclass(frozen=True)
class ColumnMapping:
    """The profile used and ``{event field: file column}`` (``event_type`` may come from a default)."""

    profile: str
    columns: dict[str, str]
    default_event_type: str | None = None

    def describe(self) -> str:
        """One line for the CLI: ``sendgrid (customer_id<-customer_id, time<-timestamp, ...)``."""
        parts = [f"{name}<-{column}" for name, column in self.columns.items()]
        if self.default_event_type and "event_type" not in self.columns:
            parts.append(f"event_type={self.default_event_type} (given)")
        return f"{self.profile} ({', '.join(parts)})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"profile": self.profile, "columns": dict(self.columns), "default_event_type": self.default_event_type}


def resolve_mapping(columns: Sequence[str], source: str, default_event_type: str | None = None) -> ColumnMapping:
    """Pick the profile of a file from its columns; raise naming the missing columns otherwise."""
    if default_event_type is not None and default_event_type not in EVENT_TYPES:
        raise DataError(f"event type {default_event_type!r} is unknown", where="--event-type",
                        fix=f"use one of {', '.join(EVENT_TYPES)}")
    by_key = {}
    for column in columns:
        by_key.setdefault(_key(column), column)
    for profile in PROFILES:
        if not all(_key(c) in by_key for c in profile.detect):
            continue
        found = {}
        for name, aliases in profile.columns.items():
            column = next((by_key[_key(a)] for a in aliases if _key(a) in by_key), None)
            if column is not None:
                found[name] = column
        required = ["customer_id", "time"] + ([] if default_event_type else ["event_type"])
        missing = [name for name in required if name not in found]
        if missing and profile.detect:  # a platform export, but not all of it
            raise DataError(f"looks like a {profile.name} export but has no column for {', '.join(missing)}",
                            where=f"{source}, header",
                            fix=f"{profile.description}: expected {_expected(profile, missing)}")
        if missing:
            shown = ", ".join(map(str, columns[:15])) + (", ..." if len(columns) > 15 else "")
            hint = " (or pass --event-type for a file of one event type)" if "event_type" in missing else ""
            raise DataError(f"no column for {', '.join(missing)} (found: {shown})", where=f"{source}, header",
                            fix=f"name the columns {_expected(GENERIC, missing)}{hint}; "
                                "docs/EXPERIMENTS.md lists the platform exports accepted")
        return ColumnMapping(profile.name, found, default_event_type)
    raise AssertionError("the generic profile always matches")  # pragma: no cover


def _expected(profile: ColumnProfile, names: list[str]) -> str:
    return "; ".join(f"{name}: one of {', '.join(profile.columns[name])}" for name in names)


def normalize_type(value: Any) -> str | None:
    """Our event type for a platform's name, ``"skip"`` for known non-outcomes, ``None`` if unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = re.sub(r"[\s\-]+", "_", str(value).strip().lower())
    if "." in text:
        text = text.rsplit(".", 1)[-1]
    if text in _SYNONYMS:
        return _SYNONYMS[text]
    return "skip" if text in SKIPPED_TYPES else None


@dataclass
class NormalizedChunk:
    """A chunk's valid events (DataFrame), bad rows as (position, reason), and skipped types."""

    events: "pd.DataFrame"
    bad: list[tuple[int, str]] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)


def normalize_chunk(chunk: "Chunk", mapping: ColumnMapping) -> NormalizedChunk:
    """Validate and normalize one chunk of raw records into :data:`EVENT_FIELDS` plus ``line`` and ``event_key``."""
    import pandas as pd

    raw = pd.DataFrame({name: [r.get(column) for r in chunk.records] for name, column in mapping.columns.items()})
    n = len(chunk.records)
    ids = [_text(v) for v in raw["customer_id"]] if n else []
    if "event_type" in raw:
        types = [normalize_type(v) for v in raw["event_type"]]
        shown_types = list(raw["event_type"])
    else:
        types, shown_types = [mapping.default_event_type] * n, [mapping.default_event_type] * n
    times = parse_times(list(raw["time"])).tolist() if n else []
    revenues = [_revenue(v) for v in raw["revenue"]] if "revenue" in raw else [None] * n
    event_ids = [_text(v) for v in raw["event_id"]] if "event_id" in raw else [None] * n
    out = NormalizedChunk(events=pd.DataFrame(columns=[*EVENT_FIELDS, "line", "event_key"]),
                          bad=[(position, message) for position, message in chunk.errors])
    keep: list[int] = []
    for i, position in enumerate(chunk.positions):
        reason = _problem(ids[i], types[i], shown_types[i], times[i], raw["time"].iloc[i], revenues[i], mapping)
        if reason == "skip":
            out.skipped[str(shown_types[i]).strip()] += 1
        elif reason:
            out.bad.append((position, reason))
        else:
            keep.append(i)
    events = pd.DataFrame({
        "customer_id": [ids[i] for i in keep], "event_type": [types[i] for i in keep],
        "time": [times[i] for i in keep], "event_id": [event_ids[i] for i in keep],
        "revenue": [revenues[i] if types[i] == CONVERSION else None for i in keep],
        "line": [chunk.positions[i] for i in keep],
    })
    events["event_key"] = [_event_key(*row) for row in
                           zip(events["event_id"], events["customer_id"], events["event_type"], events["time"],
                               events["revenue"])]
    out.events = events
    return out


def _problem(customer_id: str | None, event_type: str | None, shown_type: Any, time: str | None, raw_time: Any,
             revenue: Any, mapping: ColumnMapping) -> str | None:
    """Why a row cannot be used (``"skip"`` for a known non-outcome), or ``None``."""
    if event_type == "skip":
        return "skip"
    if customer_id is None:
        return f"missing customer id (column {mapping.columns['customer_id']})"
    if event_type is None:
        if _text(shown_type) is None:
            return f"missing event type (column {mapping.columns.get('event_type')})"
        return f"unknown event type {str(shown_type).strip()!r} (known: {', '.join(EVENT_TYPES)})"
    if time is None:
        return f"bad time {raw_time!r} (column {mapping.columns['time']}; ISO 8601 or Unix epoch expected)"
    if revenue == "bad":
        return f"bad revenue (column {mapping.columns.get('revenue')}; a number >= 0 expected)"
    return None


def _event_key(event_id: str | None, customer_id: str, event_type: str, time: str, revenue: Any) -> str:
    """The idempotency key: the platform's event id, else a hash of what the event says."""
    if event_id:
        return f"id:{event_id}"
    text = f"{customer_id}|{event_type}|{time}|{'' if revenue is None else repr(float(revenue))}"
    return "h:" + hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _revenue(value: Any) -> float | None | str:
    """A revenue as float, ``None`` when absent, ``"bad"`` when not a number >= 0."""
    text = _text(value)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return "bad"
    return number if math.isfinite(number) and number >= 0 else "bad"
