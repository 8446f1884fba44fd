"""Times in one form: UTC ISO 8601 with microseconds and a ``Z``, e.g. ``2025-03-01T10:00:00.000000Z``.

One fixed width means that text order is time order, so SQLite compares ``time >= sent_at`` on the
stored strings. Events may come as ISO 8601 (any offset; without one it is read as UTC), as Unix
epoch seconds or milliseconds (SendGrid, Mailgun), or as US ``M/D/YYYY h:mm:ss AM`` (some
marketing-cloud exports, read as UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from genemail.clock import MICROSECONDS_FORMAT, format_utc

if TYPE_CHECKING:
    import pandas as pd

ISO_FORMAT = MICROSECONDS_FORMAT
US_FORMAT = "%m/%d/%Y %I:%M:%S %p"
EPOCH_MS_ABOVE = 1e11  # 1e11 s is the year 5138, 1e11 ms is 1973: larger numbers are milliseconds
EARLIEST, LATEST = "1990-01-01", "2200-01-01"  # outside this, a time is a unit mistake, not a date


def to_iso(moment: datetime) -> str:
    """A timezone-aware datetime in the stored form (naive ones are refused: their zone is unknown)."""
    return format_utc(moment, "microseconds")


def parse_sent_at(value: object) -> str | None:
    """A send log's ``sent_at`` (ISO 8601 with ``Z`` or ``+00:00``) in the stored form; ``None`` if invalid."""
    if not isinstance(value, str):
        return to_iso(value) if isinstance(value, datetime) and value.tzinfo is not None else None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    offset = moment.utcoffset()
    if offset is None or offset.total_seconds() != 0:
        return None
    return to_iso(moment)


def parse_times(values: Sequence[Any]) -> "pd.Series":
    """Event times in the stored form (object Series, ``None`` where a value is not a time)."""
    import pandas as pd

    raw = pd.Series(list(values), dtype=object)
    stamps = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us, UTC]")
    numbers = pd.to_numeric(raw.map(_number_or_none), errors="coerce")
    is_number = numbers.notna()
    if is_number.any():
        ms = numbers[is_number] > EPOCH_MS_ABOVE
        seconds = numbers[is_number].where(~ms, numbers[is_number] / 1000.0)
        parsed = pd.to_datetime(seconds, unit="s", utc=True, errors="coerce")
        stamps[is_number] = parsed.dt.round("us").astype(stamps.dtype)  # float noise is below a microsecond
    text = ~is_number & raw.notna()
    if text.any():
        iso = pd.to_datetime(raw[text], format="ISO8601", utc=True, errors="coerce")
        missing = iso.isna()
        if missing.any():  # a second, explicit format; never a guess between day-first and month-first
            iso[missing] = pd.to_datetime(raw[text][missing], format=US_FORMAT, utc=True, errors="coerce")
        stamps[text] = iso.astype(stamps.dtype)
    in_range = (stamps >= pd.Timestamp(EARLIEST, tz="UTC")) & (stamps < pd.Timestamp(LATEST, tz="UTC"))
    out = stamps.dt.strftime(ISO_FORMAT).astype(object)
    return out.where(in_range, None)


def _number_or_none(value: Any) -> Any:
    """Numbers and numeric text pass; anything else (ISO text, datetimes) becomes None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        text = value.strip()
        return text if text.replace(".", "", 1).isdigit() else None
    return None
