"""The current time as text, in each form GenEmail writes: the one place that reads the clock.

Every form is fixed by files and rows already written, so none may change (send logs, manifests
and SQLite rows written by older versions must still parse and compare):

================  ===================================  ===================================================
form              example                              written to
================  ===================================  ===================================================
``seconds``       ``2025-03-01T10:00:00Z``             release manifests (``created_at``), segmenter
                                                       metrics (``trained_at``)
``milliseconds``  ``2025-03-01T10:00:00.123+00:00``    ratings and labels rows, ``schema_migrations``
                                                       (Python's ``isoformat``, hence ``+00:00``)
``microseconds``  ``2025-03-01T10:00:00.123456Z``      send logs (``sent_at``), the results store: one
                                                       fixed width, so text order is time order
``display``       ``2025-03-01 10:00:00 UTC``          shown to people (a release's "loaded at")
================  ===================================  ===================================================

All four are UTC. :func:`folder_stamp` is the exception on purpose: it names run folders in the
machine's local time, as they always were.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Literal

Form = Literal["seconds", "milliseconds", "microseconds", "display"]
FORMS: tuple[str, ...] = ("seconds", "milliseconds", "microseconds", "display")
SECONDS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MICROSECONDS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
DISPLAY_FORMAT = "%Y-%m-%d %H:%M:%S UTC"
FOLDER_FORMAT = "%Y%m%d-%H%M%S"
# "milliseconds" has no strftime pattern: it is datetime.isoformat(timespec="milliseconds").
_PATTERNS: dict[str, str] = {
    "seconds": SECONDS_FORMAT, "microseconds": MICROSECONDS_FORMAT, "display": DISPLAY_FORMAT,
}


def now() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(timezone.utc)


def format_utc(moment: datetime, form: Form = "seconds") -> str:
    """``moment`` (timezone-aware, any zone) as UTC text in ``form`` (see the module's table).

    A naive datetime is refused with :class:`ValueError`: its zone is unknown, and guessing one
    would store a wrong time. So is an unknown ``form``.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: its time zone is unknown")
    utc = moment.astimezone(timezone.utc)
    if form == "milliseconds":
        return utc.isoformat(timespec="milliseconds")
    if form not in _PATTERNS:
        raise ValueError(f"form={form!r} is invalid: pass one of {FORMS}")
    return utc.strftime(_PATTERNS[form])


def utc_now(form: Form = "seconds") -> str:
    """The current UTC time as text in ``form``: ``utc_now()`` is ``2025-03-01T10:00:00Z``."""
    return format_utc(now(), form)


def folder_stamp() -> str:
    """The current *local* time as ``20250301-100000``, for names of run folders (sorts by time)."""
    return time.strftime(FOLDER_FORMAT)
