"""Outcome events from an email platform: column mappings, event-type names, row validation, dedup keys.

An event is ``customer_id``, ``event_type`` (one of :data:`EVENT_TYPES`), ``time``, and optionally
``event_id`` and ``revenue``. Platforms name these columns differently, so a file's columns are
matched against :data:`PROFILES` (names compared without case, spaces or underscores), and the
profile that matched is reported. A platform's own event names are mapped by :func:`normalize_type`;
names that are known but are not outcomes (``processed``, ``deferred``, ``sent``, Klaviyo's
``Ordered Product`` line items, ...) are counted as skipped; anything else is a bad row.

Revenue is read like the customer table's numbers (:func:`genemail.data.numbers.parse_numbers`:
``$58.20``, ``12,50``, ``12.50 USD``). A conversion whose amount cannot be read is kept, and its amount
counted as missing, by line: the purchase happened even when its amount is garbled.

Dedup keys (:func:`event_key`): an event with a platform id is ``id:<profile>:<type>:<id>``: ids are
unique only within one platform's files of one event type (per-type files often number their rows
1...N). An event without an id is ``h:<hash of customer|type|time|revenue>``, the time in the stored
form (UTC, microseconds: as precise as the file gives it). Rows without an id are never collapsed by
their missing id; two rows equal in all four are one event.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from genemail.data.numbers import parse_numbers
from genemail.data.text import show
from genemail.errors import DataError
from genemail.experiments.ids import normalize_id
from genemail.experiments.jsonshapes import LIST_FIELD
from genemail.experiments.times import parse_times

if TYPE_CHECKING:
    from genemail.experiments.tables import Chunk

DELIVERED, OPEN, CLICK, CONVERSION, UNSUBSCRIBE, BOUNCE, COMPLAINT = (
    "delivered", "open", "click", "conversion", "unsubscribe", "bounce", "complaint")
EVENT_TYPES: tuple[str, ...] = (DELIVERED, OPEN, CLICK, CONVERSION, UNSUBSCRIBE, BOUNCE, COMPLAINT)
EVENT_FIELDS: tuple[str, ...] = ("customer_id", "event_type", "time", "event_id", "revenue")
SKIP = "skip"
# What platforms call our event types (after lower-casing, spaces/hyphens -> "_", and keeping the
# last part of dotted names such as Braze's ``users.messages.email.Open``).
_SYNONYMS: dict[str, str] = {
    **{name: DELIVERED for name in ("delivered", "delivery", "received", "received_email", "delivered_email")},
    **{name: OPEN for name in ("open", "opens", "opened", "opened_email", "email_open", "unique_open")},
    **{name: CLICK for name in ("click", "clicks", "clicked", "clicked_email", "email_click", "unique_click")},
    **{name: CONVERSION for name in ("conversion", "conversions", "converted", "purchase", "purchases", "order",
                                     "orders", "placed_order")},
    **{name: UNSUBSCRIBE for name in ("unsubscribe", "unsubscribes", "unsubscribed", "unsub", "unsubs",
                                      "group_unsubscribe", "unsubscribed_from_list",
                                      "unsubscribed_from_email_marketing")},
    **{name: BOUNCE for name in ("bounce", "bounces", "bounced", "bounced_email", "hard_bounce", "hardbounce",
                                 "softbounce", "soft_bounce")},
    **{name: COMPLAINT for name in ("complaint", "complaints", "complained", "spamreport", "spam_report", "spam",
                                    "markasspam", "marked_as_spam", "marked_email_as_spam", "abuse", "abuse_report",
                                    "abuse_reports")},
}
# Known platform events that are not outcomes of the email: counted, never stored, never "bad".
SKIPPED_TYPES: frozenset[str] = frozenset({
    "processed", "deferred", "dropped", "dropped_email", "accepted", "rejected", "sent", "send", "queued",
    "stored", "group_resubscribe", "resubscribe", "sent_to", "list_member_uploaded",
    # Klaviyo: an order's line items ("Ordered Product") and later order states are counted by "Placed Order"
    "ordered_product", "fulfilled_order", "cancelled_order", "refunded_order", "viewed_product",
    "started_checkout", "active_on_site", "subscribed_to_list",
})
MAX_LISTED = 100  # bad rows listed by line (all are counted)


def column_key(name: str) -> str:
    """How column names are compared: lower case, no spaces or underscores, no byte-order mark."""
    return re.sub(r"[\s_]", "", str(name).lstrip("\ufeff").lower())


@dataclass(frozen=True)
class ColumnProfile:
    """One platform's export: the columns that identify it and its names for each event field.

    ``detect`` lists alternatives: the profile matches when all columns of one alternative are
    present. ``columns`` names, per field, the accepted columns in order of preference; with
    ``coalesce`` a row whose first present column is empty takes the next (a file of several page
    kinds). ``qualifier`` is a column that refines the event type (Mailgun's ``severity``).
    ``id_field`` says how the platform carries the customer id, for messages.
    """

    name: str
    description: str
    detect: tuple[tuple[str, ...], ...]
    columns: dict[str, tuple[str, ...]]
    id_field: str
    qualifier: tuple[str, ...] = ()
    coalesce: bool = False


_FIELDS_ORDER = ("customer_id", "event_type", "time", "event_id", "revenue")
GENERIC = ColumnProfile(
    "generic", "generic names (customer_id, event_type, time, event_id, revenue) and common variants", (),
    {"customer_id": ("customer_id", "customer", "user_id", "external_id", "external_user_id", "contact_id"),
     "event_type": ("event_type", "event", "action", "metric_name", "metric", "type"),
     "time": ("time", "timestamp", "event_time", "occurred_at", "datetime", "created_at", "date"),
     "event_id": ("event_id", "id"),
     "revenue": ("revenue", "value", "$value", "amount", "order_value", "order_total", "price")},
    "export the platform's customer-id field as a column named customer_id",
)
PROFILES: tuple[ColumnProfile, ...] = (
    ColumnProfile("sendgrid", "SendGrid Event Webhook (JSON array or NDJSON), customer_id sent as a custom argument",
                  (("sg_event_id",),),
                  {"customer_id": ("customer_id", "custom_args.customer_id", "unique_args.customer_id"),
                   "event_type": ("event",), "time": ("timestamp",), "event_id": ("sg_event_id",), "revenue": ()},
                  "send customer_id as a custom argument (custom_args) with every message"),
    ColumnProfile("mailgun", "Mailgun Events API pages or webhooks, customer_id sent as a user variable (v:customer_id)",
                  (("user-variables.customer_id",), ("log-level", "recipient")),
                  {"customer_id": ("user-variables.customer_id",), "event_type": ("event",), "time": ("timestamp",),
                   "event_id": ("id",), "revenue": ()},
                  "send the user variable v:customer_id with every message", qualifier=("severity",)),
    ColumnProfile("klaviyo", "Klaviyo Get Events pages (JSON:API, include=metric,profile); the profile's external_id "
                  "is the customer id", (("attributes.datetime",), ("relationships.metric.data.id",)),
                  {"customer_id": ("relationships.profile.data.attributes.external_id",),
                   "event_type": ("relationships.metric.data.attributes.name",),
                   "time": ("attributes.datetime", "attributes.timestamp"), "event_id": ("id",),
                   "revenue": ("attributes.event_properties.$value",)},
                  "set each profile's external_id to the customer id and request the events with "
                  "include=metric,profile"),
    ColumnProfile("mailchimp", "Mailchimp report pages (email-activity, unsubscribed, abuse-reports) and e-commerce "
                  "orders; customer id from a customer_id field or merge field, or the order's customer.id",
                  (("activity.action",), ("email_id", LIST_FIELD), ("customer.id", "order_total")),
                  {"customer_id": ("customer_id", "merge_fields.customer_id", "merge_fields.custid", "customer.id"),
                   "event_type": ("activity.action", LIST_FIELD),
                   "time": ("activity.timestamp", "timestamp", "date", "processed_at_foreign"),
                   "event_id": ("id",), "revenue": ("order_total",)},
                  "keep the customer id in a merge field (CUSTID) and add it to each email-activity entry as "
                  "customer_id (email activity names recipients only by email address)", coalesce=True),
    ColumnProfile("braze", "Braze Currents events (NDJSON, CSV or Parquet from the Avro files); external_user_id is "
                  "the customer id; the event type from an event_type column, the event_type=... folder, or "
                  "--event-type", (("external_user_id", "user_id", "time"),),
                  {"customer_id": ("external_user_id",), "event_type": ("event_type", "event"), "time": ("time",),
                   "event_id": ("id",), "revenue": ("price",)},
                  "set each user's external_id to the customer id"),
    ColumnProfile("sfmc", "Salesforce Marketing Cloud tracking extract or data view (SubscriberKey = customer id)",
                  (("subscriberkey",),),
                  {"customer_id": ("subscriberkey",), "event_type": ("eventtype",), "time": ("eventdate",),
                   "event_id": (), "revenue": ()},
                  "set SubscriberKey to the customer id"),
    GENERIC,
)
PROFILE_BY_NAME: dict[str, ColumnProfile] = {p.name: p for p in PROFILES}


@dataclass(frozen=True)
class ColumnMapping:
    """The profile used and ``{event field: file column}`` (``event_type`` may come from a default).

    ``fallbacks`` are further present columns per field, read where the first is empty (profiles with
    ``coalesce``); ``qualifier`` is the column refining the event type, if present.
    """

    profile: str
    columns: dict[str, str]
    default_event_type: str | None = None
    default_source: str = "--event-type"
    fallbacks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    qualifier: str | None = None

    def describe(self) -> str:
        """One line for the CLI: ``sendgrid (customer_id<-customer_id, time<-timestamp, ...)``."""
        parts = [f"{name}<-{'|'.join((column, *self.fallbacks.get(name, ())))}" for name, column in self.columns.items()]
        if self.default_event_type and "event_type" not in self.columns:
            parts.append(f"event_type={self.default_event_type} ({self.default_source})")
        if self.qualifier:
            parts.append(f"qualifier<-{self.qualifier}")
        return f"{self.profile} ({', '.join(parts)})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"profile": self.profile, "columns": dict(self.columns), "default_event_type": self.default_event_type,
                "fallbacks": {k: list(v) for k, v in self.fallbacks.items()}, "qualifier": self.qualifier}


def resolve_mapping(columns: Sequence[str], source: str, default_event_type: str | None = None, *,
                    default_source: str = "--event-type", shapes_hint: str | None = None) -> ColumnMapping:
    """Pick the profile of a file from its columns; raise naming the missing columns otherwise.

    ``shapes_hint`` (the accepted JSON shapes) is added to the message of a JSON file that matched
    no columns: usually a JSON shape that holds no records.
    """
    if default_event_type is not None and normalize_type(default_event_type) not in (*EVENT_TYPES, SKIP):
        raise DataError(f"event type {default_event_type!r} is unknown", where=default_source,
                        fix=f"use one of {', '.join(EVENT_TYPES)}")
    default = default_event_type or None  # normalized per row, so a non-outcome type is counted as skipped
    by_key: dict[str, str] = {}
    for column in columns:
        by_key.setdefault(column_key(column), column)
    for profile in PROFILES:
        if profile.detect and not any(all(column_key(c) in by_key for c in alt) for alt in profile.detect):
            continue
        found, fallbacks = {}, {}
        for name, aliases in profile.columns.items():
            present = [by_key[column_key(a)] for a in aliases if column_key(a) in by_key]
            if present:
                found[name] = present[0]
                if profile.coalesce and len(present) > 1:
                    fallbacks[name] = tuple(present[1:])
        required = ["customer_id", "time"] + ([] if default else ["event_type"])
        missing = [name for name in required if name not in found]
        if missing and profile.detect:  # a platform export, but not all of it
            raise DataError(f"looks like a {profile.name} export but has no column for {', '.join(missing)}",
                            where=f"{source}, header",
                            fix=f"{profile.description}: expected {_expected(profile, missing)}"
                                + ("" if "customer_id" not in missing else f"; {profile.id_field}"))
        if missing:
            shown = ", ".join(map(str, columns[:15])) + (", ..." if len(columns) > 15 else "")
            hint = " (or pass --event-type for a file of one event type)" if "event_type" in missing else ""
            shapes = f"; a JSON file must hold {shapes_hint}" if shapes_hint else ""
            raise DataError(f"no column for {', '.join(missing)} (found: {shown or 'none'})",
                            where=f"{source}, header",
                            fix=f"name the columns {_expected(GENERIC, missing)}{hint}; "
                                f"docs/EXPERIMENTS.md lists the platform exports accepted{shapes}")
        qualifier = next((by_key[column_key(q)] for q in profile.qualifier if column_key(q) in by_key), None)
        return ColumnMapping(profile.name, found, default, default_source, fallbacks, qualifier)
    raise AssertionError("the generic profile always matches")  # pragma: no cover


def _expected(profile: ColumnProfile, names: list[str]) -> str:
    return "; ".join(f"{name}: one of {', '.join(profile.columns[name])}" for name in names)


def _canonical(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = re.sub(r"[\s\-]+", "_", str(value).strip().lower())
    if "." in text:
        text = text.rsplit(".", 1)[-1]
    return text or None


def normalize_type(value: Any, qualifier: Any = None) -> str | None:
    """Our event type for a platform's name, ``"skip"`` for known non-outcomes, ``None`` if unknown.

    Mailgun's ``failed`` is a bounce when its ``severity`` (the ``qualifier``) is ``permanent``, and
    is skipped when ``temporary`` (Mailgun retries it).
    """
    text = _canonical(value)
    if text is None:
        return None
    if text == "failed":
        return BOUNCE if _canonical(qualifier) == "permanent" else SKIP
    if text in _SYNONYMS:
        return _SYNONYMS[text]
    return SKIP if text in SKIPPED_TYPES else None


def skipped_name(value: Any, qualifier: Any = None) -> str:
    """How a skipped event is counted: its name, with Mailgun's severity for ``failed``."""
    name = str(value).strip()
    if _canonical(value) == "failed":
        return f"{name} ({_canonical(qualifier) or 'no severity'})"
    return name


@dataclass
class NormalizedChunk:
    """A chunk's valid events as columns, bad rows as (position, reason), skipped types, and
    conversions whose amount is missing as (position, reason). ``samples`` are raw records."""

    columns: dict[str, list[Any]]
    bad: list[tuple[int, str]] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    revenue_missing: list[tuple[int, str]] = field(default_factory=list)
    bad_values: dict[str, list[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.columns["customer_id"])


def _values(records: list[dict[str, Any]], column: str | None, fallbacks: tuple[str, ...] = ()) -> list[Any]:
    if column is None:
        return [None] * len(records)
    out = [r.get(column) for r in records]
    for other in fallbacks:
        out = [v if not _blank(v) else r.get(other) for v, r in zip(out, records)]
    return out


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str)
                                                                                 and not value.strip())


def normalize_chunk(chunk: "Chunk", mapping: ColumnMapping) -> NormalizedChunk:
    """Validate and normalize one chunk of raw records into :data:`EVENT_FIELDS` plus ``line``."""
    records, n = chunk.records, len(chunk.records)
    cols, fb = mapping.columns, mapping.fallbacks

    def get(name: str) -> list[Any]:
        return _values(records, cols.get(name), fb.get(name, ()))

    ids = [normalize_id(v) for v in get("customer_id")]
    raw_types = get("event_type") if "event_type" in cols else [mapping.default_event_type] * n
    qualifiers = _values(records, mapping.qualifier)
    types = [normalize_type(v, q) for v, q in zip(raw_types, qualifiers)]
    raw_times = get("time")
    times = parse_times(raw_times).tolist() if n else []
    revenues, revenue_problems = parse_revenues(get("revenue")) if "revenue" in cols else ([None] * n, [None] * n)
    event_ids = [normalize_id(v) for v in get("event_id")]
    out = NormalizedChunk(columns={name: [] for name in (*EVENT_FIELDS, "line")},
                          bad=list(chunk.errors))
    for i, position in enumerate(chunk.positions):
        if types[i] == SKIP:
            out.skipped[skipped_name(raw_types[i], qualifiers[i])] += 1
            continue
        reason = _problem(ids[i], types[i], raw_types[i], times[i], raw_times[i], mapping)
        if reason:
            out.bad.append((position, reason))
            out.bad_values.setdefault(reason.split(" (")[0].split(" '")[0], []).append(
                raw_times[i] if reason.startswith("bad time") else raw_types[i])
            continue
        revenue = None
        if types[i] == CONVERSION:
            revenue = revenues[i]
            if revenue_problems[i]:
                out.revenue_missing.append((position, revenue_problems[i]))
        for name, value in (("customer_id", ids[i]), ("event_type", types[i]), ("time", times[i]),
                            ("event_id", event_ids[i]), ("revenue", revenue), ("line", position)):
            out.columns[name].append(value)
    return out


def _problem(customer_id: str | None, event_type: str | None, shown_type: Any, time: str | None, raw_time: Any,
             mapping: ColumnMapping) -> str | None:
    """Why a row cannot be used, or ``None``."""
    if customer_id is None:
        return f"missing customer id (column {mapping.columns['customer_id']})"
    if event_type is None:
        if _blank(shown_type):
            return f"missing event type (column {mapping.columns.get('event_type')})"
        return f"unknown event type {show(str(shown_type).strip())} (column {mapping.columns.get('event_type')}; " \
               f"known: {', '.join(EVENT_TYPES)})"
    if time is None:
        return (f"bad time {show(raw_time)} (column {mapping.columns['time']}; a date and time in ISO 8601, "
                "Unix epoch seconds or milliseconds, or M/D/YYYY h:mm:ss AM expected)")
    return None


def parse_revenues(values: Sequence[Any]) -> tuple[list[float | None], list[str | None]]:
    """Amounts as floats (``None`` when absent or unreadable) and, per value, why it was not read.

    Text is read by the customer loader's number rules (currency signs and codes, thousands
    separators, decimal commas); a negative, infinite or unreadable amount is missing, with a reason.
    """
    import pandas as pd

    amounts: list[float | None] = [None] * len(values)
    problems: list[str | None] = [None] * len(values)
    text_at: list[int] = []
    for i, value in enumerate(values):
        if _blank(value):
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            amounts[i] = float(value)
        else:
            text_at.append(i)
    if text_at:
        texts = pd.Series([str(values[i]).strip() for i in text_at], dtype="string")
        parsed, _ = parse_numbers(texts)
        for i, number in zip(text_at, parsed.tolist()):
            if number is None or (isinstance(number, float) and math.isnan(number)):
                problems[i] = f"revenue {show(str(values[i]).strip())} is not an amount: counted as missing"
            else:
                amounts[i] = float(number)
    for i, amount in enumerate(amounts):
        if amount is not None and not (math.isfinite(amount) and amount >= 0):
            problems[i] = f"revenue {show(values[i])} is not an amount >= 0: counted as missing"
            amounts[i] = None
    return amounts, problems


def event_key(scope: str | None, event_id: str | None, customer_id: str, event_type: str, time: str,
              revenue: float | None) -> str:
    """The idempotency key (see the module docstring); ``scope`` is the profile, ``None`` to ignore ids."""
    if event_id is not None and scope is not None:
        return f"id:{scope}:{event_type}:{event_id}"
    return content_key(customer_id, event_type, time, revenue)


def content_key(customer_id: str, event_type: str, time: str, revenue: float | None) -> str:
    """``h:`` + a hash of what the event says (missing revenue and NaN read the same)."""
    amount = "" if revenue is None or revenue != revenue else repr(float(revenue))
    text = f"{customer_id}|{event_type}|{time}|{amount}"
    return "h:" + hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()
