"""Cells as a user wrote them, cut short: every message and report shows values through here.

A customer file can hold anything in a cell: a 100,000-character paste, control characters, text
made to look like an instruction. Reports and error messages show such values quoted (``repr``
escapes control characters) and cut to :data:`MAX_SHOWN` characters, with the full length said, so
neither a terminal nor the app ever prints a huge or raw cell.
"""

from __future__ import annotations

import numpy as np

MAX_SHOWN = 40  # characters of a cell shown in a report example or an error message
MAX_MESSAGE_PART = 200  # characters of a foreign text (a library's error, a header) in a message


def cut(text: str, limit: int = MAX_MESSAGE_PART) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was when cut."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def show(value: object) -> str:
    """A cell as a user wrote it: 1893 rather than 1893.0 or np.int64(1893), text quoted and cut short."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        if len(value) > MAX_SHOWN:
            return f"{value[:MAX_SHOWN]!r}… ({len(value):,} characters)"
        return repr(value)
    return cut(str(value), MAX_SHOWN)
