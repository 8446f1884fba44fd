"""JSON as platforms write it, turned into flat records: arrays, API response pages, webhook envelopes.

One JSON value (a whole ``.json`` document, or one line of an NDJSON file) becomes zero or more
records by :func:`records_of`:

* an object is one record (nested objects become dotted keys: ``user-variables.customer_id``);
* an array holds records or pages (SendGrid's webhook posts an array of events);
* a page is an object whose events sit in a list under a known key (:data:`CONTAINERS`): Mailgun's
  Events API ``{"items": [...], "paging": {...}}``, Klaviyo's JSON:API ``{"data": [...],
  "included": [...]}`` (each event's ``relationships`` are filled in from ``included``, which is where
  the metric name and the profile's ``external_id`` live), Mailchimp's report endpoints
  ``{"emails": [...]}`` / ``{"unsubscribes": [...]}`` / ``{"abuse_reports": [...]}``, e-commerce
  ``{"orders": [...]}``. A page's list key is kept in the field ``_list`` (``unsubscribes``,
  ``abuse_reports``, ``orders`` name their event type);
* Mailgun's webhook body ``{"signature": ..., "event-data": {...}}`` is its ``event-data``;
* Mailchimp's ``activity`` list (one entry per open, click or bounce of one recipient) is one record
  per entry, beside the recipient's fields.

Anything else is refused by the reader with :data:`ACCEPTED_SHAPES` in the message.
"""

from __future__ import annotations

from typing import Any

# List keys of API pages, in the order they are looked for.
CONTAINERS: tuple[str, ...] = ("items", "data", "emails", "unsubscribes", "abuse_reports", "orders", "sent_to",
                               "events", "results", "records")
EXPLODED: tuple[str, ...] = ("activity",)  # per-recipient lists of events (Mailchimp email activity)
LIST_FIELD = "_list"
ACCEPTED_SHAPES = (
    "one JSON object per line (NDJSON); a JSON array of event objects (e.g. SendGrid's webhook batch); or API "
    "response pages, alone, one per line or in an array: Mailgun {\"items\": [...]}, Klaviyo {\"data\": [...], "
    "\"included\": [...]} (request include=metric,profile), Mailchimp {\"emails\": [...]} / {\"unsubscribes\": "
    "[...]} / {\"abuse_reports\": [...]} / {\"orders\": [...]}; a Mailgun webhook body {\"event-data\": {...}}"
)


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested JSON objects become dotted keys (``{"user-variables": {"id": 1}}`` -> ``user-variables.id``)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _page_list(value: dict[str, Any]) -> str | None:
    for key in CONTAINERS:
        items = value.get(key)
        if isinstance(items, list) and all(isinstance(item, dict) for item in items):
            return key
    return None


def _resolve_included(page: dict[str, Any], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON:API: put each related resource's attributes into the relationship that names it."""
    included = {(r.get("type"), r.get("id")): r.get("attributes", {}) for r in page.get("included") or []
                if isinstance(r, dict)}
    if not included:
        return items
    out = []
    for item in items:
        relations = item.get("relationships")
        if isinstance(relations, dict):
            item = {**item, "relationships": {
                name: ({**rel, "data": {**rel["data"], "attributes": included.get(
                    (rel["data"].get("type"), rel["data"].get("id")), {})}}
                       if isinstance(rel, dict) and isinstance(rel.get("data"), dict) else rel)
                for name, rel in relations.items()}}
        out.append(item)
    return out


def _explode(record: dict[str, Any]) -> list[dict[str, Any]]:
    for key in EXPLODED:
        entries = record.get(key)
        if isinstance(entries, list) and entries and all(isinstance(e, dict) for e in entries):
            base = {k: v for k, v in record.items() if k != key}
            return [{**base, key: entry} for entry in entries]
    return [record]


def records_of(value: Any, list_key: str | None = None) -> list[dict[str, Any]] | None:
    """The flat records of one JSON value; ``None`` when it is not a shape that holds records."""
    if isinstance(value, list):
        out: list[dict[str, Any]] = []
        for item in value:
            part = records_of(item, list_key)
            if part is None:
                return None
            out.extend(part)
        return out
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("event-data"), dict):  # Mailgun webhook body
        return records_of(value["event-data"], list_key)
    key = _page_list(value)
    if key is not None:
        items = _resolve_included(value, value[key]) if "included" in value else value[key]
        return [r for item in items for r in (records_of(item, key) or [])]
    records = [flatten(r) for r in _explode(value)]
    if list_key is not None:
        for r in records:
            r.setdefault(LIST_FIELD, list_key)
    return records
