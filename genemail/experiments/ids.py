"""Customer ids as the send log and the platforms write them: one normal form, one matching rule.

Outcomes are joined to the send log on ``customer_id``, so an id must read the same whichever file
it came from. :func:`normalize_id` is used for the send log (every format) and for every events file:

* invisible characters are removed (zero-width space, joiners, byte-order marks, directional marks:
  Unicode category ``Cf``), and surrounding white space;
* a number written with a zero fraction is the integer (``6936.0`` -> ``6936``): a spreadsheet or a
  float column wrote it so, in CSV text as in JSON and Parquet numbers;
* nothing else changes (``00123`` keeps its zeros, case is kept).

Case: :class:`IdMatcher` matches an event's id to the send log exactly, or without case when the send
log's ids are *case-insensitive*: every id is written in one case (no id mixes upper- and lower-case
letters) and no two ids differ only by case. Then ``c-0012`` and ``C-0012`` can only mean the same
customer. When the send log mixes cases within ids (``aB3x``), case is part of the id and is kept.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_ZERO_FRACTION = re.compile(r"^([+-]?\d+)\.0+$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def strip_invisible(text: str) -> str:
    """``text`` without format characters (Unicode ``Cf``: zero-width space, BOM, joiners, bidi marks)."""
    if text.isascii():
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def normalize_id(value: Any) -> str | None:
    """A customer id's normal form (see the module docstring); ``None`` for null, NaN and blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = strip_invisible(str(value)).strip()
    zero = _ZERO_FRACTION.match(text)
    if zero:
        text = zero.group(1)
    return text or None


def looks_like_email(text: str | None) -> bool:
    """Whether an id is an email address (``name@domain.tld``)."""
    return bool(text) and EMAIL.match(text) is not None


def _mixes_case(text: str) -> bool:
    return text != text.lower() and text != text.upper()


@dataclass
class IdMatcher:
    """Maps an event's (normalized) id to the send log's spelling of it, or ``None``."""

    exact: dict[str, str]
    folded: dict[str, str] = field(default_factory=dict)
    case_insensitive: bool = False
    example: str | None = None  # an id of the send log, for messages

    @classmethod
    def from_ids(cls, ids: Iterable[str]) -> "IdMatcher":
        """Build the matcher of a send log's ids (already normalized)."""
        exact = {i: i for i in ids}
        mixed = next((i for i in exact if _mixes_case(i)), None)
        folded = {i.casefold(): i for i in exact}
        insensitive = mixed is None and len(folded) == len(exact)
        return cls(exact, folded if insensitive else {}, insensitive, mixed or next(iter(exact), None))

    def match(self, customer_id: str) -> str | None:
        """The send log's id for ``customer_id`` (case folded only when the send log allows it)."""
        found = self.exact.get(customer_id)
        if found is None and self.case_insensitive:
            found = self.folded.get(customer_id.casefold())
        return found

    def describe(self) -> str:
        """One line for the ingest summary: how ids were matched, and why."""
        if self.case_insensitive:
            return ("ids matched without regard to case (the send log writes every id in one case, "
                    f"e.g. {self.example!r}, so case cannot tell two customers apart)")
        return (f"ids matched exactly, case included (the send log mixes cases within ids, e.g. {self.example!r})")
